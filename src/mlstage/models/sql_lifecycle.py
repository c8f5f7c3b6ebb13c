"""Aliases, statuses, tags, card fields and the history of registered model versions."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from mlstage.errors import InvalidInput, NotFound
from mlstage.models.entities import HistoryEntry, ModelVersion, VersionStatus
from mlstage.models.names import check_alias, check_version
from mlstage.models.sql_checks import check_tags, check_text
from mlstage.store import tables as t
from mlstage.store.database import Database

CARD_FIELDS = ("intended_use", "limitations", "ethical_considerations", "training_data", "notes")


class RegistryLifecycleMixin:
    """What happens to a version after registration; mixed into ``SqlRegistryStore``."""

    db: Database
    clock: Callable[[], int]
    _dialect: Any

    def _model_row(self, conn: Connection, name: str, *, lock: bool = False) -> Row[Any]:
        raise NotImplementedError

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        raise NotImplementedError

    def set_alias(
        self, name: str, alias: str, version: int, actor: str = "", reason: str = ""
    ) -> None:
        alias = check_alias(alias)
        number = check_version(version)
        now = self.clock()

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            self._require_version(conn, model, number)
            a = t.model_aliases.c
            before = conn.execute(
                select(a.version).where(a.model_id == model.model_id, a.alias == alias)
            ).scalar()
            stmt = self._dialect.insert(t.model_aliases)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model_id", "alias"], set_={"version": stmt.excluded.version}
                ),
                {"model_id": model.model_id, "alias": alias, "version": number},
            )
            self._history(
                conn,
                model.model_id,
                number,
                "alias_set",
                alias,
                None if before is None else str(before),
                str(number),
                actor,
                reason,
                now,
            )

        self.db.write(work)

    def delete_alias(self, name: str, alias: str, actor: str = "", reason: str = "") -> None:
        alias = check_alias(alias)
        now = self.clock()

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            a = t.model_aliases.c
            before = conn.execute(
                select(a.version).where(a.model_id == model.model_id, a.alias == alias)
            ).scalar()
            if before is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}")
            conn.execute(
                t.model_aliases.delete().where(a.model_id == model.model_id, a.alias == alias)
            )
            self._history(
                conn,
                model.model_id,
                before,
                "alias_deleted",
                alias,
                str(before),
                None,
                actor,
                reason,
                now,
            )

        self.db.write(work)

    def set_version_status(
        self,
        name: str,
        version: int,
        status: VersionStatus,
        actor: str = "",
        reason: str = "",
        validation: Mapping[str, object] | None = None,
    ) -> ModelVersion:
        number = check_version(version)
        status = VersionStatus(status)
        now = self.clock()

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name, lock=True)
            before = self._require_version(conn, model, number).status
            values: dict[str, Any] = {"status": status.value, "updated_at": now}
            if validation is not None:
                values["validation"] = json.dumps(validation, default=str)
            mv = t.model_versions.c
            conn.execute(
                update(t.model_versions)
                .where(mv.model_id == model.model_id, mv.version == number)
                .values(**values)
            )
            self._history(
                conn,
                model.model_id,
                number,
                "status_changed",
                None,
                before,
                status.value,
                actor,
                reason,
                now,
            )

        self.db.write(work)
        return self.get_model_version(name, number)

    def set_version_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        number = check_version(version)
        checked = check_tags(tags)

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name)
            self._require_version(conn, model, number)
            stmt = self._dialect.insert(t.model_version_tags)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model_id", "version", "key"],
                    set_={"value": stmt.excluded.value},
                ),
                [
                    {"model_id": model.model_id, "version": number, "key": k, "value": x}
                    for k, x in checked.items()
                ],
            )

        if checked:
            self.db.write(work)

    def update_model_version(
        self,
        name: str,
        version: int,
        description: str | None = None,
        card: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        number = check_version(version)
        values: dict[str, Any] = {"updated_at": self.clock()}
        checked_card: dict[str, str] = {}
        if description is not None:
            values["description"] = check_text(description, "description")
        if card is not None:
            unknown = sorted(set(card) - set(CARD_FIELDS))
            if unknown:
                raise InvalidInput(
                    f"unknown model card field(s) {', '.join(unknown)}; editable fields are "
                    f"{', '.join(CARD_FIELDS)}"
                )
            checked_card = {k: check_text(x, f"card field {k!r}") for k, x in card.items()}

        def work(conn: Connection) -> None:
            model = self._model_row(conn, name)
            row = self._require_version(conn, model, number)
            if card is not None:
                values["card"] = json.dumps({**json.loads(row.card), **checked_card})
            mv = t.model_versions.c
            conn.execute(
                update(t.model_versions)
                .where(mv.model_id == model.model_id, mv.version == number)
                .values(**values)
            )

        self.db.write(work)
        return self.get_model_version(name, number)

    def get_history(self, name: str) -> list[HistoryEntry]:
        h = t.model_history.c
        with self.db.read() as conn:
            model = self._model_row(conn, name)
            rows = conn.execute(
                select(t.model_history).where(h.model_id == model.model_id).order_by(h.entry_id)
            ).all()
        return [
            HistoryEntry(
                name=model.name,
                version=r.version,
                action=r.action,
                alias=r.alias,
                from_value=r.from_value,
                to_value=r.to_value,
                actor=r.actor,
                reason=r.reason,
                at=r.at,
            )
            for r in rows
        ]

    def _require_version(self, conn: Connection, model: Row[Any], number: int) -> Any:
        mv = t.model_versions.c
        row = conn.execute(
            select(mv.status, mv.card).where(mv.model_id == model.model_id, mv.version == number)
        ).first()
        if row is None:
            raise NotFound(f"model {model.name!r} has no version {number}")
        return row

    @staticmethod
    def _history(
        conn: Connection,
        model_id: int,
        version: int | None,
        action: str,
        alias: str | None,
        from_value: str | None,
        to_value: str | None,
        actor: str,
        reason: str,
        at: int,
    ) -> None:
        conn.execute(
            insert(t.model_history).values(
                model_id=model_id,
                version=version,
                action=action,
                alias=alias,
                from_value=from_value,
                to_value=to_value,
                actor=actor[:250],
                reason=check_text(reason, "reason"),
                at=at,
            )
        )
