"""Retrainings and their transitions in the metadata database.

A retraining is claimed by inserting its row with ``active`` set to the
deployment's name: the unique constraint on ``active`` lets one retraining
of a deployment be in flight, whoever inserts it, two schedulers included.
The same transaction checks the cool-down of the last one. Every change of
state is an update guarded by the state it leaves plus an appended event,
in one transaction, so an approval and a scheduler tick cannot both move one
retraining.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy import exc as sa_exc

from mlstage.errors import Conflict, NotFound
from mlstage.store import tables as t
from mlstage.store.database import Database

STATES = (
    "triggered",
    "training",
    "validated",
    "rejected",
    "failed",
    "canary",
    "shadow",
    "awaiting_approval",
    "promoted",
    "rolled_back",
)
TERMINAL_STATES = frozenset({"rejected", "failed", "promoted", "rolled_back"})
ACTIVE_STATES = frozenset(STATES) - TERMINAL_STATES
RELEASED_STATES = frozenset({"canary", "shadow", "awaiting_approval"})

_R = t.retrainings.c
_E = t.retraining_events.c


class Retraining(BaseModel):
    """One retraining of a deployment: what fired it, what it trained, where it stands."""

    model_config = ConfigDict(frozen=True)

    retraining_id: int
    deployment: str
    model: str
    state: str
    trigger: str
    trigger_kind: str
    observed: float | None = None
    threshold: float | None = None
    trigger_details: dict[str, Any] = Field(default_factory=dict)
    pipeline: str
    params: dict[str, Any] = Field(default_factory=dict)
    pipeline_run_id: str | None = None
    champion_version: int | None = None
    candidate_version: int | None = None
    release: dict[str, Any] = Field(default_factory=dict)
    release_started_at: int | None = None
    decision: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    created_by: str = ""
    created_at: int
    updated_at: int
    finished_at: int | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class Transition(BaseModel):
    """One step of a retraining, as appended to ``retraining_events``."""

    model_config = ConfigDict(frozen=True)

    event_id: int
    retraining_id: int
    deployment: str
    from_state: str | None
    state: str
    at: int
    actor: str
    trigger: str
    observed: float | None = None
    threshold: float | None = None
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class Claim(BaseModel):
    """What a fired trigger asks for: the retraining row to insert."""

    deployment: str
    model: str
    trigger: str
    trigger_kind: str
    observed: float | None = None
    threshold: float | None = None
    trigger_details: dict[str, Any] = Field(default_factory=dict)
    pipeline: str
    params: dict[str, Any] = Field(default_factory=dict)
    champion_version: int | None = None
    release: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True, allow_nan=False)


def _retraining(row: Any) -> Retraining:
    data = dict(row._mapping)
    data.pop("active", None)
    for key in ("trigger_details", "params", "release", "decision"):
        data[key] = json.loads(data[key] or "{}")
    return Retraining(**data)


def _transition(row: Any) -> Transition:
    data = dict(row._mapping)
    data["details"] = json.loads(data["details"] or "{}")
    return Transition(**data)


class SqlRetrainingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writes -----------------------------------------------------------------------------

    def claim(self, claim: Claim, *, actor: str, now: int, cooldown_ms: int) -> Retraining | None:
        """Start a retraining in state ``triggered``; None when one is in flight or cooling down."""

        def work(conn: Connection) -> int | None:
            ended = conn.execute(
                select(func.max(_R.finished_at)).where(_R.deployment == claim.deployment)
            ).scalar()
            if ended is not None and now < int(ended) + cooldown_ms:
                return None
            row_id = conn.execute(
                insert(t.retrainings).values(
                    deployment=claim.deployment,
                    model=claim.model,
                    state="triggered",
                    trigger=claim.trigger[:100],
                    trigger_kind=claim.trigger_kind,
                    observed=claim.observed,
                    threshold=claim.threshold,
                    trigger_details=_dumps(claim.trigger_details),
                    pipeline=claim.pipeline,
                    params=_dumps(claim.params),
                    champion_version=claim.champion_version,
                    release=_dumps(claim.release),
                    decision="{}",
                    reason=claim.reason,
                    active=claim.deployment,
                    created_by=actor[:250],
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key
            assert row_id is not None
            retraining_id = int(row_id[0])
            self._event(conn, retraining_id, claim, None, "triggered", actor, now, claim.reason, {})
            return retraining_id

        try:
            found = self.db.write(work)
        except sa_exc.IntegrityError:  # another retraining of the deployment is in flight
            return None
        return None if found is None else self.get(found)

    def move(
        self,
        retraining_id: int,
        leaving: Collection[str],
        state: str,
        *,
        actor: str,
        now: int,
        reason: str = "",
        details: dict[str, Any] | None = None,
        **values: Any,
    ) -> Retraining:
        """Go from one of ``leaving`` to ``state``, with an event; Conflict if it moved already."""
        if state not in STATES:
            raise ValueError(f"unknown retraining state {state!r}")
        changes = {k: (_dumps(v) if k in ("decision",) else v) for k, v in values.items()}
        if state in TERMINAL_STATES:
            changes.update(active=None, finished_at=now)
        if reason:
            changes["reason"] = reason

        def work(conn: Connection) -> None:
            row = conn.execute(
                select(t.retrainings).where(_R.retraining_id == retraining_id)
            ).first()
            if row is None:
                raise NotFound(f"retraining {retraining_id} does not exist")
            if row.state not in leaving:
                raise Conflict(
                    f"retraining {retraining_id} is {row.state}, not {' or '.join(leaving)}"
                )
            moved = conn.execute(
                update(t.retrainings)
                .where(_R.retraining_id == retraining_id, _R.state == row.state)
                .values(state=state, updated_at=now, **changes)
            ).rowcount
            if moved != 1:
                raise Conflict(f"retraining {retraining_id} changed meanwhile; look again")
            self._event(conn, retraining_id, row, row.state, state, actor, now, reason, details)

        self.db.write(work)
        return self.get(retraining_id)

    def note(self, retraining_id: int, **values: Any) -> None:
        """Record figures on the row without a transition (the latest canary decision)."""
        changes = {k: (_dumps(v) if k == "decision" else v) for k, v in values.items()}
        self.db.write(
            lambda conn: conn.execute(
                update(t.retrainings).where(_R.retraining_id == retraining_id).values(**changes)
            )
        )

    @staticmethod
    def _event(
        conn: Connection,
        retraining_id: int,
        source: Any,
        from_state: str | None,
        state: str,
        actor: str,
        now: int,
        reason: str,
        details: dict[str, Any] | None,
    ) -> None:
        conn.execute(
            insert(t.retraining_events).values(
                retraining_id=retraining_id,
                deployment=source.deployment,
                from_state=from_state,
                state=state,
                at=now,
                actor=actor[:250],
                trigger=source.trigger,
                observed=source.observed,
                threshold=source.threshold,
                reason=reason,
                details=_dumps(details or {}),
            )
        )

    # -- reads ------------------------------------------------------------------------------

    def get(self, retraining_id: int) -> Retraining:
        with self.db.read() as conn:
            row = conn.execute(
                select(t.retrainings).where(_R.retraining_id == retraining_id)
            ).first()
        if row is None:
            raise NotFound(
                f"retraining {retraining_id} does not exist; see `mlstage monitor retrainings`"
            )
        return _retraining(row)

    def find(self, deployment: str | None = None, *, limit: int = 100) -> list[Retraining]:
        query = select(t.retrainings).order_by(_R.retraining_id.desc()).limit(limit)
        if deployment is not None:
            query = query.where(_R.deployment == deployment)
        with self.db.read() as conn:
            return [_retraining(r) for r in conn.execute(query).all()]

    def in_flight(self, deployment: str) -> Retraining | None:
        with self.db.read() as conn:
            row = conn.execute(select(t.retrainings).where(_R.active == deployment)).first()
        return None if row is None else _retraining(row)

    def last_finished(self, deployment: str) -> Retraining | None:
        query = (
            select(t.retrainings)
            .where(_R.deployment == deployment, _R.finished_at.is_not(None))
            .order_by(_R.finished_at.desc(), _R.retraining_id.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _retraining(row)

    def last_fired(self, deployment: str, trigger: str) -> Retraining | None:
        query = (
            select(t.retrainings)
            .where(_R.deployment == deployment, _R.trigger == trigger)
            .order_by(_R.retraining_id.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _retraining(row)

    def events(self, retraining_id: int) -> list[Transition]:
        query = (
            select(t.retraining_events)
            .where(_E.retraining_id == retraining_id)
            .order_by(_E.event_id)
        )
        with self.db.read() as conn:
            return [_transition(r) for r in conn.execute(query).all()]

    def deployment_events(self, deployment: str, *, limit: int = 500) -> list[Transition]:
        query = (
            select(t.retraining_events)
            .where(_E.deployment == deployment)
            .order_by(_E.event_id.desc())
            .limit(limit)
        )
        with self.db.read() as conn:
            return [_transition(r) for r in conn.execute(query).all()]
