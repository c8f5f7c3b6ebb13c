"""The data and pipeline pages in headless Chromium, with script payloads in the data.

Datasets, a dataset's statistics, a drift page (and its report downloaded,
never opened), a validation report and a failed pipeline run's graph: each
with a screenshot kept in test-artifacts/, and no script from the data run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlstage.config import Settings
from mlstage.server.testing import start_server
from tests.browser import PageWatch, open_page, screenshot
from tests.e2e.ui_data import XSS
from tests.e2e.ui_stage2 import DATASET, Stage2, seed_stage2

pytestmark = pytest.mark.browser

PAYLOAD = " ".join(XSS)


@pytest.fixture
def stage2(ui_settings: Settings, tmp_path: Path) -> Stage2:
    return seed_stage2(ui_settings, tmp_path, PAYLOAD)


@pytest.fixture
def server(stage2: Stage2, ui_settings: Settings) -> Iterator[str]:
    base_url, stop = start_server(ui_settings)
    yield base_url
    stop()


def no_script_ran(watch: PageWatch) -> None:
    page = watch.page
    assert page.locator("img[src=x], svg[onload]").count() == 0
    assert page.evaluate("document.querySelectorAll('[onerror],[onload]').length") == 0
    assert watch.dialogs == []
    assert watch.page_errors == []
    assert watch.csp_violations() == []


def test_datasets_drift_and_a_pipeline_run_graph(
    browser: Any, stage2: Stage2, server: str, tmp_path: Path
) -> None:
    with open_page(browser) as watch:
        page = watch.page
        page.goto(server + "/datasets")
        screenshot(page, tmp_path, "ui-datasets")
        page.get_by_role("link", name=DATASET, exact=True).click()
        page.wait_for_selector("#statistics")
        assert page.locator("#statistics tbody tr").count() == 4
        assert page.locator("#statistics svg.spark").count() == 4
        assert XSS[0] in page.locator("#statistics").inner_text()  # a category, as text
        screenshot(page, tmp_path, "ui-dataset")
        no_script_ran(watch)

        page.click("#drift-link")
        page.wait_for_selector("#drift-table")
        assert page.locator("#verdict").inner_text() == "drifted"
        drifted = page.locator("#drift-table tr.drifted th").all_inner_texts()
        assert "charges" in drifted and "plan" in drifted
        assert page.locator(".drift-chart svg rect.bar-current").count() > 0
        screenshot(page, tmp_path, "ui-drift")
        with page.expect_download() as download:
            page.click("#download-report")
        assert download.value.suggested_filename == f"drift-{DATASET}-1-2.html"
        assert page.url.endswith("/drift?base=1&current=2")  # saved, not opened
        no_script_ran(watch)

        page.goto(f"{server}/runs/{stage2.validation_run}")
        page.click("#validation-link")
        page.wait_for_selector("#anomalies")
        assert "out_of_domain" in page.locator("#anomalies").inner_text()
        screenshot(page, tmp_path, "ui-validation")
        no_script_ran(watch)

        page.goto(server + "/pipelines")
        screenshot(page, tmp_path, "ui-pipelines")
        page.get_by_role("link", name="ui_broken", exact=True).first.click()
        page.locator("#runs a").first.click()
        page.wait_for_selector("#run-graph")
        assert page.locator("#run-graph .node").count() == 2
        assert page.locator("#run-graph .node-failed").count() == 1
        assert page.locator("#run-graph .node-failed rect").evaluate(
            "r => getComputedStyle(r).fill"
        ) != page.locator("#run-graph .node-succeeded rect").evaluate(
            "r => getComputedStyle(r).fill"
        )  # coloured by status, from the stylesheet
        assert XSS[0] in page.locator("#run-error").inner_text()
        page.locator("#run-graph .node-failed").click()  # jumps to the step's row
        assert page.url.endswith("#step-1")
        screenshot(page, tmp_path, "ui-pipeline-run")
        no_script_ran(watch)
