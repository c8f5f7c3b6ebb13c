"""Which projects the caller of a server request may see and change.

Experiments and registered models belong to a project; role grants are per
project. The server sets a ``ProjectScope`` for each authenticated request
(``require_principal``) and the stores consult it: lists and searches keep
only readable projects, and an object of a project the caller cannot read
is "not found", exactly as if it did not exist, so neither its name nor its
count leaks. Outside a server request (local use, the CLI on a database URI)
there is no scope and nothing is filtered.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import Connection, select

from mlstage.errors import Forbidden, NotFound


@dataclass(frozen=True)
class ProjectScope:
    """The caller's role per project id, and the role the current action needs."""

    caller: str
    roles: Mapping[int, str]
    needed: str = "viewer"

    def readable(self) -> frozenset[int]:
        return frozenset(self.roles)

    def check(self, project_id: int, what: str) -> None:
        """Refuse ``what`` (e.g. "experiment '7'"): not found if unreadable, else forbidden."""
        from mlstage.governance.roles import allows

        role = self.roles.get(project_id)
        if role is None:
            raise NotFound(f"{what} does not exist")
        if not allows(role, self.needed):
            raise Forbidden(
                f"{self.caller!r} may not change {what}: needs the {self.needed} role "
                f"in its project, has {role}"
            )


_current: ContextVar[ProjectScope | None] = ContextVar("mlstage_project_scope", default=None)


def current_scope() -> ProjectScope | None:
    """The scope of the request being served, or ``None`` (unrestricted)."""
    return _current.get()


def set_scope(scope: ProjectScope | None) -> None:
    """Set the scope for the rest of this context (a request's task and its threads)."""
    _current.set(scope)


@contextmanager
def scoped(scope: ProjectScope | None) -> Iterator[None]:
    """Run a block under ``scope`` (tests, background work on behalf of a caller)."""
    token = _current.set(scope)
    try:
        yield
    finally:
        _current.reset(token)


def check_project(project_id: int | None, what: str) -> None:
    """Refuse ``what`` under the current scope; does nothing when there is none."""
    scope = _current.get()
    if scope is not None and project_id is not None:
        scope.check(project_id, what)


def readable_projects() -> frozenset[int] | None:
    """Project ids the current caller may read, or ``None`` when unrestricted."""
    scope = _current.get()
    return None if scope is None else scope.readable()


def project_id_named(conn: Connection, name: str | None) -> int:
    """The id of project ``name`` (``None``: the default project), checked against the scope."""
    from mlstage.governance.roles import DEFAULT_PROJECT
    from mlstage.store import tables as t

    name = name or DEFAULT_PROJECT
    found = conn.execute(select(t.projects.c.project_id).where(t.projects.c.name == name)).scalar()
    if found is None:
        raise NotFound(
            f"project {name!r} does not exist; create it with `mlstage projects create {name}`"
        )
    check_project(int(found), f"project {name!r}")
    return int(found)
