"""Where the auth work plugs into the UI: the signed-in user, CSRF tokens, permissions.

Every function here works with auth off (the default: every page readable by
the anonymous principal, every button enabled) and picks up the governance
package once it exists. Keep the names: templates and routers call them.

- ``current_user``: the name shown in the header slot, ``None`` when anonymous.
- ``csrf_token``: the hidden ``csrf_token`` field of every form, which ui.js
  sends as ``X-CSRF-Token`` with the form's JSON request to the REST API;
  ``mlstage.governance.sessions.csrf_token(request)``.
- ``allowed``: whether the viewer may press a button, by the API route it
  calls; the governance role table decides once auth is required.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

CSRF_FIELD = "csrf_token"
LOGOUT_PATH = "/logout"
"""Where the header's logout form posts; the auth router owns the route."""


def current_user(request: Request) -> str | None:
    """The signed-in user's name, or ``None`` for the anonymous principal."""
    principal = getattr(request.state, "principal", None)
    if principal is None or not getattr(principal, "authenticated", False):
        return None
    return str(principal.name)


def csrf_token(request: Request) -> str:
    """The CSRF token for this session's forms; empty while the sessions module is missing."""
    try:
        from mlstage.governance.sessions import csrf_token as issue
    except ImportError:  # the governance package is optional for the UI
        return ""
    return str(issue(request))


def allowed(request: Request, method: str, route: str) -> bool:
    """Whether the viewer may call the API route (method, path template) a button sends to.

    ``app.state.ui_authorize(request, method, route)`` decides when set;
    otherwise the role table of ``mlstage.governance.roles`` does, once auth
    is required. With auth off every button is enabled.
    """
    authorize: Callable[..., Any] | None = getattr(request.app.state, "ui_authorize", None)
    if authorize is not None:
        return bool(authorize(request, method, route))
    if not getattr(request.app.state.settings, "auth_required", False):
        return True
    try:
        from mlstage.governance.roles import action_for, allows
    except ImportError:  # the governance package is optional for the UI
        return True
    role = getattr(getattr(request.state, "principal", None), "role", None)
    return allows(role, action_for(method, route).role)
