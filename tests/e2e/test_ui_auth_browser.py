"""The web UI with auth required, in headless Chromium: sign in, promote and roll back.

The pages' forms send JSON to the REST API with the session's CSRF token in
``X-CSRF-Token``; a viewer sees the buttons disabled, with a note.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlstage.config import Settings
from mlstage.governance.sql_store import GovernanceStore
from mlstage.server.testing import start_server
from mlstage.store.database import Database
from tests.browser import open_page, screenshot
from tests.e2e.ui_data import Seeded

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture
def secured_url(ui_settings: Settings, seeded: Seeded) -> Iterator[str]:
    db = Database(ui_settings.tracking_uri)
    gov = GovernanceStore(db)
    for role in ("viewer", "maintainer"):
        gov.create_user(role, role, PASSWORD)
    base_url, stop = start_server(ui_settings.with_overrides(auth_required=True))
    yield base_url
    stop()
    db.dispose()


def sign_in(page: Any, base_url: str, path: str, name: str) -> None:
    page.goto(base_url + path)  # signed out: the browser is sent to the sign-in form
    assert page.url.startswith(base_url + "/login?next="), page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("#login-button")
    assert page.url == base_url + path, page.content()[:2000]
    assert page.locator("#current-user").inner_text() == name


def test_a_maintainer_signs_in_promotes_and_rolls_back(
    browser: Any, seeded: Seeded, secured_url: str, tmp_path: Path
) -> None:
    path = f"/deployments/{seeded.deployment}"
    with open_page(browser) as watch:
        page = watch.page
        page.goto(secured_url + "/login")
        screenshot(page, tmp_path, "ui-login")
        sign_in(page, secured_url, path, "maintainer")
        with page.expect_navigation():
            page.click("#promote-button")
        assert page.locator("#strategy").inner_text() == "single"
        with page.expect_navigation():
            page.click("#rollback-button")
        assert "rolled back" in page.locator("#history").inner_text()
        assert "maintainer" in page.locator("#history").inner_text()
        screenshot(page, tmp_path, "ui-deployment-signed-in")
        assert watch.dialogs == [] and watch.page_errors == [] and watch.csp_violations() == []


def test_a_viewer_sees_the_buttons_disabled(
    browser: Any, seeded: Seeded, secured_url: str, tmp_path: Path
) -> None:
    with open_page(browser) as watch:
        page = watch.page
        sign_in(page, secured_url, f"/deployments/{seeded.deployment}", "viewer")
        assert page.locator("#not-allowed").is_visible()
        assert page.locator("#promote-button").is_disabled()
        assert page.locator("#rollback-button").is_disabled()
        screenshot(page, tmp_path, "ui-deployment-viewer")
