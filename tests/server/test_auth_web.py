"""The browser side: sign-in, the session cookie, CSRF, Host and Origin checks (S14, S15).

Also the helpers the UI calls (``current_user``, ``csrf_token``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request

from mlstage.governance import sessions
from mlstage.server import create_app
from mlstage.server.auth import require_principal
from tests.server.auth_support import PASSWORD, Secured, client, secure_settings, secured

__all__ = ["client", "secured"]  # fixtures

EVIL = "http://attacker.example"


def sign_in(client: httpx.Client, name: str = "maintainer") -> str:
    """Sign in with the form; return the CSRF token."""
    response = client.post("/login", data={"name": name, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


def test_signing_in_sets_a_strict_http_only_cookie(secured: Secured, client: httpx.Client) -> None:
    response = client.post("/login", data={"name": "viewer", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE_NAME}=")
    for flag in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP here; HTTPS adds Secure
    me = client.get("/api/v1/users/me").json()
    assert (me["name"], me["role"], me["via"]) == ("viewer", "viewer", "session")
    assert me["csrf_token"] == response.json()["csrf_token"]


def test_a_cookie_over_https_is_secure(
    secured: Secured, client_for: Callable[..., httpx.Client]
) -> None:
    from fastapi.testclient import TestClient

    https = TestClient(secured.app, base_url="https://testserver")
    response = https.post("/login", data={"name": "viewer", "password": PASSWORD})
    assert "secure" in response.headers["set-cookie"].lower()


def test_wrong_passwords_and_unknown_users_look_the_same(
    secured: Secured, client: httpx.Client
) -> None:
    wrong = client.post("/login", data={"name": "viewer", "password": "not the password"})
    unknown = client.post("/login", data={"name": "nobody", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "set-cookie" not in wrong.headers


def test_state_changes_by_cookie_need_the_csrf_token(
    secured: Secured, client: httpx.Client
) -> None:
    csrf = sign_in(client)
    body = {"name": "by-cookie"}
    assert client.post("/api/v1/experiments", json=body).status_code == 403
    bad = client.post("/api/v1/experiments", json=body, headers={"X-CSRF-Token": "guess"})
    assert bad.status_code == 403
    odd = client.post("/api/v1/experiments", json=body, headers={"X-CSRF-Token": b"\xe9\xff"})
    assert odd.status_code == 403  # never a 500
    assert client.get("/api/v1/experiments").status_code == 200  # reads need none
    made = client.post("/api/v1/experiments", json=body, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    audit = secured.gov.audit_entries(action="experiment.create")
    assert [(e.actor, e.object_id) for e in audit] == [("maintainer", "by-cookie")]


def test_logging_out_ends_the_session(secured: Secured, client: httpx.Client) -> None:
    csrf = sign_in(client)
    assert client.post("/logout").status_code == 403  # CSRF applies here too
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/experiments").status_code == 401


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/experiments", "text/plain"),
        ("/api/v1/experiments", "application/x-www-form-urlencoded"),
        ("/api/v1/tokens", "application/x-www-form-urlencoded"),
        ("/api/v1/tokens", "multipart/form-data; boundary=x"),
        ("/setup", "text/plain"),
        ("/api/v1/runs/search", "text/plain;charset=utf-8"),
    ],
)
def test_form_like_bodies_are_refused_with_the_cookie(
    secured: Secured, client: httpx.Client, path: str, content_type: str
) -> None:
    csrf = sign_in(client)
    before = len(secured.gov.list_tokens())
    response = client.post(
        path,
        content=b'{"name": "x", "scope": "read"}',
        headers={"Content-Type": content_type, "X-CSRF-Token": csrf},
    )
    assert response.status_code == 415, response.text
    assert len(secured.gov.list_tokens()) == before


def test_a_cross_origin_post_with_the_cookie_is_refused(
    secured: Secured, client: httpx.Client
) -> None:
    csrf = sign_in(client)
    for headers in (
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://testserver.attacker.example"},
        {"Origin": "http://["},
    ):
        response = client.post(
            "/api/v1/tokens", json={"scope": "read"}, headers={**headers, "X-CSRF-Token": csrf}
        )
        assert response.status_code == 403, headers
    same = client.post(
        "/api/v1/tokens",
        json={"scope": "read"},
        headers={"Origin": "http://testserver", "X-CSRF-Token": csrf},
    )
    assert same.status_code == 201


@pytest.mark.parametrize("auth_required", [True, False])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "attacker.example"},
        {"Host": "attacker.example:5000"},
        {"Origin": EVIL},
        {"Sec-Fetch-Site": "cross-site"},
    ],
    ids=["host", "host-port", "origin", "sec-fetch-site"],
)
def test_foreign_hosts_and_origins_get_403_on_every_method(
    tmp_path: Path,
    sqlite_url: str,
    client_for: Callable[[FastAPI], httpx.Client],
    auth_required: bool,
    method: str,
    headers: dict[str, str],
) -> None:
    app = create_app(secure_settings(tmp_path, sqlite_url, auth_required=auth_required))
    api = client_for(app)
    response = api.request(
        method, "/api/v1/experiments/1", headers={**headers, "User-Agent": "curl/8.0"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"


def test_probes_answer_any_host_and_links_from_elsewhere_open(
    tmp_path: Path, sqlite_url: str, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    api = client_for(create_app(secure_settings(tmp_path, sqlite_url, auth_required=False)))
    assert api.get("/health", headers={"Host": "10.0.0.7:5000"}).status_code == 200
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert api.get("/api/v1/experiments", headers=link).status_code == 200
    assert api.get("/api/v1/experiments", headers={"Host": "[::1]:5000"}).status_code == 403


def test_a_wildcard_allows_any_host(
    tmp_path: Path, sqlite_url: str, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    settings = secure_settings(tmp_path, sqlite_url, auth_required=False, allowed_hosts=("*",))
    api = client_for(create_app(settings))
    assert api.get("/api/v1/experiments", headers={"Host": "mlstage.corp"}).status_code == 200


def test_the_ui_helpers_see_the_signed_in_user(secured: Secured, client: httpx.Client) -> None:
    router = APIRouter(dependencies=[Depends(require_principal)])

    @router.get("/ui-probe")
    def probe(request: Request) -> dict[str, str | None]:
        user = sessions.current_user(request)
        return {"name": user.name, "role": user.role, "csrf": sessions.csrf_token(request)}

    secured.app.include_router(router)
    csrf = sign_in(client, "contributor")
    assert client.get("/ui-probe").json() == {
        "name": "contributor",
        "role": "contributor",
        "csrf": csrf,
    }
    token = client.get("/ui-probe", headers=secured.headers("viewer")).json()
    assert token == {"name": "viewer", "role": "viewer", "csrf": ""}


def test_the_login_form_redirects_to_a_local_next_page_only(
    secured: Secured, client: httpx.Client
) -> None:
    form = {"name": "viewer", "password": PASSWORD}
    done = client.post("/login", data={**form, "next": "/runs?page=2"}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, "/runs?page=2")
    assert sessions.COOKIE_NAME in done.headers["set-cookie"]
    for foreign in ("//attacker.example/", "https://attacker.example/", "/\\attacker.example"):
        away = client.post("/login", data={**form, "next": foreign}, follow_redirects=False)
        assert away.headers["location"] == "/"
    wrong = client.post(
        "/login",
        data={**form, "password": "not the password", "next": "/models"},
        follow_redirects=False,
    )
    assert (wrong.status_code, wrong.headers["location"]) == (
        303,
        "/login?error=failed&next=%2Fmodels",
    )
    assert "set-cookie" not in wrong.headers


def test_a_huge_or_nested_login_body_is_a_quick_400(secured: Secured, client: httpx.Client) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    response = client.post("/login", content=deep, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    long = client.post("/login", json={"name": "viewer", "password": "x" * 5000})
    assert long.status_code == 400
