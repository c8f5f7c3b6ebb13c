"""Who is calling, and may they: every route but a public allow-list needs ``require_principal``.

``app.state.authenticator`` turns a request into a ``Principal``. While
``auth_required`` is off (local use) it is ``anonymous``: no credentials,
no role checks. When it is on, ``TokenAuthenticator`` accepts a bearer
token (``Authorization: Bearer mls_...``) or a UI session cookie, and
``require_principal`` checks the caller's role against the route's action
(``mlstage.governance.roles.ROUTE_ACTIONS``) and, for cookie sessions, the
CSRF token of state-changing requests. ``unprotected_routes`` lets the app
refuse to start (and a test fail) if a route was added without the
dependency.
"""

from __future__ import annotations

import hmac
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant

from mlstage.errors import Forbidden, Unauthorized

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.governance.entities import Identity
    from mlstage.governance.sql_store import GovernanceStore

PUBLIC_PATHS: frozenset[str] = frozenset(
    {
        "/health",
        "/ready",
        "/openapi.json",
        "/docs",
        "/login",
        "/setup",
        "/ui/static/{name}",
        "/ui/static/plotly-{version}.min.js",
    }
)
"""Paths anyone may call: probes, the API description, signing in, first-admin set-up, assets."""
QUERY_TOKEN_NAMES = frozenset({"token", "access_token", "api_key", "apikey", "auth"})
"""Query parameters refused outright: a token in a URL ends up in logs and histories (S08)."""
BOOTSTRAP_ENV = "MLSTAGE_BOOTSTRAP_SECRET"
"""A bootstrap secret chosen by the operator (needed with several workers: one secret for all)."""
CACHE_SECONDS = 2.0
"""How long a checked credential is trusted without a new lookup (revocation lag, ≤ 5 s)."""


@dataclass(frozen=True)
class Principal:
    """The caller of a request, as far as authorisation is concerned.

    ``project_roles`` maps project ids to the role the caller acts with in
    each (a token's scope already applied); ``role`` is the strongest of
    them, which a route's action must reach before the object's own project
    is checked (``mlstage.governance.scope``). ``via`` is ``token``,
    ``session`` or ``anonymous``; ``csrf_token`` is set for cookie sessions only.
    """

    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    authenticated: bool = False
    role: str | None = None
    via: str = "anonymous"
    csrf_token: str | None = None
    project_roles: Mapping[int, str] | None = None


ANONYMOUS = Principal(name="anonymous")

Authenticator = Callable[[Request], "Principal | Awaitable[Principal]"]


def anonymous(request: Request) -> Principal:
    """The authenticator while auth is off: everyone is anonymous."""
    return ANONYMOUS


def principal_of(identity: Identity, via: str) -> Principal:
    from mlstage.governance.roles import capped, rank

    project_roles: dict[int, str] | None = None
    role = capped(identity.role, identity.scope)
    if identity.grants:
        project_roles = {}
        for project_id, granted in identity.grants:
            acting = capped(granted, identity.scope)
            if acting is not None:
                project_roles[project_id] = acting
        role = max(project_roles.values(), key=rank, default=None)
    return Principal(
        name=identity.name,
        roles=frozenset({role}) if role else frozenset(),
        authenticated=True,
        role=role,
        via=via,
        csrf_token=identity.csrf_token,
        project_roles=project_roles,
    )


class IdentitySource(Protocol):
    """Where credentials are checked: the governance store, or a platform server."""

    def identify_token(self, secret: str) -> Identity | None: ...

    def identify_session(self, cookie: str) -> Identity | None: ...


