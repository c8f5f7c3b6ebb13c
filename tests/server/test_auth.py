"""Authentication on the platform server: the route walk in both modes, tokens, bootstrap.

S07 (every live route, both modes), S08 (token variants), S11 (no hashes,
no self-promotion, scope ≤ the creator's), S12 (bootstrap), S13 (weak
passwords, throttling).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from mlstage import config
from mlstage.server import create_app
from mlstage.server.auth import PUBLIC_PATHS, live_routes, unprotected_routes
from tests.server.auth_support import (
    DAY,
    PASSWORD,
    Secured,
    client,
    secure_settings,
    secured,
)

__all__ = ["client", "secured"]  # fixtures

FILL = {
    "run_id": "0" * 32,
    "experiment_id": "1",
    "name": "m",
    "version": "1",
    "alias": "champion",
    "path": "x.txt",
    "token_id": "abc",
    "file_id": "0" * 32,
}


def concrete(path: str) -> str:
    for key, value in FILL.items():
        path = path.replace(f"{{{key}:path}}", value).replace(f"{{{key}}}", value)
    return path


def every_route(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every live route that is not public."""
    found = []
    for route in live_routes(app):
        path = getattr(route, "path", "")
        if path in PUBLIC_PATHS:
            continue
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                found.append((method, path))
    return found


# -- S07: the live route table, with and without auth --------------------------------------


@pytest.mark.parametrize("auth_required", [False, True])
def test_every_live_route_is_guarded_in_both_modes(
    tmp_path: Path, sqlite_url: str, auth_required: bool
) -> None:
    settings = secure_settings(tmp_path, sqlite_url, auth_required=auth_required)
    app = create_app(settings)
    assert unprotected_routes(app) == []
    assert app.state.enforce_roles is auth_required


