"""The web UI's routes on a real app over SQLite, without a browser.

Status codes, security headers, escaping of every user string, paging,
filter errors, the Plotly route and the route-protection check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mlstage.config import Settings
from mlstage.server.auth import PUBLIC_PATHS, is_protected, live_routes
from mlstage.server.ui import build_router
from mlstage.server.ui.assets import plotly_js
from mlstage.server.ui.render import CONTENT_SECURITY_POLICY
from mlstage.server.ui.runs_table import entity
from mlstage.tracking.sql_store import SqlTrackingStore
from tests.e2e.ui_data import XSS, Seeded, seed

PAYLOAD = " ".join(XSS)


@pytest.fixture
def ui(app: FastAPI, client_for: Callable[[FastAPI], httpx.Client]) -> httpx.Client:
    return client_for(app)


@pytest.fixture
def hostile(server_settings: Settings) -> Seeded:
    return seed(server_settings, PAYLOAD)


@pytest.fixture
def store(app: FastAPI) -> SqlTrackingStore:
    return app.state.stores.tracking()  # type: ignore[no-any-return]


def pages(seeded: Seeded) -> list[str]:
    one, two = seeded.run_ids[:2]
    return [
        "/",
        "/experiments",
        f"/experiments/{seeded.experiment_id}",
        f"/runs/{one}",
        f"/compare?runs={one}&runs={two}",
        "/models",
        f"/models/{seeded.model}",
        f"/models/{seeded.model}/versions/2",
        "/deployments",
        f"/deployments/{seeded.deployment}",
    ]


def test_every_page_escapes_user_text_and_sends_the_security_headers(
    ui: httpx.Client, hostile: Seeded
) -> None:
    for path in pages(hostile):
        response = ui.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        for payload in XSS:
            assert payload not in response.text, path
        if path != "/deployments":  # the list shows no free text
            assert "&lt;img src=x onerror=alert(1)&gt;" in response.text, path
        assert " style=" not in response.text, path  # the CSP would refuse it
        assert "<script>" not in response.text, path  # only <script src=...>


def test_the_policy_has_no_unsafe_source_and_forbids_framing() -> None:
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "style-src 'self'" in CONTENT_SECURITY_POLICY


def test_the_model_card_is_sandboxed(ui: httpx.Client, hostile: Seeded) -> None:
    response = ui.get(f"/models/{hostile.model}/versions/1/card")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy and "script" not in policy
    assert XSS[0] not in response.text and "&lt;img src=x" in response.text
    version = ui.get(f"/models/{hostile.model}/versions/1").text
    assert re.search(r'<iframe[^>]*sandbox=""', version)


def test_a_bad_filter_shows_the_parser_message(ui: httpx.Client, store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("e")
    response = ui.get(
        f"/experiments/{experiment.experiment_id}", params={"filter": "metrics.auc > <b>"}
    )
    assert response.status_code == 400
    assert "invalid filter at position" in response.text
    assert "&lt;b&gt;" in response.text and "<b>" not in response.text


def test_runs_are_paged_with_tokens(ui: httpx.Client, store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("paged")
    for i in range(30):
        store.create_run(experiment.experiment_id, f"r{i:02d}")
    url = f"/experiments/{experiment.experiment_id}"
    first = ui.get(url, params={"size": "25", "order": "attributes.run_name ASC"}).text
    assert first.count('class="name"') == 25 and "r00" in first and "r25" not in first
    next_link = re.search(r'id="next-page" href="([^"]+)"', first)
    assert next_link is not None
    second = ui.get(next_link.group(1).replace("&amp;", "&")).text
    assert second.count('class="name"') == 5 and "r29" in second and "Page 2" in second
    assert 'id="previous-page"' in second and 'id="next-page"' not in second
    assert ui.get(url, params={"page": "garbage!"}).status_code == 400
    assert ui.get(url, params={"size": "7"}).status_code == 400


def test_column_picker_shows_the_chosen_columns(ui: httpx.Client, store: SqlTrackingStore) -> None:
    experiment = store.create_experiment("cols")
    run = store.create_run(experiment.experiment_id, "r")
    store.log_batch(run.run_id, params={"alpha": "0.5", "beta": "2"})
    url = f"/experiments/{experiment.experiment_id}"
    both = ui.get(url).text
    assert ">alpha<" in both and ">beta<" in both
    only_beta = ui.get(url, params=[("col", ""), ("col", "params.beta")]).text
    assert "<th aria-sort" in only_beta
    assert ">alpha<" not in only_beta.split('id="runs"')[1]
    assert ">beta<" in only_beta.split('id="runs"')[1]


def test_missing_objects_are_html_error_pages(ui: httpx.Client) -> None:
    for path, status in [
        ("/runs/0123456789abcdef0123456789abcdef", 404),
        ("/experiments/999", 404),
        ("/models/nope", 404),
        ("/deployments/nope", 404),
        ("/compare?runs=a", 400),
    ]:
        response = ui.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_plotly_comes_from_the_installed_package_with_long_caching(ui: httpx.Client) -> None:
    path, version = plotly_js()
    response = ui.get(f"/ui/static/plotly-{version}.min.js")
    assert response.status_code == 200
    assert response.content == path.read_bytes()
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert ui.get("/ui/static/plotly-0.0.1.min.js").status_code == 404
    assert ui.get("/ui/static/secret.py").status_code == 404
    css = ui.get("/ui/static/ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (
        ui.get("/ui/static/ui.css", headers={"If-None-Match": css.headers["etag"]}).status_code
        == 304
    )


def test_every_ui_page_asks_for_the_caller(app: FastAPI) -> None:
    """Only the sign-in page and the static files are public (they must load signed out)."""
    alone = FastAPI()
    alone.include_router(build_router())
    ui_paths = {getattr(r, "path", "") for r in live_routes(alone)} - {"/openapi.json", "/docs"}
    ui_paths -= {"/docs/oauth2-redirect", "/redoc"}
    routes = [r for r in live_routes(app) if getattr(r, "path", None) in ui_paths]
    assert len(routes) >= len(ui_paths)
    open_paths = {r.path for r in routes if not is_protected(r)}
    assert open_paths == {"/login", "/ui/static/{name}", "/ui/static/plotly-{version}.min.js"}
    assert open_paths <= PUBLIC_PATHS


def test_artifact_links_download_and_never_render(
    ui: httpx.Client, store: SqlTrackingStore
) -> None:
    experiment = store.create_experiment("files")
    run = store.create_run(experiment.experiment_id, "r")
    store.log_artifact(run.run_id, "report/page.html", b"<script>alert(1)</script>")
    top = ui.get(f"/runs/{run.run_id}").text
    assert "?path=report" in top
    inner = ui.get(f"/runs/{run.run_id}", params={"path": "report"}).text
    link = re.search(r'href="(/api/v1/runs/[^"]+)" download', inner)
    assert link is not None
    response = ui.get(link.group(1))
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "application/octet-stream"


def test_artifact_previews_show_text_tables_and_real_images_only(
    ui: httpx.Client, store: SqlTrackingStore
) -> None:
    import base64
    import io

    import pandas as pd

    experiment = store.create_experiment("previews")
    run_id = store.create_run(experiment.experiment_id, "r").run_id
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    parquet = io.BytesIO()
    pd.DataFrame({"a": range(80), "b": ["<b>x</b>"] * 80}).to_parquet(parquet)
    files = {
        "page.html": b"<script>alert(1)</script>",
        "data.csv": b"name,score\n<img src=x onerror=alert(1)>,0.5\n",
        "data.parquet": parquet.getvalue(),
        "plot.png": png,
        "fake.png": b"<svg onload=alert(1)>",
        "model.bin": b"\x00\x01",
    }
    for path, data in files.items():
        store.log_artifact(run_id, path, data)

    def shown(path: str) -> str:
        answer = ui.get(f"/runs/{run_id}/preview", params={"path": path})
        assert answer.status_code == 200, answer.text
        return answer.text

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown("page.html")
    csv_page = shown("data.csv")
    assert "<th>score</th>" in csv_page and "&lt;img src=x onerror=alert(1)&gt;" in csv_page
    table = shown("data.parquet")
    assert table.count("<tr>") == 51  # the header and the first 50 rows
    assert "&lt;b&gt;x&lt;/b&gt;" in table and "Only the beginning is shown" in table
    assert 'src="data:image/png;base64,' in shown("plot.png")
    fake = shown("fake.png")
    assert "not an image" in fake and "data:image" not in fake and "<svg" not in fake
    assert "No preview" in shown("model.bin")
    assert ui.get(f"/runs/{run_id}/preview", params={"path": "../x"}).status_code == 400
    assert ui.get(f"/runs/{run_id}/preview", params={"path": "nope.txt"}).status_code == 404


def test_keys_the_grammar_cannot_write_plainly_are_quoted() -> None:
    assert entity("metrics", "auc") == "metrics.auc"
    assert entity("metrics", "val loss") == "metrics.`val loss`"
    assert entity("params", "a`b") == 'params."a`b"'
    assert entity("params", 'a`b"c') is None


def test_the_sign_in_page_posts_to_login_and_keeps_next_local(ui: httpx.Client) -> None:
    page = ui.get("/login", params={"next": "/runs/x?a=<b>", "error": "failed"}).text
    assert 'action="/login"' in page and 'name="password"' in page
    assert 'value="/runs/x?a=&lt;b&gt;"' in page
    assert "Wrong name or password" in page
    assert 'value="/"' in ui.get("/login", params={"next": "//evil.example/"}).text


def test_with_auth_on_pages_ask_to_sign_in_and_assets_stay_public(
    server_settings: Settings, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    from mlstage.server.app import create_app

    client = client_for(create_app(server_settings.with_overrides(auth_required=True)))
    response = client.get("/experiments?x=1")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/login?next=%2Fexperiments%3Fx%3D1"' in response.text
    # a browser opening the page goes straight to the sign-in form, and back after
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    sent = client.get("/experiments?x=1", headers=browser, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == "/login?next=%2Fexperiments%3Fx%3D1"
    assert client.get("/login").status_code == 200
    assert client.get("/ui/static/ui.css").status_code == 200


def test_action_buttons_are_disabled_for_viewers_who_may_not_use_them(
    app: FastAPI, ui: httpx.Client, hostile: Seeded
) -> None:
    url = f"/deployments/{hostile.deployment}"
    assert 'id="not-allowed"' not in ui.get(url).text
    app.state.ui_authorize = lambda request, method, route: not route.endswith("/promote")
    page = ui.get(url).text
    assert 'id="not-allowed"' in page
    assert re.search(r'id="promote-button"\s+disabled', page)
    assert 'name="csrf_token"' in page


def test_with_auth_on_the_role_table_decides_the_buttons(server_settings: Settings) -> None:
    from types import SimpleNamespace

    from mlstage.server.auth import Principal
    from mlstage.server.ui.hooks import allowed

    def request(role: str | None) -> Any:
        settings = server_settings.with_overrides(auth_required=True)
        app = SimpleNamespace(state=SimpleNamespace(settings=settings))
        principal = Principal(name="u", authenticated=role is not None, role=role)
        return SimpleNamespace(app=app, state=SimpleNamespace(principal=principal))

    route = "/api/v1/deployments/{name}/promote"
    assert not allowed(request("viewer"), "POST", route)
    assert not allowed(request(None), "POST", route)
    assert allowed(request("maintainer"), "POST", route)
    assert allowed(request("viewer"), "GET", "/api/v1/deployments/{name}")
