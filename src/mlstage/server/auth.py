"""Who is calling: every route but a short public allow-list depends on ``require_principal``.

Authentication is off today: every caller is the anonymous principal. The
dependency is wired into every router from the start, so adding tokens and
roles later changes this module only, and ``unprotected_routes`` lets the
app refuse to start (and a test fail) if a route was added without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant

PUBLIC_PATHS: frozenset[str] = frozenset({"/health", "/ready", "/openapi.json", "/docs"})
"""Paths anyone may call: liveness, readiness and the API description."""


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as far as authorisation is concerned."""

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    authenticated: bool = False


ANONYMOUS = Principal(name="anonymous")

Authenticator = Callable[[Request], Principal]


def anonymous(request: Request) -> Principal:
    """The authenticator while auth is off: everyone is anonymous."""
    return ANONYMOUS


async def require_principal(request: Request) -> Principal:
    """The caller of this request; raises ``Unauthorized`` once auth is on and credentials fail.

    Async because it does no blocking work today; it keeps the principal on
    ``request.state`` for routers and, later, the audit log.
    """
    authenticate: Authenticator = getattr(request.app.state, "authenticator", anonymous)
    principal = authenticate(request)
    request.state.principal = principal
    return principal


def live_routes(app: FastAPI) -> Iterator[Any]:
    """Every route the app serves, with the dependencies it runs with.

    Recent FastAPI keeps included routers as one entry of ``app.routes``
    and resolves them lazily; ``iter_route_contexts`` flattens them into
    what actually serves requests. Older FastAPI has flat routes already.
    """
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return iter(flatten(app.routes) if flatten is not None else app.routes)


def _calls(dependant: Dependant) -> Iterator[Callable[..., object] | None]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def is_protected(route: Any) -> bool:
    """Whether ``route`` runs ``require_principal`` before its handler."""
    dependant = getattr(route, "dependant", None)
    return isinstance(dependant, Dependant) and require_principal in set(_calls(dependant))


def unprotected_routes(app: FastAPI) -> list[str]:
    """Routes of the live route table that neither are public nor check the caller."""
    found = []
    for route in live_routes(app):
        path = getattr(route, "path", None)
        if path in PUBLIC_PATHS or is_protected(route):
            continue
        methods = ",".join(sorted(getattr(route, "methods", None) or ()))
        found.append(f"{methods or type(route).__name__} {path!r}")
    return found
