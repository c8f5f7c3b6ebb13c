"""Request guards that run before any route: Host allow-list, Origin check, content types.

- Host (S15): the ``Host`` header must name one of ``allowed_hosts`` on
  every method, so a DNS-rebinding page cannot talk to a local server.
  Probes (``/health``, ``/ready``) are exempt: they reveal nothing.
- Origin (S14/S15): a request carrying ``Origin`` must come from the
  server's own origin; ``Sec-Fetch-Site: cross-site`` is refused except for
  a top-level navigation (a link followed from elsewhere).
- Content type (S14): a state-changing request may not use the types a
  cross-site form or ``fetch`` can send without a preflight
  (``text/plain``, form-urlencoded, multipart), except the sign-in form on
  ``/login``.

Every refusal is the platform's JSON error with 403 (415 for content types).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from mlstage.server.errors import ErrorResponse

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PROBE_PATHS = frozenset({"/health", "/ready"})
SIMPLE_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})
"""Types a browser sends cross-site without asking first: never accepted on state changes."""
FORM_PATHS = frozenset({"/login"})
"""The only paths that take a form-urlencoded body."""


def host_name(host: str) -> str:
    """``example.com:8080`` -> ``example.com``; ``[::1]:5000`` -> ``::1``; lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class RequestGuard:
    """Refuse foreign hosts, cross-site origins and form-like bodies before the app runs."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(h.strip().lower() for h in allowed_hosts if h.strip())
        self.any_host = "*" in self.allowed

    def refusal(self, scope: Scope) -> ErrorResponse | None:
        headers = Headers(scope=scope)
        path: str = scope["path"]
        method: str = scope["method"]
        host = headers.get("host", "")
        if path not in PROBE_PATHS and not self.host_allowed(host):
            return ErrorResponse(
                403,
                "FORBIDDEN",
                f"host {host[:100]!r} is not allowed; add it to the allowed_hosts setting",
            )
        origin = headers.get("origin")
        if origin is not None and not self.same_origin(origin, host):
            return ErrorResponse(403, "FORBIDDEN", f"cross-origin request from {origin[:100]!r}")
        site = headers.get("sec-fetch-site", "")
        navigation = method in SAFE_METHODS and headers.get("sec-fetch-mode") == "navigate"
        if site == "cross-site" and not navigation:
            return ErrorResponse(403, "FORBIDDEN", "cross-site request refused")
        if method not in SAFE_METHODS:
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            form_ok = path in FORM_PATHS and media == "application/x-www-form-urlencoded"
            if media in SIMPLE_TYPES and not form_ok:
                return ErrorResponse(
                    415,
                    "UNSUPPORTED_MEDIA_TYPE",
                    f"content type {media!r} is not accepted on {method} {path[:200]}; "
                    "send application/json",
                )
        return None

    def host_allowed(self, host: str) -> bool:
        return self.any_host or host_name(host) in self.allowed

    def same_origin(self, origin: str, host: str) -> bool:
        try:
            parts = urlsplit(origin)
        except ValueError:  # "http://[" and the like
            return False
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.refusal(scope)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)