def test_without_credentials_every_route_but_the_public_ones_is_401(
    secured: Secured, client: httpx.Client
) -> None:
    routes = every_route(secured.app)
    assert len(routes) > 40
    for method, path in routes:
        response = client.request(method, concrete(path), json={})
        assert response.status_code == 401, (method, path, response.text)
        if response.headers["content-type"].startswith("application/json"):  # pages are HTML
            assert response.json()["error"]["code"] == "UNAUTHORIZED"
            assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_while_auth_is_off_nothing_asks_for_credentials(
    api: httpx.Client, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    assert api.get("/api/v1/experiments").status_code == 200
    me = api.get("/api/v1/users/me").json()
    assert (me["name"], me["via"], me["authenticated"]) == ("anonymous", "anonymous", False)
    # no open sign-up through a server that checks nobody (S12): the CLI manages users there
    admin = {"name": "eve", "role": "admin", "password": PASSWORD}
    refused = api.post("/api/v1/users", json=admin)
    assert refused.status_code == 403 and "mlstage users" in refused.json()["error"]["message"]
    assert api.post("/api/v1/tokens", json={"user": "eve", "scope": "admin"}).status_code == 403
    assert api.patch("/api/v1/users/eve", json={"role": "admin"}).status_code == 403
    setup = {"name": "eve", "password": PASSWORD, "secret": ""}
    assert api.post("/setup", json=setup).status_code == 403
    assert api.get("/api/v1/users").json() == {"users": []}


# -- S08: token variants --------------------------------------------------------------------


def _expired_token(secured: Secured) -> str:
    from mlstage.governance.sql_store import GovernanceStore

    past = GovernanceStore(secured.gov.db, clock=lambda: int(time.time() * 1000) - 2 * DAY)
    return past.create_token("admin", "admin", DAY).secret


@pytest.mark.parametrize(
    "variant",
    [
        "expired",
        "unknown",
        "alg-none-jwt",
        "empty-bearer",
        "basic",
        "garbage",
        "revoked",
        "disabled-user",
        "deleted-user",
        "query-string",
        "query-string-and-header",
    ],
)
def test_bad_tokens_get_401_never_500(secured: Secured, client: httpx.Client, variant: str) -> None:
    url = "/api/v1/experiments"
    good = secured.tokens["admin"]
    headers: dict[str, str] = {}
    params: dict[str, str] = {}
    if variant == "expired":
        headers["Authorization"] = f"Bearer {_expired_token(secured)}"
    elif variant == "unknown":
        headers["Authorization"] = "Bearer mls_" + "A" * 43
    elif variant == "alg-none-jwt":
        headers["Authorization"] = "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
    elif variant == "empty-bearer":
        headers["Authorization"] = "Bearer "
    elif variant == "basic":
        headers["Authorization"] = "Basic YWRtaW46YWRtaW4="
    elif variant == "garbage":
        headers["Authorization"] = "Bearer " + "x!" * 5000
    elif variant == "revoked":
        token_id = secured.gov.list_tokens("admin")[0].token_id
        secured.gov.revoke_token(token_id)
        headers["Authorization"] = f"Bearer {good}"
    elif variant == "disabled-user":
        secured.gov.update_user("admin", disabled=True)
        headers["Authorization"] = f"Bearer {good}"
    elif variant == "deleted-user":
        secured.gov.db.write(lambda c: c.execute(text("DELETE FROM users WHERE name='admin'")))
        headers["Authorization"] = f"Bearer {good}"
    elif variant == "query-string":
        params["token"] = good
    else:
        params["access_token"] = good
        headers["Authorization"] = f"Bearer {good}"
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert good not in response.text


def test_a_valid_token_works_and_its_revocation_bites_within_seconds(
    secured: Secured, client: httpx.Client
) -> None:
    secured.app.state.authenticator.ttl = 0.2  # another process revokes: the cache lags ≤ TTL
    headers = secured.headers("viewer")
    assert client.get("/api/v1/experiments", headers=headers).status_code == 200
    token_id = secured.gov.list_tokens("viewer")[0].token_id
    secured.gov.revoke_token(token_id)
    time.sleep(0.25)
    assert client.get("/api/v1/experiments", headers=headers).status_code == 401


def test_revoking_through_the_api_bites_at_once(secured: Secured, client: httpx.Client) -> None:
    made = client.post(
        "/api/v1/tokens", json={"scope": "read"}, headers=secured.headers("contributor")
    )
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["secret"], made.json()["token"]["token_id"]
    mine = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/experiments", headers=mine).status_code == 200
    revoked = client.delete(f"/api/v1/tokens/{token_id}", headers=mine)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/experiments", headers=mine).status_code == 401


# -- S11: users and tokens through the API ---------------------------------------------------


def test_no_answer_carries_a_hash_or_a_stored_secret(
    secured: Secured, client: httpx.Client
) -> None:
    admin = secured.headers("admin")
    bodies = [
        client.get("/api/v1/users", headers=admin).text,
        client.get("/api/v1/tokens", headers=admin).text,
        client.get("/api/v1/audit", headers=admin).text,
        client.post(
            "/api/v1/users",
            json={"name": "eve", "role": "viewer", "password": PASSWORD},
            headers=admin,
        ).text,
    ]
    for body in bodies:
        assert "scrypt" not in body and "token_hash" not in body and PASSWORD not in body
        assert not any(secret in body for secret in secured.tokens.values())


@pytest.mark.parametrize(
    "body",
    [{"role": "admin"}, {"is_admin": True}, {"password_hash": "x"}, {"role": "admin", "x": 1}],
)
def test_nobody_promotes_themselves(
    secured: Secured, client: httpx.Client, body: dict[str, Any]
) -> None:
    for name in ("me", "viewer"):
        response = client.patch(
            f"/api/v1/users/{name}", json=body, headers=secured.headers("viewer")
        )
        assert response.status_code in (400, 403), response.text
    assert secured.gov.get_user("viewer").role == "viewer"


def test_unknown_user_fields_are_refused_even_for_admins(
    secured: Secured, client: httpx.Client
) -> None:
    response = client.patch(
        "/api/v1/users/viewer", json={"is_admin": True}, headers=secured.headers("admin")
    )
    assert response.status_code == 400
    assert client.put(
        "/api/v1/users/viewer/password",
        json={"password": "x" * 20},
        headers=secured.headers("admin"),
    ).status_code in (404, 405)


@pytest.mark.parametrize(
    ("role", "scope", "user"),
    [
        ("viewer", "write", None),
        ("contributor", "admin", None),
        ("maintainer", "admin", None),
        ("maintainer", "read", "viewer"),  # another user's token
    ],
)
def test_a_token_never_exceeds_its_creator(
    secured: Secured, client: httpx.Client, role: str, scope: str, user: str | None
) -> None:
    before = len(secured.gov.list_tokens())
    body = {"scope": scope} | ({"user": user} if user else {})
    response = client.post("/api/v1/tokens", json=body, headers=secured.headers(role))
    assert response.status_code in (400, 403), response.text
    assert len(secured.gov.list_tokens()) == before


def test_a_read_token_of_an_admin_acts_as_a_viewer(secured: Secured, client: httpx.Client) -> None:
    made = client.post(
        "/api/v1/tokens", json={"scope": "read"}, headers=secured.headers("admin")
    ).json()
    narrow = {"Authorization": f"Bearer {made['secret']}"}
    assert client.get("/api/v1/users/me", headers=narrow).json()["role"] == "viewer"
    assert client.get("/api/v1/users", headers=narrow).status_code == 403
    widen = client.post("/api/v1/tokens", json={"scope": "admin"}, headers=narrow)
    assert widen.status_code == 400


# -- S12: bootstrap ------------------------------------------------------------------------


def test_a_fresh_server_makes_its_first_admin_only_with_the_bootstrap_secret(
    tmp_path: Path,
    sqlite_url: str,
    client_for: Callable[[FastAPI], httpx.Client],
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = create_app(secure_settings(tmp_path, sqlite_url))
    secret = app.state.bootstrap_secret
    assert secret and secret in capsys.readouterr().err
    api = client_for(app)
    first = {"name": "root", "password": PASSWORD}
    assert api.post("/setup", json={**first, "secret": "guess"}).status_code == 403
    assert api.post("/signup", json=first).status_code in (401, 404, 405)
    assert api.post("/api/v1/users", json={**first, "role": "admin"}).status_code == 401
    made = api.post("/setup", json={**first, "secret": secret})
    assert made.status_code == 201 and made.json()["role"] == "admin"
    again = api.post("/setup", json={**first, "name": "root2", "secret": secret})
    assert again.status_code == 403
    assert api.post("/login", json=first).status_code == 200


def test_no_bootstrap_secret_once_a_user_exists(secured: Secured) -> None:
    assert secured.app.state.bootstrap_secret == ""


# -- S13: credentials -------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["", "a", "password", "short-pass1"])
def test_weak_passwords_are_400(secured: Secured, client: httpx.Client, password: str) -> None:
    response = client.post(
        "/api/v1/users",
        json={"name": "weak", "role": "viewer", "password": password},
        headers=secured.headers("admin"),
    )
    assert response.status_code == 400
    assert "password" in response.json()["error"]["message"]


def test_repeated_wrong_logins_get_429_with_a_wait(secured: Secured, client: httpx.Client) -> None:
    wrong = {"name": "viewer", "password": "wrong password!"}
    codes = [client.post("/login", json=wrong).status_code for _ in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    locked = client.post("/login", json={"name": "viewer", "password": PASSWORD})
    assert locked.status_code == 429  # even the right password waits
    assert int(locked.headers["retry-after"]) >= 1
    assert locked.json()["error"]["code"] == "TOO_MANY_REQUESTS"


def test_credential_stuffing_across_names_is_throttled_by_address(
    secured: Secured, client: httpx.Client
) -> None:
    codes = [
        client.post("/login", json={"name": f"user{i}", "password": "x" * 12}).status_code
        for i in range(50)
    ]
    assert codes[:20] == [401] * 20
    assert set(codes[20:]) == {429}


def test_the_settings_reach_the_environment_of_workers(tmp_path: Path) -> None:
    from mlstage.server.serve import settings_environment

    settings = config.load_settings(start=tmp_path, allowed_hosts=("a.example", "b.example"))
    env = settings_environment(settings)
    assert env["MLSTAGE_ALLOWED_HOSTS"] == "a.example,b.example"
    rebuilt = config.load_settings(start=tmp_path, allowed_hosts=env["MLSTAGE_ALLOWED_HOSTS"])
    assert rebuilt.allowed_hosts == ("a.example", "b.example")


def test_an_operator_chosen_bootstrap_secret_is_used_and_not_printed(
    tmp_path: Path,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLSTAGE_BOOTSTRAP_SECRET", "chosen-by-the-operator")
    app = create_app(secure_settings(tmp_path, sqlite_url))
    assert app.state.bootstrap_secret == "chosen-by-the-operator"
    assert "chosen-by-the-operator" not in capsys.readouterr().err
