"""Signing in and out, first-admin set-up, and the users, tokens and audit admin API.

``POST /login`` takes a form (the only route that does) or JSON, throttles
failures (429 with ``Retry-After``), and sets the session cookie;
``POST /setup`` creates the first admin once, with the bootstrap secret the
server printed at start. Under ``/api/v1``: ``users`` (admins), ``tokens``
(your own; admins any user's), ``audit`` (admins) and ``users/me``. No
answer ever carries a password hash or a token's hash; a new token's
secret is in the creation answer only.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from mlstage.errors import Forbidden, InvalidInput, Unauthorized
from mlstage.governance import sessions
from mlstage.governance.audit import MAX_ENTRIES, to_csv
from mlstage.governance.entities import AuditEntry, NewToken, TokenInfo, User
from mlstage.governance.roles import SCOPE_NEEDS, allows
from mlstage.governance.sql_store import GovernanceStore
from mlstage.governance.throttle import LoginThrottle, TooManyAttempts
from mlstage.governance.tokens import parse_lifetime
from mlstage.server.auth import Principal, require_principal
from mlstage.server.deps import tracking_store
from mlstage.server.errors import ErrorResponse
from mlstage.server.responses import NanJSONResponse


async def governance_store(request: Request) -> GovernanceStore:
    """Dependency: users, tokens and the audit log on the server's own database."""
    state = request.app.state
    store: GovernanceStore | None = getattr(state, "governance", None)
    if store is None:
        tracking = await tracking_store(request)
        store = GovernanceStore(tracking.db)
        state.governance = store
    return store


Store = Annotated[GovernanceStore, Depends(governance_store)]
Caller = Annotated[Principal, Depends(require_principal)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credentials(_Strict):
    name: str = Field(max_length=100)
    password: str = Field(max_length=1024)


class Setup(Credentials):
    secret: str = Field(max_length=200)


class CreateUser(_Strict):
    name: str = Field(max_length=100)
    role: Literal["viewer", "contributor", "maintainer", "admin"]
    password: str | None = Field(default=None, max_length=1024)


class UpdateUser(_Strict):
    """Only these fields: anything else (``is_admin``, ``password_hash``) is a 400 (S11)."""

    role: Literal["viewer", "contributor", "maintainer", "admin"] | None = None
    disabled: bool | None = None


class CreateToken(_Strict):
    user: str | None = Field(default=None, max_length=100)
    scope: Literal["read", "write", "admin"] = "read"
    expires: str = Field(default="30d", max_length=10)
    description: str = Field(default="", max_length=250)


class UserList(BaseModel):
    users: list[User]


class TokenList(BaseModel):
    tokens: list[TokenInfo]


class AuditList(BaseModel):
    entries: list[AuditEntry]


class Whoami(BaseModel):
    name: str
    role: str | None
    via: str
    authenticated: bool
    csrf_token: str = ""


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _enforced(request: Request) -> bool:
    return bool(getattr(request.app.state, "enforce_roles", False))


def _require_auth_on(request: Request) -> None:
    """Users and tokens change over the API only on a server that checks who asks (S12)."""
    if not _enforced(request):
        raise Forbidden(
            "users and tokens are managed over the API only when the server requires auth "
            "(auth_required = true); on this server use `mlstage users` and `mlstage tokens`"
        )


def _forget(request: Request) -> None:
    forget = getattr(request.app.state.authenticator, "forget", None)
    if forget is not None:
        forget()


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        settings = request.app.state.settings
        throttle = LoginThrottle(settings.login_max_failures, settings.login_window)
        request.app.state.login_throttle = throttle
    return throttle


def build_router() -> APIRouter:
    """The public sign-in routes and the protected governance API."""
    router = APIRouter(tags=["auth"])
    _session_routes(router)
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(require_principal)])
    _user_routes(api)
    _token_routes(api)
    _audit_routes(api)
    router.include_router(api)
    return router


def _session_routes(router: APIRouter) -> None:
    @router.post("/login", response_model=Whoami)
    async def login(request: Request, store: Store) -> Response:
        """Sign in with a name and password; sets the session cookie.

        JSON (or a form without ``next``) in, JSON out, with the CSRF token.
        A form with a ``next`` field (the UI's login page) is answered with a
        303: to ``next`` (if a path on this server, else ``/``) on success,
        back to ``/login?error=failed|throttled&next=...`` otherwise.
        """
        credentials, next_path = await _credentials(request)
        form = next_path is not None
        address = _address(request)
        keys = (f"user:{credentials.name.lower()}", f"ip:{address}")
        throttle = _throttle(request)
        try:
            throttle.check(*keys)
        except TooManyAttempts as exc:
            if form:
                return _back_to_login("throttled", next_path)
            headers = {"Retry-After": str(exc.retry_after)}
            return ErrorResponse(429, "TOO_MANY_REQUESTS", exc.message, headers)
        identity = await run_in_threadpool(
            store.check_login, credentials.name, credentials.password
        )
        if identity is None:
            throttle.failed(*keys)
            if form:
                return _back_to_login("failed", next_path)
            raise Unauthorized("wrong user name or password")
        throttle.succeeded(keys[0])
        cookie, csrf = await run_in_threadpool(store.create_session, identity, address=address)
        body = Whoami(
            name=identity.name,
            role=identity.role,
            via="session",
            authenticated=True,
            csrf_token=csrf,
        )
        response: Response = NanJSONResponse(body.model_dump())
        if form:
            response = RedirectResponse(next_path or "/", status_code=303)
        sessions.set_session_cookie(response, request, cookie)
        return response

    @router.post("/logout", status_code=204, dependencies=[Depends(require_principal)])
    async def logout(request: Request, caller: Caller, store: Store) -> Response:
        """End this browser session (the cookie and the stored session)."""
        cookie = sessions.session_cookie(request)
        if cookie:
            await run_in_threadpool(
                lambda: store.end_session(cookie, actor=caller.name, address=_address(request))
            )
            _forget(request)
        response = Response(status_code=204)
        sessions.clear_session_cookie(response, request)
        return response

    @router.post("/setup", status_code=201)
    def setup(body: Setup, request: Request, store: Store) -> User:
        """Create the first admin with the one-time bootstrap secret; refused once a user exists."""
        secret: str = getattr(request.app.state, "bootstrap_secret", "")
        if not secret or not hmac.compare_digest(body.secret.encode(), secret.encode()):
            raise Forbidden("set-up needs the bootstrap secret the server printed at start")
        if store.count_users() > 0:
            raise Forbidden("set-up is done: users exist; an admin adds more")
        user = store.create_user(
            body.name, "admin", body.password, actor="bootstrap", address=_address(request)
        )
        request.app.state.bootstrap_secret = ""
        return user


