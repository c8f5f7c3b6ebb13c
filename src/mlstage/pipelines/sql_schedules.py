"""Schedules, their fires, and the scheduler leader's lease, in the metadata database.

Exactly once per due time, with two guards: only the scheduler holding the
lease fires (a row renewed in a transaction, taken over once it expires),
and a fire is a row whose primary key is (schedule, due time), inserted in
the same transaction that moves the schedule's ``next_due`` on, and only if
``next_due`` is still the due time read. Two leaders for a moment (a paused
process whose lease expired) still cannot fire one due time twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy import exc as sa_exc

from mlstage.errors import NotFound
from mlstage.pipelines.cron import parse_cron
from mlstage.store import tables as t
from mlstage.store.database import Database

LEASE_NAME = "scheduler"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Schedule:
    schedule_id: int
    name: str
    target: str
    cron: str
    params: dict[str, Any]
    executor: str
    enabled: bool
    next_due: int
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class Fire:
    schedule: Schedule
    due_time: int
    fired_at: int


class SqlScheduleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save_schedule(
        self,
        name: str,
        target: str,
        cron: str,
        params: Mapping[str, Any],
        executor: str,
        *,
        enabled: bool = True,
        now: int | None = None,
    ) -> Schedule:
        """Create or replace the schedule ``name``; its next due time is computed from now."""
        now = now_ms() if now is None else now
        next_due = parse_cron(cron).next_after_ms(now)
        s = t.pipeline_schedules
        values = {
            "target": target,
            "cron": cron,
            "params": json.dumps(dict(params), sort_keys=True),
            "executor": executor,
            "enabled": enabled,
            "next_due": next_due,
            "updated_at": now,
        }

        def work(conn: Connection) -> None:
            found = conn.execute(select(s.c.schedule_id).where(s.c.name == name)).scalar()
            if found is None:
                conn.execute(insert(s).values(name=name, created_at=now, **values))
            else:
                conn.execute(update(s).where(s.c.schedule_id == found).values(**values))

        self.db.write(work)
        return self.get_schedule(name)

    def get_schedule(self, name: str) -> Schedule:
        s = t.pipeline_schedules
        with self.db.read() as conn:
            row = conn.execute(select(s).where(s.c.name == name)).first()
        if row is None:
            raise NotFound(f"schedule {name!r} does not exist; see `mlstage pipelines schedules`")
        return _schedule(row)

    def list_schedules(self) -> list[Schedule]:
        s = t.pipeline_schedules
        with self.db.read() as conn:
            return [_schedule(r) for r in conn.execute(select(s).order_by(s.c.name)).all()]

    def delete_schedule(self, name: str) -> None:
        s = t.pipeline_schedules

        def work(conn: Connection) -> None:
            if conn.execute(delete(s).where(s.c.name == name)).rowcount == 0:
                raise NotFound(f"schedule {name!r} does not exist")

        self.db.write(work)

    def try_lead(self, holder: str, ttl_ms: int, now: int | None = None) -> bool:
        """Take or renew the scheduler lease; True when ``holder`` leads until ``now + ttl``."""
        now = now_ms() if now is None else now
        lease = t.scheduler_leases

        def work(conn: Connection) -> bool:
            row = conn.execute(
                select(lease).where(lease.c.name == LEASE_NAME).with_for_update()
            ).first()
            if row is None:
                conn.execute(
                    insert(lease).values(name=LEASE_NAME, holder=holder, expires_at=now + ttl_ms)
                )
                return True
            if row.holder != holder and row.expires_at > now:
                return False
            conn.execute(
                update(lease)
                .where(lease.c.name == LEASE_NAME)
                .values(holder=holder, expires_at=now + ttl_ms)
            )
            return True

        try:
            return self.db.write(work)
        except sa_exc.IntegrityError:  # another scheduler inserted the lease first
            return False

    def release(self, holder: str) -> None:
        lease = t.scheduler_leases
        self.db.write(
            lambda conn: conn.execute(
                delete(lease).where(lease.c.name == LEASE_NAME, lease.c.holder == holder)
            )
        )

    def leader(self) -> tuple[str, int] | None:
        lease = t.scheduler_leases
        with self.db.read() as conn:
            row = conn.execute(select(lease).where(lease.c.name == LEASE_NAME)).first()
        return None if row is None else (row.holder, row.expires_at)

    def claim_due(self, holder: str, now: int | None = None) -> list[Fire]:
        """Record a fire for each enabled schedule that is due, moving its next due time on.

        Missed due times (the schedulers were down) fire once, not once each.
        """
        now = now_ms() if now is None else now
        s = t.pipeline_schedules
        with self.db.read() as conn:
            due = [
                _schedule(r)
                for r in conn.execute(
                    select(s).where(s.c.enabled.is_(True), s.c.next_due <= now)
                ).all()
            ]
        fired: list[Fire] = []
        for schedule in due:
            following = parse_cron(schedule.cron).next_after_ms(max(now, schedule.next_due))

            def work(conn: Connection, schedule: Schedule = schedule, nxt: int = following) -> bool:
                moved = conn.execute(
                    update(s)
                    .where(
                        s.c.schedule_id == schedule.schedule_id,
                        s.c.next_due == schedule.next_due,
                    )
                    .values(next_due=nxt, updated_at=now)
                ).rowcount
                if moved != 1:
                    return False  # another scheduler fired it meanwhile
                conn.execute(
                    insert(t.pipeline_schedule_fires).values(
                        schedule_id=schedule.schedule_id,
                        due_time=schedule.next_due,
                        fired_at=now,
                        scheduler=holder[:250],
                        pipeline_run_id=None,
                    )
                )
                return True

            try:
                if self.db.write(work):
                    fired.append(Fire(schedule, schedule.next_due, now))
            except sa_exc.IntegrityError:  # the (schedule, due time) fire exists already
                continue
        return fired

    def set_fire_run(self, schedule_id: int, due_time: int, run_id: str) -> None:
        f = t.pipeline_schedule_fires
        self.db.write(
            lambda conn: conn.execute(
                update(f)
                .where(f.c.schedule_id == schedule_id, f.c.due_time == due_time)
                .values(pipeline_run_id=run_id)
            )
        )

    def list_fires(self, schedule_name: str | None = None) -> list[dict[str, Any]]:
        f, s = t.pipeline_schedule_fires, t.pipeline_schedules
        query = (
            select(s.c.name, f.c.due_time, f.c.fired_at, f.c.scheduler, f.c.pipeline_run_id)
            .join(s, s.c.schedule_id == f.c.schedule_id)
            .order_by(f.c.due_time)
        )
        if schedule_name is not None:
            query = query.where(s.c.name == schedule_name)
        with self.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(query).all()]


def _schedule(row: Any) -> Schedule:
    return Schedule(
        schedule_id=row.schedule_id,
        name=row.name,
        target=row.target,
        cron=row.cron,
        params=json.loads(row.params),
        executor=row.executor,
        enabled=bool(row.enabled),
        next_due=row.next_due,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