class TokenAuthenticator:
    """Bearer tokens and UI session cookies, checked against the governance store.

    A checked credential is remembered for ``CACHE_SECONDS`` so a busy
    client costs one lookup every few seconds; ``forget`` drops it at once
    (revocation in this process), other processes notice within the TTL.
    """

    def __init__(self, store: Callable[[], IdentitySource], ttl: float = CACHE_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    async def __call__(self, request: Request) -> Principal:
        refused = QUERY_TOKEN_NAMES & {k.lower() for k in request.query_params}
        if refused:
            raise Unauthorized(
                f"credentials in the query string ({', '.join(sorted(refused))}) are refused; "
                "send the header Authorization: Bearer <token>"
            )
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, secret = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthorized("the Authorization header must be 'Bearer <token>'")
            found = await self._lookup("t:" + secret.strip(), "token")
            if found is None:
                raise Unauthorized(
                    "the bearer token is not valid (unknown, expired or revoked, or its user "
                    "is disabled); create one with `mlstage tokens create`"
                )
            return found
        from mlstage.governance.sessions import session_cookie

        cookie = session_cookie(request)
        if cookie:
            found = await self._lookup("s:" + cookie, "session")
            if found is not None:
                return found
        raise Unauthorized(
            "authentication required: send Authorization: Bearer <token> "
            "(see `mlstage tokens create`) or sign in at /login"
        )

    async def _lookup(self, key: str, via: str) -> Principal | None:
        from mlstage.governance.tokens import token_hash

        hashed = token_hash(key)
        now = time.monotonic()
        cached = self._cache.get(hashed)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await run_in_threadpool(self._identify, key, via)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[hashed] = (now + self.ttl, found)
        return found

    def _identify(self, key: str, via: str) -> Principal | None:
        store = self.store()
        secret = key[2:]
        identity = (
            store.identify_token(secret) if via == "token" else store.identify_session(secret)
        )
        return None if identity is None else principal_of(identity, via)

    def forget(self) -> None:
        """Drop every cached credential (after a revocation, a disable, a logout)."""
        with self._lock:
            self._cache.clear()


async def require_principal(request: Request) -> Principal:
    """The caller of this request; 401 without valid credentials, 403 without the role.

    Keeps the principal and the route's action on ``request.state`` for
    routers, the UI helpers and the audit log.
    """
    from mlstage.governance.roles import SAFE_METHODS, action_for, allows

    authenticate: Authenticator = getattr(request.app.state, "authenticator", anonymous)
    found = authenticate(request)
    principal = await found if inspect.isawaitable(found) else found
    request.state.principal = principal
    route = request.scope.get("route")
    action = action_for(request.method, getattr(route, "path", request.url.path))
    request.state.action = action
    if not getattr(request.app.state, "enforce_roles", False):
        return principal
    if principal.via == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token", "").encode("latin-1")
        expected = (principal.csrf_token or "").encode("latin-1")
        if not expected or not hmac.compare_digest(sent, expected):
            raise Forbidden("the CSRF token is missing or wrong; reload the page and try again")
    if not allows(principal.role, action.role):
        raise Forbidden(
            f"{principal.name!r} may not {action.name} (needs the {action.role} role, "
            f"has {principal.role or 'none'}); ask an admin"
        )
    if principal.project_roles is not None:
        from mlstage.governance.scope import ProjectScope, set_scope

        scope = ProjectScope(principal.name, principal.project_roles, action.role)
        set_scope(scope)
        check_object = getattr(request.app.state, "check_object_project", None)
        if check_object is not None:
            await run_in_threadpool(check_object, request, scope)
    take = getattr(request.app.state, "audit_snapshot", None)
    if take is not None and action.audited and request.method not in SAFE_METHODS:
        object_id = request.path_params.get(action.object_id) if action.object_id else None
        if object_id is not None:  # the "before" of the audit entry (the recorder takes "after")
            request.state.audit_before = await run_in_threadpool(
                take, action.object_type, str(object_id)
            )
    return principal


def install_auth(app: FastAPI, settings: Settings) -> None:
    """Wire governance into ``app``: guards, the authenticator, the audit log, the auth routes.

    With ``auth_required`` and no user yet, a one-time bootstrap secret is
    printed (stderr) for ``POST /setup``; the command line
    (``mlstage users create NAME --role admin``) works as well.
    """
    from mlstage.governance.guards import RequestGuard
    from mlstage.governance.recorder import AuditRecorder
    from mlstage.governance.sql_store import GovernanceStore
    from mlstage.server.routers import auth as auth_routes

    def store() -> GovernanceStore:
        found: GovernanceStore | None = getattr(app.state, "governance", None)
        if found is None:
            found = GovernanceStore(app.state.stores.tracking().db)
            app.state.governance = found
        return found

    app.state.enforce_roles = settings.auth_required
    app.state.authenticator = TokenAuthenticator(store) if settings.auth_required else anonymous
    app.state.bootstrap_secret = ""
    if settings.auth_required:
        app.state.bootstrap_secret = _bootstrap_secret(store)
    app.include_router(auth_routes.build_router())
    app.add_middleware(AuditRecorder, store=store)
    app.add_middleware(RequestGuard, allowed_hosts=settings.allowed_hosts)


def _bootstrap_secret(store: Callable[[], GovernanceStore]) -> str:
    """While no user exists: the operator's secret, else a fresh one, printed; else ``""``."""
    import os
    import secrets
    import sys

    from mlstage.errors import MlstageError

    try:
        if store().count_users() > 0:
            return ""
    except MlstageError:
        pass  # the database is down: /setup checks again when it is used
    given = os.environ.get(BOOTSTRAP_ENV, "")
    if given:
        return given  # the operator's own (and the same in every worker process)
    secret = secrets.token_urlsafe(24)
    print(
        "mlstage: auth is required and no user exists yet. Create the first admin with\n"
        "  mlstage users create NAME --role admin --password-stdin\n"
        f"or POST /setup with this one-time secret: {secret}",
        file=sys.stderr,
        flush=True,
    )
    return secret


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
