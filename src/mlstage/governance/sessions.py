"""Browser sessions for the web UI: the cookie, the CSRF token, and who is signed in.

Helpers for templates and UI routes (all take the current ``Request``):

- ``current_user(request)``: the signed-in ``Principal`` (anonymous while auth is off).
- ``csrf_token(request)``: the session's CSRF token, to put in every form
  (``<input type="hidden" name="csrf_token">``) and in the ``X-CSRF-Token``
  header of every state-changing ``fetch``. Empty while auth is off.
- ``set_session_cookie`` / ``clear_session_cookie``: what ``POST /login`` and
  ``POST /logout`` do to the response.

The cookie is HttpOnly, SameSite=Strict, Path=/, and Secure on HTTPS; it
holds a random secret whose sha256 is the stored session id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from mlstage.server.auth import Principal

COOKIE_NAME = "mlstage_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
COOKIE_MAX_AGE = 12 * 3600


def current_user(request: Request) -> Principal:
    """The principal of this request, as ``require_principal`` found it (anonymous if none)."""
    from mlstage.server.auth import ANONYMOUS

    principal: Principal | None = getattr(request.state, "principal", None)
    return principal if principal is not None else ANONYMOUS


def csrf_token(request: Request) -> str:
    """The CSRF token of the signed-in session; ``""`` for token or anonymous callers."""
    return current_user(request).csrf_token or ""


def session_cookie(request: Request) -> str:
    return request.cookies.get(COOKIE_NAME, "")


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, cookie: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=is_https(request)
    )