async def _credentials(request: Request) -> tuple[Credentials, str | None]:
    """The name and password sent; for a form with ``next``, that path (``""`` if foreign)."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    next_path: str | None = None
    try:
        if media == "application/x-www-form-urlencoded":
            form = await request.form()
            data = {k: form.get(k) for k in ("name", "password")}
            if "next" in form:  # the UI's login page: answer with redirects
                next_path = local_path(str(form.get("next") or ""))
        elif media == "application/json":
            data = await request.json()
        else:
            raise InvalidInput("sign in with a form or JSON body: name and password")
        return Credentials.model_validate(data), next_path
    except (ValueError, TypeError, RecursionError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput("sign in needs a name and a password") from None


def local_path(target: str) -> str:
    """``target`` if it is a path on this server (``/runs?x=1``), else ``""`` (no open redirect)."""
    ok = target.startswith("/") and not target.startswith(("//", "/\\")) and len(target) <= 2000
    return target if ok and "\\" not in target and not any(c < " " for c in target) else ""


def _back_to_login(error: str, next_path: str | None) -> Response:
    query = urlencode({"error": error} | ({"next": next_path} if next_path else {}))
    return RedirectResponse(f"/login?{query}", status_code=303)


def _user_routes(api: APIRouter) -> None:
    @api.get("/users/me")
    def whoami(request: Request, caller: Caller) -> Whoami:
        return Whoami(
            name=caller.name,
            role=caller.role,
            via=caller.via,
            authenticated=caller.authenticated,
            csrf_token=sessions.csrf_token(request),
        )

    @api.get("/users")
    def list_users(store: Store) -> UserList:
        return UserList(users=store.list_users())

    @api.post("/users", status_code=201)
    def create_user(body: CreateUser, request: Request, caller: Caller, store: Store) -> User:
        _require_auth_on(request)
        return store.create_user(
            body.name, body.role, body.password, actor=caller.name, address=_address(request)
        )

    @api.patch("/users/{name}")
    def update_user(
        name: str, body: UpdateUser, request: Request, caller: Caller, store: Store
    ) -> User:
        """Change a user's role or disable them; their sessions end, tokens stop at once."""
        _require_auth_on(request)
        user = store.update_user(
            name,
            disabled=body.disabled,
            role=body.role,
            actor=caller.name,
            address=_address(request),
        )
        _forget(request)
        return user


def _token_routes(api: APIRouter) -> None:
    @api.get("/tokens")
    def list_tokens(
        request: Request,
        caller: Caller,
        store: Store,
        user: Annotated[str | None, Query(max_length=100)] = None,
    ) -> TokenList:
        """Your tokens; an admin may ask for anyone's, or everyone's."""
        if _enforced(request) and caller.role != "admin":
            if user not in (None, caller.name):
                raise Forbidden("only an admin may list another user's tokens")
            user = caller.name
        return TokenList(tokens=store.list_tokens(user))

    @api.post("/tokens", status_code=201)
    def create_token(body: CreateToken, request: Request, caller: Caller, store: Store) -> NewToken:
        """A token for you (or, for an admin, anyone); its scope never exceeds your own."""
        _require_auth_on(request)
        owner = body.user or caller.name
        if owner != caller.name and caller.role != "admin":
            raise Forbidden("only an admin may create tokens for another user")
        if not allows(caller.role, SCOPE_NEEDS[body.scope]):
            raise InvalidInput(
                f"a {body.scope!r} token exceeds your own access ({caller.role}); ask an admin"
            )
        return store.create_token(
            owner,
            body.scope,
            parse_lifetime(body.expires),
            body.description,
            actor=caller.name,
            address=_address(request),
        )

    @api.delete("/tokens/{token_id}")
    def revoke_token(token_id: str, request: Request, caller: Caller, store: Store) -> TokenInfo:
        """Revoke at once: the token fails on its next request."""
        _require_auth_on(request)
        if caller.role != "admin" and store.get_token(token_id).user != caller.name:
            raise Forbidden("only an admin may revoke another user's token")
        revoked = store.revoke_token(token_id, actor=caller.name, address=_address(request))
        _forget(request)
        return revoked


def _audit_routes(api: APIRouter) -> None:
    @api.get("/audit", response_model=AuditList)
    def read_audit(
        store: Store,
        since: Annotated[int | None, Query(description="ms since the epoch")] = None,
        actor: Annotated[str | None, Query(max_length=100)] = None,
        action: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_ENTRIES)] = 1000,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Response:
        """Audit entries, oldest first; ``format=csv`` for a spreadsheet-safe export."""
        entries = store.audit_entries(since=since, actor=actor, action=action, limit=limit)
        if format == "csv":
            return Response(
                to_csv(entries),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
            )
        return NanJSONResponse(AuditList(entries=entries).model_dump(mode="json"))
