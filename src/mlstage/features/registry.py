"""The feature registry on the metadata database: entities, views, materialisation watermarks.

``apply`` stores what a definitions file declares in one transaction:
objects whose definition is unchanged are left alone (a re-apply writes
nothing), changed ones are updated, and a view whose source or value layout
changed loses its watermarks, so the next incremental materialisation loads
it again from the start. ``prune`` also deletes what the file no longer
declares.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy import exc as sa_exc

from mlstage.errors import Conflict, NotFound
from mlstage.features.definitions import Entity, ViewRecord, entity_fingerprint
from mlstage.features.repo import Definitions
from mlstage.store import tables as t
from mlstage.store.database import Database


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Change:
    """One line of what ``apply`` did: ``created``, ``updated``, ``unchanged`` or ``deleted``."""

    kind: str
    name: str
    action: str
    detail: str = ""


@dataclass(frozen=True)
class RegisteredView:
    view: ViewRecord
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Materialization:
    view: str
    online_store: str
    watermark: int
    rows: int
    updated_at: int


class FeatureRegistry:
    """Entities and views of one metadata database."""

    def __init__(self, db: Database, clock: Callable[[], int] = now_ms) -> None:
        self.db = db
        self.clock = clock

    # -- apply ------------------------------------------------------------------------

    def apply(self, definitions: Definitions, *, prune: bool = False) -> list[Change]:
        """Store ``definitions`` in one transaction; the changes, in a stable order."""
        now = self.clock()

        def work(conn: Connection) -> list[Change]:
            changes = self._apply_entities(conn, definitions.entities, now, prune)
            changes += self._apply_views(conn, definitions.views, now, prune)
            return changes

        try:
            return self.db.write(work)
        except sa_exc.IntegrityError as exc:
            raise Conflict(
                f"another apply changed the feature registry at the same time; run it again ({exc})"
            ) from exc

    def _apply_entities(
        self, conn: Connection, entities: tuple[Entity, ...], now: int, prune: bool
    ) -> list[Change]:
        table = t.feature_entities
        stored = {r.name: r for r in conn.execute(select(table.c.name, table.c.fingerprint))}
        changes: list[Change] = []
        for entity in entities:
            fingerprint = entity_fingerprint(entity)
            values = {"definition": json.dumps(entity.to_dict()), "fingerprint": fingerprint}
            row = stored.get(entity.name)
            if row is None:
                conn.execute(
                    insert(table).values(name=entity.name, created_at=now, updated_at=now, **values)
                )
                changes.append(Change("entity", entity.name, "created"))
            elif row.fingerprint != fingerprint:
                conn.execute(
                    update(table)
                    .where(table.c.name == entity.name)
                    .values(updated_at=now, **values)
                )
                changes.append(Change("entity", entity.name, "updated"))
            else:
                changes.append(Change("entity", entity.name, "unchanged"))
        declared = {e.name for e in entities}
        for name in sorted(set(stored) - declared):
            if prune:
                conn.execute(delete(table).where(table.c.name == name))
                changes.append(Change("entity", name, "deleted"))
            else:
                changes.append(Change("entity", name, "unchanged", "not in the file; kept"))
        return changes

    def _apply_views(
        self, conn: Connection, views: tuple[ViewRecord, ...], now: int, prune: bool
    ) -> list[Change]:
        table = t.feature_views
        stored = {
            r.name: r
            for r in conn.execute(select(table.c.name, table.c.fingerprint, table.c.definition))
        }
        changes: list[Change] = []
        for view in views:
            fingerprint = view.fingerprint()
            values = {
                "source": view.source,
                "definition": json.dumps(view.to_dict()),
                "fingerprint": fingerprint,
            }
            row = stored.get(view.name)
            if row is None:
                conn.execute(
                    insert(table).values(name=view.name, created_at=now, updated_at=now, **values)
                )
                changes.append(Change("feature view", view.name, "created", _summary(view)))
                continue
            if row.fingerprint == fingerprint:
                changes.append(Change("feature view", view.name, "unchanged"))
                continue
            old = ViewRecord.from_dict(json.loads(row.definition))
            conn.execute(
                update(table).where(table.c.name == view.name).values(updated_at=now, **values)
            )
            detail = _difference(old, view)
            if old.storage_id != view.storage_id or old.source != view.source:
                conn.execute(
                    delete(t.feature_materializations).where(
                        t.feature_materializations.c.view == view.name
                    )
                )
                detail += "; materialise it again"
            changes.append(Change("feature view", view.name, "updated", detail))
        declared = {v.name for v in views}
        for name in sorted(set(stored) - declared):
            if prune:
                conn.execute(
                    delete(t.feature_materializations).where(
                        t.feature_materializations.c.view == name
                    )
                )
                conn.execute(delete(table).where(table.c.name == name))
                changes.append(Change("feature view", name, "deleted"))
            else:
                changes.append(Change("feature view", name, "unchanged", "not in the file; kept"))
        return changes

    # -- reads ------------------------------------------------------------------------

    def list_views(self) -> list[RegisteredView]:
        table = t.feature_views
        with self.db.read() as conn:
            rows = conn.execute(
                select(table.c.definition, table.c.created_at, table.c.updated_at).order_by(
                    table.c.name
                )
            ).all()
        return [
            RegisteredView(
                ViewRecord.from_dict(json.loads(r.definition)), r.created_at, r.updated_at
            )
            for r in rows
        ]

    def views(self) -> dict[str, ViewRecord]:
        return {r.view.name: r.view for r in self.list_views()}

    def get_view(self, name: str) -> RegisteredView:
        for registered in self.list_views():
            if registered.view.name == name:
                return registered
        raise NotFound(
            f"feature view {name[:100]!r} is not registered; see `mlstage features list`"
        )

    def list_entities(self) -> list[Entity]:
        table = t.feature_entities
        with self.db.read() as conn:
            rows = conn.execute(select(table.c.definition).order_by(table.c.name)).scalars().all()
        return [Entity(**json.loads(r)) for r in rows]

    # -- materialisation state ----------------------------------------------------------

    def materializations(self, view: str | None = None) -> list[Materialization]:
        table = t.feature_materializations
        query = select(table).order_by(table.c.view, table.c.online_store)
        if view is not None:
            query = query.where(table.c.view == view)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [
            Materialization(r.view, r.online_store, r.watermark, r.rows, r.updated_at) for r in rows
        ]

    def watermark(self, view: str, online_store: str) -> int | None:
        table = t.feature_materializations
        with self.db.read() as conn:
            value: Any = conn.execute(
                select(table.c.watermark).where(
                    table.c.view == view, table.c.online_store == online_store
                )
            ).scalar()
        return None if value is None else int(value)

    def record_materialization(self, view: str, online_store: str, end_ms: int, rows: int) -> None:
        """Move the watermark forward to ``end_ms`` (never back) and add ``rows`` written."""
        table = t.feature_materializations
        now = self.clock()

        def work(conn: Connection) -> None:
            where = (table.c.view == view, table.c.online_store == online_store)
            row = conn.execute(select(table.c.watermark, table.c.rows).where(*where)).first()
            if row is None:
                exists = conn.execute(
                    select(t.feature_views.c.name).where(t.feature_views.c.name == view)
                ).scalar()
                if exists is None:
                    raise NotFound(f"feature view {view!r} was removed while it was materialised")
                conn.execute(
                    insert(table).values(
                        view=view,
                        online_store=online_store,
                        watermark=end_ms,
                        rows=rows,
                        updated_at=now,
                    )
                )
                return
            conn.execute(
                update(table)
                .where(*where)
                .values(
                    watermark=max(int(row.watermark), end_ms),
                    rows=int(row.rows) + rows,
                    updated_at=now,
                )
            )

        self.db.write(work)


def _summary(view: ViewRecord) -> str:
    return f"{len(view.features)} features of {', '.join(view.entities)}"


def _difference(old: ViewRecord, new: ViewRecord) -> str:
    parts = []
    added = [n for n in new.feature_names if n not in old.feature_names]
    removed = [n for n in old.feature_names if n not in new.feature_names]
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    retyped = [n for n, d in new.features if n in old.feature_names and dict(old.features)[n] != d]
    if retyped:
        parts.append("retyped " + ", ".join(retyped))
    for name in ("source", "ttl_seconds", "timestamp_field", "join_keys", "description", "tags"):
        if getattr(old, name) != getattr(new, name):
            parts.append(f"{name} changed")
    return "; ".join(parts) or "definition changed"
