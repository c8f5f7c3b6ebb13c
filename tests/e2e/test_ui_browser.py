"""The web UI in headless Chromium: browse, filter, compare, open a card, view a deployment.

Each test keeps a screenshot in test-artifacts/ and checks the page did
nothing a user would not see: no dialog, no uncaught error, no
Content-Security-Policy violation (Plotly included).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mlstage
from mlstage import config
from tests.browser import PageWatch, open_page, screenshot
from tests.e2e.ui_data import XSS, Seeded

pytestmark = pytest.mark.browser


def clean(watch: PageWatch, expected: str = "") -> None:
    """No dialog, uncaught error, CSP violation or console error (but ``expected``)."""
    assert watch.dialogs == []
    assert watch.page_errors == []
    assert watch.csp_violations() == []
    assert [m for m in watch.console_errors if not expected or expected not in m] == []


def test_browse_experiments_runs_and_a_run_with_charts(
    browser: Any, seeded: Seeded, ui_url: str, tmp_path: Path
) -> None:
    with open_page(browser) as watch:
        page = watch.page
        page.goto(ui_url + "/")
        screenshot(page, tmp_path, "ui-experiments")
        page.get_by_role("link", name="churn").click()
        page.wait_for_selector("#runs")
        assert page.locator("#runs tbody tr").count() == 4
        screenshot(page, tmp_path, "ui-runs")
        page.get_by_role("link", name="rf-3").click()
        page.wait_for_selector("#chart-grid .js-plotly-plot .main-svg")
        assert page.locator("#chart-grid .chart").count() == 2
        assert page.locator("#params").inner_text().count("n_estimators") == 1
        screenshot(page, tmp_path, "ui-run")
        clean(watch)


def test_sort_and_filter_runs_with_the_grammar(
    browser: Any, seeded: Seeded, ui_url: str, tmp_path: Path
) -> None:
    with open_page(browser) as watch:
        page = watch.page
        page.goto(f"{ui_url}/experiments/{seeded.experiment_id}")
        page.get_by_role("link", name="auc").click()  # descending first
        assert page.locator("#runs tbody tr td.name").first.inner_text() == "rf-3"
        page.fill("#filter", "metrics.auc > 0.82 and params.n_estimators != '250'")
        page.click("#apply-filter")
        names = page.locator("#runs tbody td.name").all_inner_texts()
        assert names == ["rf-2", "rf-1"]
        screenshot(page, tmp_path, "ui-runs-filtered")
        page.fill("#filter", "metrics.auc >")
        page.click("#apply-filter")
        assert "compares with a number" in page.locator("#filter-error").inner_text()
        screenshot(page, tmp_path, "ui-runs-filter-error")
        clean(watch, expected="status of 400")  # the bad filter's page is a 400


def test_compare_two_runs(browser: Any, seeded: Seeded, ui_url: str, tmp_path: Path) -> None:
    with open_page(browser) as watch:
        page = watch.page
        page.goto(f"{ui_url}/experiments/{seeded.experiment_id}")
        assert page.locator("#compare-button").is_disabled()
        page.get_by_label("select rf-0").check()
        page.get_by_label("select rf-2").check()
        page.click("#compare-button")
        page.wait_for_selector("#chart-grid .js-plotly-plot .main-svg")
        assert page.locator("#param-diff tr.diff").count() == 1  # n_estimators differs
        traces = page.locator("#chart-grid .chart").first.locator(".scatterlayer .trace")
        assert traces.count() == 2
        screenshot(page, tmp_path, "ui-compare")
        clean(watch)


def test_model_version_and_its_card(
    browser: Any, seeded: Seeded, ui_url: str, tmp_path: Path
) -> None:
    with open_page(browser) as watch:
        page = watch.page
        page.goto(ui_url + "/models")
        screenshot(page, tmp_path, "ui-models")
        page.get_by_role("link", name="churn", exact=True).click()
        assert page.locator("#versions tbody tr").count() == 2
        screenshot(page, tmp_path, "ui-model")
        page.get_by_role("link", name="Version 1").click()
        assert page.locator("#lineage").inner_text() == seeded.run_ids[0]
        card = page.frame_locator("#model-card")
        card.locator("h1").wait_for()
        assert "Model card: churn version 1" in card.locator("h1").inner_text()
        page.locator("#model-card").scroll_into_view_if_needed()
        screenshot(page, tmp_path, "ui-model-version")
        clean(watch)


def test_deployment_promote_and_rollback(
    browser: Any, seeded: Seeded, ui_url: str, tmp_path: Path
) -> None:
    with open_page(browser) as watch:
        page = watch.page
        page.goto(ui_url + "/deployments")
        page.get_by_role("link", name="churn-prod").click()
        assert page.locator("#strategy").inner_text() == "canary"
        screenshot(page, tmp_path, "ui-deployment")
        page.fill("#promote-form input[name=reason]", "v2 looks good")
        with page.expect_navigation():
            page.click("#promote-button")
        assert page.locator("#strategy").inner_text() == "single"
        page.fill("#rollback-form input[name=reason]", "too slow")
        with page.expect_navigation():
            page.click("#rollback-button")
        history = page.locator("#history").inner_text()
        assert "rolled back" in history and "too slow" in history
        screenshot(page, tmp_path, "ui-deployment-rolled-back")
        clean(watch)


def test_stored_script_payloads_stay_text(
    browser: Any, hostile: Seeded, ui_url: str, tmp_path: Path
) -> None:
    """Run names, tags, params, experiment and model descriptions hold <img>/<svg> payloads."""
    pages = [
        "/experiments",
        f"/experiments/{hostile.experiment_id}",
        f"/runs/{hostile.run_ids[0]}",
        f"/compare?runs={hostile.run_ids[0]}&runs={hostile.run_ids[1]}",
        "/models",
        f"/models/{hostile.model}",
        f"/models/{hostile.model}/versions/2",
        f"/deployments/{hostile.deployment}",
    ]
    with open_page(browser) as watch:
        page = watch.page
        for path in pages:
            page.goto(ui_url + path)
            page.wait_for_load_state("networkidle")
            assert page.locator("img[src=x], svg[onload]").count() == 0, path
            assert XSS[0] in page.locator("main").inner_text(), path
        page.goto(f"{ui_url}{pages[3]}")  # compare: run names become chart legends
        page.wait_for_selector("#chart-grid .legendtext")
        assert XSS[0] in page.locator("#chart-grid .legendtext").first.text_content()
        assert page.locator("img[src=x], svg[onload]").count() == 0
        page.goto(f"{ui_url}/runs/{hostile.run_ids[0]}")
        page.wait_for_selector("#chart-grid .js-plotly-plot .main-svg")
        screenshot(page, tmp_path, "ui-xss-run")
        clean(watch)


def test_rows_below_the_first_screen_show_with_and_without_javascript(
    browser: Any, ui_settings: Any, ui_url: str, tmp_path: Path
) -> None:
    config.set_settings(ui_settings)
    experiment_id = mlstage.set_experiment("many").experiment_id
    for i in range(40):
        with mlstage.start_run(name=f"run-{i:02d}"):
            mlstage.log_metric("auc", i / 40)
    url = f"{ui_url}/experiments/{experiment_id}?order=metrics.auc+DESC"
    for javascript in (True, False):
        with open_page(browser, java_script_enabled=javascript) as watch:
            page = watch.page
            page.goto(url)
            rows = page.locator("#runs tbody tr")
            assert rows.count() == 40
            last = rows.nth(39)
            last.wait_for(state="visible")
            assert last.locator("td.name").inner_text() == "run-00"
            assert rows.nth(0).locator("td.name").inner_text() == "run-39"
            screenshot(page, tmp_path, f"ui-runs-40-{'js' if javascript else 'nojs'}")
            clean(watch)
