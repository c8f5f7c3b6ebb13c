"""Who may call a prediction service: the platform's users and tokens, checked where they live.

With ``auth_required`` off (local use) every caller is anonymous, as on the
platform server. With it on, the service accepts the same credentials as
the platform (``Authorization: Bearer mls_...`` or a UI session cookie) and
checks them against the governance records of its tracking URI: straight
in the database for ``sqlite://`` and ``postgresql://`` URIs, or by asking
the platform server (``GET /api/v1/users/me`` with the caller's own
credentials) for ``http(s)://`` URIs. Either way a checked credential is
cached for a few seconds (``mlstage.server.auth.CACHE_SECONDS``), so
revocation takes effect within that lag and a busy client costs one lookup
every few seconds, not one a request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from mlstage.errors import Unavailable
from mlstage.governance.entities import Identity

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mlstage.config import Settings

WHOAMI_PATH = "/api/v1/users/me"


class RemoteIdentities:
    """Identifies callers by asking the platform server who their credentials belong to.

    Implements the two lookups ``TokenAuthenticator`` needs. The server
    applies the token's scope and the user's state (disabled, expired,
    revoked), so the answer's role is the role to act with.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout)

    def identify_token(self, secret: str) -> Identity | None:
        return self._whoami({"Authorization": f"Bearer {secret}"})

    def identify_session(self, cookie: str) -> Identity | None:
        from mlstage.governance.sessions import COOKIE_NAME

        if not cookie.replace("-", "").replace("_", "").isalnum():
            return None  # session cookies are URL-safe base64; anything else is not one
        return self._whoami({"Cookie": f"{COOKIE_NAME}={cookie}"})

    def _whoami(self, headers: dict[str, str]) -> Identity | None:
        try:
            answer = self._client.get(self.base_url + WHOAMI_PATH, headers=headers)
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"cannot check credentials with the platform server at {self.base_url}: {exc}"
            ) from None
        if answer.status_code in (401, 403):
            return None
        if answer.status_code != 200:
            raise Unavailable(
                f"the platform server at {self.base_url} answered {answer.status_code} "
                "to a credential check"
            )
        body: dict[str, Any] = answer.json()
        if not body.get("authenticated"):
            return None
        return Identity(user_id=0, name=str(body["name"]), role=body.get("role"))


def install_serving_auth(app: FastAPI, settings: Settings) -> None:
    """Choose the service's authenticator from ``auth_required`` and the tracking URI."""
    from mlstage.server.auth import TokenAuthenticator, anonymous

    app.state.enforce_roles = settings.auth_required
    if not settings.auth_required:
        app.state.authenticator = anonymous
        return
    uri = settings.tracking_uri
    if uri.split(":", 1)[0].lower() in ("http", "https"):
        remote = RemoteIdentities(uri, settings.http_timeout)
        app.state.authenticator = TokenAuthenticator(lambda: remote)
        return
    from mlstage.governance.sql_store import GovernanceStore
    from mlstage.store.database import get_database

    governance = GovernanceStore(get_database(uri, busy_timeout=settings.sqlite_busy_timeout))
    app.state.authenticator = TokenAuthenticator(lambda: governance)
