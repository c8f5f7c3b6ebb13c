"""Environments: where work runs, and the highest data classification each may hold.

An environment (``dev``, ``staging``, ``prod``, a ``restricted`` enclave) has
a maximum classification, optionally its own artifact root, its own database
(a URL or a schema name) and the executors pipelines may use in it (none
listed: any). Deployments name their environment; other work runs in the
one the ``environment`` setting names. An environment name nobody created
carries no policy, so projects that never configure one behave as before.

``EnvironmentStore`` keeps them in the metadata database; every change is
one transaction that also appends its audit entry.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row, insert, select, update

from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.governance import audit
from mlstage.governance.classification import Levels
from mlstage.store import tables as t
from mlstage.store.database import Database

_NAME = re.compile(r"[a-z][a-z0-9_\-]{0,63}")
KNOWN_EXECUTORS = ("local", "processes", "dask")
"""Executor names pipelines take; a Dask scheduler address (``tcp://...``) counts as dask."""


class Environment(BaseModel):
    name: str
    max_classification: str
    artifact_root: str = ""
    database: str = ""
    """A database URL, or a schema name in the shared database."""
    executors: list[str] = Field(default_factory=list)
    """Executors pipelines may use here; empty: any."""
    description: str = ""
    created_at: int = 0
    updated_at: int = 0
    updated_by: str = ""

    def allows_executor(self, executor: str) -> bool:
        return not self.executors or executor_kind(executor) in self.executors


def executor_kind(executor: str) -> str:
    """``local``, ``processes`` or ``dask`` for an executor label (``tcp://host:8786`` is dask)."""
    label = executor.strip().lower()
    if label.startswith(("tcp://", "tls://", "dask")):
        return "dask"
    return label


def check_environment_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"environment name {name!r} must be 1 to 64 lower-case letters, digits, '_' or '-', "
            "starting with a letter (e.g. dev, staging, prod)"
        )
    return name


def check_executors(executors: list[str]) -> list[str]:
    found = []
    for executor in executors:
        kind = executor_kind(executor)
        if kind not in KNOWN_EXECUTORS:
            raise InvalidInput(f"executor {executor!r} is not one of {', '.join(KNOWN_EXECUTORS)}")
        if kind not in found:
            found.append(kind)
    return found


def _now_ms() -> int:
    return int(time.time() * 1000)


class EnvironmentStore:
    """Environments over the metadata database; ``clock`` gives milliseconds."""

    def __init__(self, db: Database, levels: Levels, clock: Callable[[], int] = _now_ms) -> None:
        self.db = db
        self.levels = levels
        self.clock = clock

    def create(
        self,
        name: str,
        max_classification: str,
        *,
        artifact_root: str = "",
        database: str = "",
        executors: list[str] | None = None,
        description: str = "",
        actor: str = "",
        replace: bool = False,
    ) -> Environment:
        """Create the environment (or, with ``replace``, change it)."""
        now = self.clock()
        found = Environment(
            name=check_environment_name(name),
            max_classification=self.levels.check(max_classification, "max_classification"),
            artifact_root=_text(artifact_root, "artifact_root"),
            database=_text(database, "database"),
            executors=check_executors(list(executors or [])),
            description=_text(description, "description"),
            created_at=now,
            updated_at=now,
            updated_by=actor[:250],
        )
        values = found.model_dump(exclude={"name", "created_at"})
        values["executors"] = json.dumps(found.executors)

        def work(conn: Connection) -> Environment:
            row = conn.execute(
                select(t.environments).where(t.environments.c.name == name).with_for_update()
            ).first()
            if row is not None and not replace:
                raise Conflict(f"environment {name!r} exists; change it with --replace")
            if row is None:
                conn.execute(insert(t.environments).values(name=name, created_at=now, **values))
                before = None
            else:
                conn.execute(
                    update(t.environments).where(t.environments.c.name == name).values(**values)
                )
                before = _entity(row).model_dump()
            after = found.model_copy(update={"created_at": row.created_at if row else now})
            audit.record(
                conn,
                at=now,
                actor=actor or "unknown",
                action="environment.create" if row is None else "environment.update",
                object_type="environment",
                object_id=name,
                before=before,
                after=after.model_dump(),
            )
            return after

        return self.db.write(work)

    def get(self, name: str) -> Environment:
        found = self.find(name)
        if found is None:
            known = ", ".join(e.name for e in self.list()) or "none yet"
            raise NotFound(f"environment {name!r} does not exist (environments: {known}); "
                           "create it with `mlstage environments create`")  # fmt: skip
        return found

    def find(self, name: str) -> Environment | None:
        """The environment, or ``None`` when nobody created one of that name (no policy)."""
        with self.db.read() as conn:
            return find_environment(conn, name)

    def list(self) -> list[Environment]:
        with self.db.read() as conn:
            rows = conn.execute(select(t.environments).order_by(t.environments.c.name)).all()
        return [_entity(row) for row in rows]


def find_environment(conn: Connection, name: str) -> Environment | None:
    row = conn.execute(select(t.environments).where(t.environments.c.name == name)).first()
    return None if row is None else _entity(row)


def _text(value: str, field: str) -> str:
    if not isinstance(value, str) or len(value) > 2000 or "\x00" in value:
        raise InvalidInput(f"{field} must be text of at most 2,000 characters, no NUL")
    return value


def _entity(row: Row[Any]) -> Environment:
    return Environment(
        name=row.name,
        max_classification=row.max_classification,
        artifact_root=row.artifact_root,
        database=row.database,
        executors=json.loads(row.executors or "[]"),
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )
