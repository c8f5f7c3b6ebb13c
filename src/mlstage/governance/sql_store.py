"""Users, role grants, API tokens and sessions over the metadata database.

Every change is one transaction that also appends its audit entry, so a
change is never stored without its record (nor the record without it).
Hashes never leave this module: readers get ``User`` and ``TokenInfo``.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy import exc as sa_exc

from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.governance import audit, passwords, roles, tokens
from mlstage.governance.entities import (
    AuditEntry,
    Grant,
    Identity,
    NewToken,
    Project,
    TokenInfo,
    User,
)
from mlstage.store import tables as t
from mlstage.store.database import Database

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
SESSION_LIFETIME_MS = 12 * 3_600_000
"""A UI session lasts 12 hours, then the user signs in again."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def check_user_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"user name {name[:120]!r} is not valid: use 1 to 100 letters, digits, '.', '_', "
            "'@' or '-', starting with a letter or digit"
        )
    return name


def check_project_name(name: str) -> str:
    """Project names: what user names allow (letters, digits, ``._-``), 100 at most."""
    try:
        return check_user_name(name)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("user name", "project name")) from None


class GovernanceStore:
    """Users, tokens and sessions; ``clock`` gives milliseconds (tests pass their own)."""

    def __init__(self, db: Database, clock: Callable[[], int] = _now_ms) -> None:
        self.db = db
        self.clock = clock
        self._project_id: int | None = None

    # -- users ------------------------------------------------------------------------

    def count_users(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(t.users)).scalar_one())

    def create_user(
        self,
        name: str,
        role: str,
        password: str | None = None,
        *,
        actor: str = "cli",
        address: str = "",
    ) -> User:
        """A new user with ``role`` on the default project; the password is hashed here."""
        check_user_name(name)
        roles.check_role(role)
        hashed = None if password is None else passwords.hash_password(password)
        now = self.clock()

        def work(conn: Connection) -> User:
            project = self._default_project(conn)
            try:
                with conn.begin_nested():
                    user_id = conn.execute(
                        insert(t.users)
                        .values(
                            name=name,
                            password_hash=hashed,
                            disabled=False,
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(t.users.c.user_id)
                    ).scalar_one()
            except sa_exc.IntegrityError:
                raise Conflict(f"user {name!r} exists already; see `mlstage users list`") from None
            conn.execute(
                insert(t.role_grants).values(user_id=user_id, project_id=project, role=role)
            )
            user = self._user(conn, name)
            audit.record(
                conn,
                at=now,
                actor=actor,
                action="user.create",
                object_type="user",
                object_id=name,
                after=user.model_dump(),
                address=address,
            )
            return user

        return self.db.write(work)

    def get_user(self, name: str) -> User:
        with self.db.read() as conn:
            return self._user(conn, name)

    def list_users(self) -> list[User]:
        with self.db.read() as conn:
            rows = conn.execute(self._user_query(conn).order_by(t.users.c.name)).mappings().all()
        return [_to_user(row) for row in rows]

    def update_user(
        self,
        name: str,
        *,
        disabled: bool | None = None,
        role: str | None = None,
        password: str | None = None,
        actor: str = "cli",
        address: str = "",
    ) -> User:
        """Disable or enable, change the role or the password; sessions end on any change."""
        if role is not None:
            roles.check_role(role)
        hashed = None if password is None else passwords.hash_password(password)
        now = self.clock()

        def work(conn: Connection) -> User:
            before = self._user(conn, name)
            user_id = self._user_id(conn, name)
            values: dict[str, Any] = {"updated_at": now}
            if disabled is not None:
                values["disabled"] = disabled
            if hashed is not None:
                values["password_hash"] = hashed
            conn.execute(update(t.users).where(t.users.c.user_id == user_id).values(**values))
            if role is not None:
                conn.execute(
                    update(t.role_grants)
                    .where(t.role_grants.c.user_id == user_id)
                    .where(t.role_grants.c.project_id == self._default_project(conn))
                    .values(role=role)
                )
            conn.execute(t.sessions.delete().where(t.sessions.c.user_id == user_id))
            after = self._user(conn, name)
            audit.record(
                conn,
                at=now,
                actor=actor,
                action="user.update",
                object_type="user",
                object_id=name,
                before=before.model_dump(),
                after=after.model_dump(),
                address=address,
            )
            return after

        return self.db.write(work)

    def check_login(self, name: str, password: str) -> Identity | None:
        """The user's identity if ``password`` is theirs and they are enabled; else ``None``.

        An unknown name costs the same scrypt time as a wrong password.
        """
        with self.db.read() as conn:
            row = (
                conn.execute(
                    self._user_query(conn)
                    .add_columns(t.users.c.password_hash)
                    .where(t.users.c.name == name)
                )
                .mappings()
                .first()
            )
        if row is None:
            passwords.dummy_verify(password)
            return None
        if not passwords.verify_password(password, row["password_hash"]) or row["disabled"]:
            return None
        return Identity(user_id=row["user_id"], name=row["name"], role=row["role"])

    # -- tokens -----------------------------------------------------------------------

    def create_token(
        self,
        user: str,
        scope: str,
        lifetime_ms: int,
        description: str = "",
        *,
        actor: str = "cli",
        address: str = "",
    ) -> NewToken:
        """A token for ``user``; its scope may not exceed the user's role (400 otherwise)."""
        roles.check_scope(scope)
        if len(description) > 250:
            raise InvalidInput("a token description is at most 250 characters")
        secret = tokens.new_secret()
        now = self.clock()

        def work(conn: Connection) -> NewToken:
            owner = self._user(conn, user)
            if owner.disabled:
                raise InvalidInput(f"user {user!r} is disabled; enable them before adding tokens")
            held = [role for _, role in self._grants(self._user_id(conn, user), conn)]
            best = max(held, key=roles.rank, default=None)  # the strongest role in any project
            if not roles.allows(best, roles.SCOPE_NEEDS[scope]):
                widest = roles.widest_scope(best) if best else "none"
                raise InvalidInput(
                    f"a {scope!r} token exceeds the role of user {user!r} ({best}); "
                    f"the widest scope they may have is {widest!r}"
                )
            token_id = tokens.new_id()
            conn.execute(
                insert(t.api_tokens).values(
                    token_id=token_id,
                    user_id=self._user_id(conn, user),
                    token_hash=tokens.token_hash(secret),
                    scope=scope,
                    description=description,
                    created_at=now,
                    expires_at=now + lifetime_ms,
                    revoked_at=None,
                )
            )
            info = self._token(conn, token_id)
            audit.record(
                conn,
                at=now,
                actor=actor,
                action="token.create",
                object_type="token",
                object_id=token_id,
                after=info.model_dump(),
                address=address,
            )
            return NewToken(token=info, secret=secret)

        return self.db.write(work)

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        with self.db.read() as conn:
            stmt = self._token_query().order_by(t.api_tokens.c.created_at)
            if user is not None:
                stmt = stmt.where(t.users.c.name == user)
            return [_to_token(row) for row in conn.execute(stmt).mappings()]

    def get_token(self, token_id: str) -> TokenInfo:
        with self.db.read() as conn:
            return self._token(conn, token_id)

    def revoke_token(self, token_id: str, *, actor: str = "cli", address: str = "") -> TokenInfo:
        """Revoke at once; revoking a revoked token changes nothing and says so in the record."""
        now = self.clock()

        def work(conn: Connection) -> TokenInfo:
            before = self._token(conn, token_id)
            if before.revoked_at is not None:
                return before
            conn.execute(
                update(t.api_tokens)
                .where(t.api_tokens.c.token_id == token_id)
                .values(revoked_at=now)
            )
            after = self._token(conn, token_id)
            audit.record(
                conn,
                at=now,
                actor=actor,
                action="token.revoke",
                object_type="token",
                object_id=token_id,
                before=before.model_dump(),
                after=after.model_dump(),
                address=address,
            )
            return after

        return self.db.write(work)

    def identify_token(self, secret: str) -> Identity | None:
        """Who holds ``secret``: ``None`` if malformed, unknown, revoked, expired or disabled."""
        if not tokens.well_formed(secret):
            return None
        with self.db.read() as conn:
            row = (
                conn.execute(
                    self._token_query()
                    .add_columns(t.users.c.user_id, t.users.c.disabled, t.role_grants.c.role)
                    .outerjoin(
                        t.role_grants,
                        (t.role_grants.c.user_id == t.users.c.user_id)
                        & (t.role_grants.c.project_id == self._default_project(conn)),
                    )
                    .where(t.api_tokens.c.token_hash == tokens.token_hash(secret))
                )
                .mappings()
                .first()
            )
        if row is None or row["disabled"] or row["revoked_at"] is not None:
            return None
        if row["expires_at"] is not None and row["expires_at"] <= self.clock():
            return None
        return Identity(
            user_id=row["user_id"],
            name=row["user"],
            role=row["role"],
            scope=row["scope"],
            token_id=row["token_id"],
            grants=self._grants(row["user_id"]),
        )

    # -- sessions ---------------------------------------------------------------------

    def create_session(self, identity: Identity, *, address: str = "") -> tuple[str, str]:
        """A new session for ``identity``: (cookie value, CSRF token). Only a hash is stored."""
        cookie = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        now = self.clock()

        def work(conn: Connection) -> None:
            conn.execute(
                insert(t.sessions).values(
                    session_hash=tokens.token_hash(cookie),
                    user_id=identity.user_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME_MS,
                )
            )
            audit.record(
                conn,
                at=now,
                actor=identity.name,
                action="session.login",
                object_type="session",
                object_id=identity.name,
                address=address,
            )

        self.db.write(work)
        return cookie, csrf

    def identify_session(self, cookie: str) -> Identity | None:
        if not cookie or len(cookie) > 100:
            return None
        with self.db.read() as conn:
            row = (
                conn.execute(
                    self._user_query(conn)
                    .add_columns(t.sessions.c.csrf_token, t.sessions.c.expires_at)
                    .join_from(t.users, t.sessions, t.sessions.c.user_id == t.users.c.user_id)
                    .where(t.sessions.c.session_hash == tokens.token_hash(cookie))
                )
                .mappings()
                .first()
            )
        if row is None or row["disabled"] or row["expires_at"] <= self.clock():
            return None
        return Identity(
            user_id=row["user_id"],
            name=row["name"],
            role=row["role"],
            csrf_token=row["csrf_token"],
            grants=self._grants(row["user_id"]),
        )

    def end_session(self, cookie: str, *, actor: str = "", address: str = "") -> None:
        now = self.clock()

        def work(conn: Connection) -> None:
            conn.execute(
                t.sessions.delete().where(t.sessions.c.session_hash == tokens.token_hash(cookie))
            )
            audit.record(
                conn,
                at=now,
                actor=actor,
                action="session.logout",
                object_type="session",
                object_id=actor,
                address=address,
            )

        self.db.write(work)

    # -- projects and grants ------------------------------------------------------------

    def create_project(self, name: str, *, actor: str = "cli", address: str = "") -> Project:
        """A new project; experiments and models are created in it with ``project_name``."""
        name = check_project_name(name)
        now = self.clock()

        def work(conn: Connection) -> Project:
            try:
                with conn.begin_nested():
                    conn.execute(insert(t.projects).values(name=name, created_at=now))
            except sa_exc.IntegrityError:
                raise Conflict(f"project {name!r} exists already") from None
            project = self._project(conn, name)
            audit.record(
                conn,
                at=now,
                actor=actor,
                action="project.create",
                object_type="project",
                object_id=name,
                after=project.model_dump(),
                address=address,
            )
            return project

        return self.db.write(work)

    def list_projects(self) -> list[Project]:
        with self.db.read() as conn:
            rows = conn.execute(select(t.projects).order_by(t.projects.c.project_id)).mappings()
            return [Project(**row) for row in rows]

    def grant(
        self, user: str, project: str, role: str | None, *, actor: str = "cli", address: str = ""
    ) -> Grant | None:
        """Give ``user`` ``role`` in ``project`` (``None`` takes the grant away)."""
        if role is not None:
            roles.check_role(role)
        now = self.clock()

        def work(conn: Connection) -> Grant | None:
            user_id = self._user_id(conn, user)
            project_id = self._project(conn, project).project_id
            where = (t.role_grants.c.user_id == user_id) & (
                t.role_grants.c.project_id == project_id
            )
            before = conn.execute(select(t.role_grants.c.role).where(where)).scalar()
            conn.execute(t.role_grants.delete().where(where))
            if role is not None:
                conn.execute(
                    insert(t.role_grants).values(user_id=user_id, project_id=project_id, role=role)
                )
            conn.execute(t.sessions.delete().where(t.sessions.c.user_id == user_id))
            audit.record(
                conn,
                at=now,
                actor=actor,
                action="user.grant",
                object_type="user",
                object_id=user,
                before={"project": project, "role": before},
                after={"project": project, "role": role},
                address=address,
            )
            return None if role is None else Grant(user=user, project=project, role=role)

        return self.db.write(work)

    def list_grants(self, user: str | None = None) -> list[Grant]:
        g, u, p = t.role_grants, t.users, t.projects
        query = (
            select(u.c.name.label("user"), p.c.name.label("project"), g.c.role)
            .join_from(g, u, g.c.user_id == u.c.user_id)
            .join(p, p.c.project_id == g.c.project_id)
            .order_by(u.c.name, p.c.name)
        )
        if user is not None:
            query = query.where(u.c.name == user)
        with self.db.read() as conn:
            return [Grant(**row) for row in conn.execute(query).mappings()]

    def _grants(self, user_id: int, conn: Connection | None = None) -> tuple[tuple[int, str], ...]:
        g = t.role_grants
        query = select(g.c.project_id, g.c.role).where(g.c.user_id == user_id)
        if conn is not None:
            return tuple((int(pid), str(role)) for pid, role in conn.execute(query))
        with self.db.read() as conn:
            return tuple((int(pid), str(role)) for pid, role in conn.execute(query))

    def _project(self, conn: Connection, name: str) -> Project:
        row = conn.execute(select(t.projects).where(t.projects.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(
                f"project {name!r} does not exist; create it with `mlstage projects create {name}`"
            )
        return Project(**row)

    # -- audit ------------------------------------------------------------------------

    def record(self, **entry: Any) -> None:
        """Append an audit entry in its own transaction (for changes made elsewhere)."""
        entry.setdefault("at", self.clock())
        self.db.write(lambda conn: audit.record(conn, **entry))

    def audit_entries(self, **filters: Any) -> list[AuditEntry]:
        with self.db.read() as conn:
            return audit.query(conn, **filters)

    # -- helpers ----------------------------------------------------------------------

    def _default_project(self, conn: Connection) -> int:
        if self._project_id is None:
            found = conn.execute(
                select(t.projects.c.project_id).where(t.projects.c.name == roles.DEFAULT_PROJECT)
            ).scalar()
            if found is None:
                raise NotFound("the default project is missing: the database was not migrated")
            self._project_id = int(found)
        return self._project_id

    def _user_query(self, conn: Connection) -> Any:
        """Users with their role on the default project (``None`` without a grant)."""
        users, grants = t.users, t.role_grants
        on = (grants.c.user_id == users.c.user_id) & (
            grants.c.project_id == self._default_project(conn)
        )
        return select(
            users.c.user_id,
            users.c.name,
            users.c.disabled,
            users.c.created_at,
            users.c.updated_at,
            users.c.password_hash.is_not(None).label("has_password"),
            grants.c.role,
        ).select_from(users.outerjoin(grants, on))

    def _user(self, conn: Connection, name: str) -> User:
        row = conn.execute(self._user_query(conn).where(t.users.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"user {name[:120]!r} does not exist; see `mlstage users list`")
        return _to_user(row)

    def _user_id(self, conn: Connection, name: str) -> int:
        found = conn.execute(select(t.users.c.user_id).where(t.users.c.name == name)).scalar()
        if found is None:
            raise NotFound(f"user {name[:120]!r} does not exist; see `mlstage users list`")
        return int(found)

    def _token_query(self) -> Any:
        tok = t.api_tokens
        return select(
            tok.c.token_id,
            t.users.c.name.label("user"),
            tok.c.scope,
            tok.c.description,
            tok.c.created_at,
            tok.c.expires_at,
            tok.c.revoked_at,
        ).join(t.users, t.users.c.user_id == tok.c.user_id)

    def _token(self, conn: Connection, token_id: str) -> TokenInfo:
        row = (
            conn.execute(self._token_query().where(t.api_tokens.c.token_id == token_id))
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"token {token_id[:40]!r} does not exist; see `mlstage tokens list`")
        return _to_token(row)


def _to_user(row: Any) -> User:
    return User(
        name=row["name"],
        role=row["role"],
        disabled=bool(row["disabled"]),
        has_password=bool(row["has_password"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _to_token(row: Any) -> TokenInfo:
    return TokenInfo(
        token_id=row["token_id"],
        user=row["user"],
        scope=row["scope"],
        description=row["description"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )
