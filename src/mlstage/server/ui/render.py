"""Rendering a UI page: one Jinja2 environment (autoescape on), security headers, formats.

Every user-provided string reaches the HTML through autoescaping; nothing in
the templates is marked safe. The Content-Security-Policy admits scripts
and styles from the server's own origin only (no inline code or style
attributes, no eval), so even a missed escape could not run.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from functools import cache
from typing import Any

from fastapi import Request, Response
from jinja2 import Environment, PackageLoader

from mlstage import __version__
from mlstage.server.ui import hooks

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# ``same-origin``, not ``no-referrer``: the latter makes Chromium send ``Origin: null`` with
# the sign-in form, which the request guard rightly refuses; other sites still get nothing.
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
NAV = (
    ("experiments", "Experiments", "/experiments"),
    ("models", "Models", "/models"),
    ("deployments", "Deployments", "/deployments"),
    ("monitoring", "Monitoring", "/monitoring"),
    ("datasets", "Datasets", "/datasets"),
    ("features", "Features", "/features"),
    ("pipelines", "Pipelines", "/pipelines"),
    ("audit", "Audit", "/audit"),
    ("assess", "Maturity", "/assess"),
)
"""The top navigation; later pages (datasets, pipelines, monitoring, governance) add a row."""


def when(ms: int | None) -> str:
    """A time in milliseconds since the epoch, as people read it (UTC)."""
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def number(value: Any) -> str:
    """A metric value in at most six significant digits; NaN and infinities spelled out."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int | float):
        return f"{value:.6g}"
    return str(value)


def as_json(value: Any) -> str:
    """JSON for a ``data-*`` attribute: a plain string, so autoescape quotes it."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mlstage.server.ui", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, duration=duration, number=number, as_json=as_json)
    env.globals.update(nav=NAV, version=__version__)
    return env


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """The rendered page with the security headers, and the auth hooks in its context."""
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            user=hooks.current_user(request),
            csrf_token=hooks.csrf_token(request),
            csrf_field=hooks.CSRF_FIELD,
            logout_path=hooks.LOGOUT_PATH,
            allowed=lambda method, route: hooks.allowed(request, method, route),
            **context,
        )
    )
    return Response(
        html,
        status_code=status_code,
        media_type="text/html; charset=utf-8",
        headers=SECURITY_HEADERS,
    )
