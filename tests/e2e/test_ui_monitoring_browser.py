"""The monitoring pages in headless Chromium, over real checks with script payloads in the data.

From the deployment page to its monitoring page: every chart is drawn by
Plotly (drift per feature with its threshold line, prediction drift,
performance with label coverage, latency and throughput), the alerts and
retrainings are listed, and the page did nothing a user would not see: no
dialog, no uncaught error, no console error, no Content-Security-Policy
violation. Screenshots are kept in test-artifacts/.
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
from tests.e2e.ui_monitoring import DEPLOYMENT, Monitored, seed_monitoring

pytestmark = pytest.mark.browser

PAYLOAD = " ".join(XSS)


@pytest.fixture
def monitored(ui_settings: Settings, tmp_path: Path) -> Monitored:
    return seed_monitoring(ui_settings, tmp_path, PAYLOAD)


@pytest.fixture
def server(monitored: Monitored, ui_settings: Settings) -> Iterator[str]:
    base_url, stop = start_server(ui_settings)
    yield base_url
    stop()


def clean(watch: PageWatch) -> None:
    page = watch.page
    assert page.evaluate("document.querySelectorAll('[onerror],[onload]').length") == 0
    assert watch.dialogs == []
    assert watch.page_errors == []
    assert watch.csp_violations() == []
    assert watch.console_errors == []


def drawn(page: Any, expected: int) -> None:
    """Wait until Plotly drew each of the ``expected`` charts (the page's CSP forbids eval)."""
    charts = page.locator("[data-chart-spec]")
    assert charts.count() == expected
    for i in range(expected):
        charts.nth(i).locator(".main-svg").first.wait_for()


def test_a_deployment_monitoring_page_draws_every_chart(
    browser: Any, monitored: Monitored, server: str, tmp_path: Path
) -> None:
    with open_page(browser) as watch:
        page = watch.page
        page.goto(f"{server}/deployments/{DEPLOYMENT}")
        page.click("#monitoring-link")
        page.wait_for_selector("#latest")
        charts = page.locator("[data-chart-spec]")
        expected = charts.count()
        assert expected == 1 + 3 + 1 + 1 + 3  # share, 3 features, prediction, performance, health
        drawn(page, expected)
        assert page.locator("[data-empty]").count() == 0  # every chart has points
        drifted = page.locator("#m0-f1")  # the payload feature: escaped, as typed
        assert XSS[0] in drifted.locator(".gtitle").text_content()
        assert drifted.locator(".shapelayer path").count() == 1  # its threshold line
        performance = page.locator("#m2-performance")
        assert performance.locator(".barlayer .point").count() > 0  # label coverage bars
        legend = performance.locator(".legendtext").all_text_contents()
        assert legend == ["accuracy", "f1", "label coverage"]
        assert page.locator("#alerts tbody tr").count() == monitored.alerts
        assert page.locator("#retrainings > tbody > tr").count() == 2
        assert XSS[0] in page.locator("#retrainings").inner_text()
        screenshot(page, tmp_path, "ui-monitor")
        clean(watch)

        page.select_option("#range", "1d")
        page.click("#range-form button")
        drawn(page, expected)
        assert page.url.endswith("?range=1d")
        clean(watch)

        page.get_by_role("link", name="Monitoring", exact=True).first.click()
        page.wait_for_selector("#monitored")
        assert page.locator("#monitored tbody tr").count() == 2  # auth is off: every project
        screenshot(page, tmp_path, "ui-monitoring")
        clean(watch)
