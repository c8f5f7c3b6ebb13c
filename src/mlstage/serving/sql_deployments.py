"""Deployment records over the metadata database, next to the registry they point into."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy import exc as sa_exc

from mlstage.config import Settings
from mlstage.errors import Conflict, NotFound
from mlstage.governance.scope import readable_projects
from mlstage.models.names import canonical_model_name, check_model_name, check_version
from mlstage.serving.deployments import (
    MAX_REASON,
    Deployment,
    DeploymentEvent,
    Strategy,
    check_deployment_name,
    check_environment,
    check_strategy,
    check_text,
)
from mlstage.store import tables as t
from mlstage.store.database import Database, get_database
from mlstage.tracking.sql_store import now_ms

_NOT_COMPARED = ("error", "updated_at", "updated_by")
_D = t.deployments.c


class SqlDeploymentStore:
    """``DeploymentStore`` on the metadata database."""

    def __init__(self, db: Database, *, clock: Callable[[], int] = now_ms) -> None:
        self.db = db
        self.clock = clock

    _shared: dict[str, SqlDeploymentStore] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, uri: str, settings: Settings) -> SqlDeploymentStore:
        with cls._shared_lock:
            store = cls._shared.get(uri)
            if store is None:
                db = get_database(
                    uri,
                    busy_timeout=settings.sqlite_busy_timeout,
                    synchronous=settings.sqlite_synchronous,
                )
                store = cls._shared[uri] = cls(db)
            return store

    def deploy(
        self,
        name: str,
        model: str,
        environment: str,
        primary_version: int,
        *,
        candidate_version: int | None = None,
        strategy: Strategy | str = Strategy.SINGLE,
        weight: float = 0.0,
        actor: str = "",
        reason: str = "",
    ) -> Deployment:
        name = check_deployment_name(name)
        check_model_name(model)
        environment = check_environment(environment)
        primary = check_version(primary_version)
        candidate = None if candidate_version is None else check_version(candidate_version)
        chosen, weight = check_strategy(strategy, candidate, weight)
        reason = check_text(reason, "reason")
        actor = check_text(actor, "actor")
        now = self.clock()
        from mlstage.config import get_settings  # issue 9: the environment's data classification
        from mlstage.governance.policy import Policy

        Policy(self.db, get_settings()).deploy(
            name, model, (primary, candidate), environment, actor=actor or "unknown"
        )

        def work(conn: Connection) -> None:
            model_name = _registered_name(conn, model)
            for version in {primary, candidate} - {None}:
                _require_version(conn, model_name, version)  # type: ignore[arg-type]
            row = conn.execute(
                select(t.deployments).where(_D.name == name).with_for_update()
            ).first()
            values = {
                "model": model_name,
                "environment": environment,
                "primary_version": primary,
                "candidate_version": candidate,
                "strategy": chosen.value,
                "weight": weight,
                "error": "",
                "updated_at": now,
                "updated_by": actor[:250],
            }
            if row is None:
                conn.execute(
                    insert(t.deployments).values(
                        name=name, previous_version=None, revision=1, created_at=now, **values
                    )
                )
                self._event(conn, name, 1, "created", None, actor, reason, now)
                return
            if row.model != model_name:
                raise Conflict(
                    f"deployment {name!r} serves model {row.model!r}, not {model_name!r}; "
                    "choose another deployment name"
                )
            if all(getattr(row, k) == x for k, x in values.items() if k not in _NOT_COMPARED):
                return  # unchanged: deploying again is harmless and safe to retry
            previous = row.previous_version
            if row.primary_version != primary:
                previous = row.primary_version
            conn.execute(
                update(t.deployments)
                .where(_D.name == name)
                .values(previous_version=previous, revision=row.revision + 1, **values)
            )
            self._event(conn, name, row.revision + 1, "updated", row, actor, reason, now)

        try:
            self.db.write(work)
        except sa_exc.IntegrityError as exc:
            raise Conflict(f"deployment {name!r} was created by another writer; retry") from exc
        return self.get_deployment(name)

    def promote(self, name: str, *, actor: str = "", reason: str = "") -> Deployment:
        """The candidate becomes the primary and serves everything."""

        def change(row: Row[Any]) -> dict[str, Any]:
            if row.candidate_version is None:
                raise Conflict(f"deployment {name!r} has no candidate to promote")
            return {
                "primary_version": row.candidate_version,
                "previous_version": row.primary_version,
                "candidate_version": None,
                "strategy": Strategy.SINGLE.value,
                "weight": 0.0,
            }

        return self._change(name, "promoted", change, actor, reason)

    def rollback(self, name: str, *, actor: str = "", reason: str = "") -> Deployment:
        """Back to the previous primary, candidate dropped."""

        def change(row: Row[Any]) -> dict[str, Any]:
            if row.previous_version is None:
                raise Conflict(f"deployment {name!r} has no previous version to roll back to")
            return {
                "primary_version": row.previous_version,
                "previous_version": row.primary_version,
                "candidate_version": None,
                "strategy": Strategy.SINGLE.value,
                "weight": 0.0,
            }

        return self._change(name, "rolled_back", change, actor, reason)

    def _change(
        self,
        name: str,
        action: str,
        change: Callable[[Row[Any]], dict[str, Any]],
        actor: str,
        reason: str,
    ) -> Deployment:
        name = check_deployment_name(name)
        reason = check_text(reason, "reason")
        actor = check_text(actor, "actor")
        now = self.clock()

        def work(conn: Connection) -> None:
            row = self._row(conn, name, lock=True)
            values = change(row)
            conn.execute(
                update(t.deployments)
                .where(_D.name == name)
                .values(
                    revision=row.revision + 1,
                    error="",
                    updated_at=now,
                    updated_by=actor[:250],
                    **values,
                )
            )
            self._event(conn, name, row.revision + 1, action, row, actor, reason, now)

        self.db.write(work)
        return self.get_deployment(name)

    def report_error(self, name: str, revision: int, error: str) -> None:
        name = check_deployment_name(name)
        error = check_text(error[:MAX_REASON] if isinstance(error, str) else error, "error")
        now = self.clock()

        def work(conn: Connection) -> None:
            row = self._row(conn, name, lock=True)
            if row.revision != revision or row.error == error:
                return  # a newer revision replaced it, or another replica reported it
            conn.execute(update(t.deployments).where(_D.name == name).values(error=error))
            self._event(conn, name, revision, "load_failed", row, "", error, now)

        self.db.write(work)

    def get_deployment(self, name: str) -> Deployment:
        name = check_deployment_name(name)
        with self.db.read() as conn:
            return _entity(self._row(conn, name))

    def list_deployments(self) -> list[Deployment]:
        query = select(t.deployments).order_by(_D.name)
        readable = readable_projects()
        if readable is not None:  # a deployment belongs to the project of its model
            m = t.registered_models.c
            query = query.join(t.registered_models, m.name == _D.model).where(
                m.project_id.in_(readable)
            )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [_entity(row) for row in rows]

    def get_history(self, name: str) -> list[DeploymentEvent]:
        name = check_deployment_name(name)
        h = t.deployment_history.c
        with self.db.read() as conn:
            self._row(conn, name)
            rows = conn.execute(
                select(t.deployment_history).where(h.name == name).order_by(h.entry_id)
            ).all()
        return [
            DeploymentEvent(
                name=r.name,
                revision=r.revision,
                action=r.action,
                before=json.loads(r.before) if r.before else None,
                after=json.loads(r.after),
                actor=r.actor,
                reason=r.reason,
                at=r.at,
            )
            for r in rows
        ]

    def _row(self, conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
        query = select(t.deployments).where(_D.name == name)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"deployment {name!r} does not exist")
        return row

    def _event(
        self,
        conn: Connection,
        name: str,
        revision: int,
        action: str,
        before: Row[Any] | None,
        actor: str,
        reason: str,
        at: int,
    ) -> None:
        after = self._row(conn, name)
        conn.execute(
            insert(t.deployment_history).values(
                name=name,
                revision=revision,
                action=action,
                before=None if before is None else json.dumps(_record(before)),
                after=json.dumps(_record(after)),
                actor=actor[:250],
                reason=reason,
                at=at,
            )
        )


def _registered_name(conn: Connection, model: str) -> str:
    found = conn.execute(
        select(t.registered_models.c.name).where(
            t.registered_models.c.canonical_name == canonical_model_name(model)
        )
    ).scalar()
    if found != model:
        raise NotFound(f"registered model {model!r} does not exist")
    return str(found)


def _require_version(conn: Connection, model: str, version: int) -> None:
    mv = t.model_versions.c
    exists = conn.execute(
        select(mv.version)
        .join(t.registered_models, t.registered_models.c.model_id == mv.model_id)
        .where(t.registered_models.c.name == model, mv.version == version)
    ).first()
    if exists is None:
        raise NotFound(f"model {model!r} has no version {version}")


_FIELDS = (
    "model",
    "environment",
    "primary_version",
    "candidate_version",
    "previous_version",
    "strategy",
    "weight",
    "revision",
)


def _record(row: Row[Any]) -> dict[str, Any]:
    return {field: getattr(row, field) for field in _FIELDS}


def _entity(row: Row[Any]) -> Deployment:
    return Deployment(
        name=row.name,
        model=row.model,
        environment=row.environment,
        primary_version=row.primary_version,
        candidate_version=row.candidate_version,
        previous_version=row.previous_version,
        strategy=Strategy(row.strategy),
        weight=row.weight,
        revision=row.revision,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )
