"""Hot-path statements of the SQL tracking store, built once per store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from mlstage.store import tables as t


class Statements:
    """Hot-path statements, built once per store: constructing a SQLAlchemy
    statement costs more than executing it on SQLite, and a sweep starts
    thousands of runs."""

    def __init__(self, dialect_name: str) -> None:
        dialect: Any = sqlite if dialect_name == "sqlite" else postgresql
        r, lm = t.runs.c, t.latest_metrics.c
        self.insert_run = insert(t.runs)
        self.experiment_stage = select(t.experiments.c.lifecycle_stage).where(
            t.experiments.c.experiment_id == bindparam("b_experiment_id")
        )
        self.runs_writable = select(r.run_id, r.lifecycle_stage).where(
            r.run_id.in_(bindparam("b_ids", expanding=True))
        )
        self.end_run = (
            update(t.runs)
            .where(r.run_id == bindparam("b_run_id"))
            .values(
                status=bindparam("b_status"),
                end_time=bindparam("b_end_time"),
                heartbeat_at=bindparam("b_now"),
                status_reason=bindparam("b_reason"),
            )
        )
        self.insert_metrics = insert(t.metrics)
        # RETURNING tells a new id from a repeated one on both databases
        # (psycopg reports no rowcount for ON CONFLICT DO NOTHING).
        self.insert_batch_id = (
            dialect.insert(t.logged_batches)
            .on_conflict_do_nothing()
            .returning(t.logged_batches.c.batch_id)
        )
        upsert = dialect.insert(t.latest_metrics)
        excluded = upsert.excluded
        self.upsert_latest = upsert.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "step": excluded.step,
                "timestamp": excluded.timestamp,
                "value": excluded.value,
                "json_member": excluded.json_member,
            },
            where=tuple_(excluded.step, excluded.timestamp) >= tuple_(lm.step, lm.timestamp),
        )
        self.insert_params = dialect.insert(t.params).on_conflict_do_nothing()
        self.select_params = select(t.params.c.key, t.params.c.value).where(
            t.params.c.run_id == bindparam("b_run_id"),
            t.params.c.key.in_(bindparam("b_keys", expanding=True)),
        )
        tags = dialect.insert(t.tags)
        self.upsert_tags = tags.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": tags.excluded.value}
        )
