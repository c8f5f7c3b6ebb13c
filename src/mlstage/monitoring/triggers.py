"""Evaluating a deployment's triggers: does one of them ask for a retraining now?

Each trigger gives an ``Observation``: whether it fires, the figure it saw
and its limit, and a sentence saying why. Nothing here writes: the loop
(``loop.py``) claims a retraining for the first trigger that fires, and the
claim's unique constraint keeps it to one, whoever evaluates at the same time.

- **threshold**: the newest stored result of the monitor's metric computed
  after the deployment's last retraining (so the drift that caused one does
  not cause the next), above or below the limit.
- **schedule**: the first cron time after the trigger last fired (or after
  the deployment was created) has come.
- **new_data**: the registered dataset's newest version has ``new_rows``
  more rows than the version that was newest when the serving version was
  registered (the data the champion was trained on).
- **staleness**: the serving version was registered longer than ``max_age`` ago.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from mlstage.monitoring.trigger_definitions import (
    DataTrigger,
    ScheduleTrigger,
    StalenessTrigger,
    ThresholdTrigger,
)
from mlstage.store import tables as t

if TYPE_CHECKING:
    from mlstage.monitoring.sql_retraining import SqlRetrainingStore
    from mlstage.serving.deployments import Deployment
    from mlstage.store.database import Database

DAY_MS = 86_400_000
AnyTrigger = ThresholdTrigger | ScheduleTrigger | DataTrigger | StalenessTrigger


@dataclass(frozen=True)
class Observation:
    """What one trigger saw at ``now``."""

    trigger: str
    kind: str
    fired: bool
    observed: float | None
    threshold: float | None
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerContext:
    db: Database
    deployment: Deployment
    retrainings: SqlRetrainingStore
    now_ms: int
    registry_created_at: int
    """When the deployment's serving (primary) version was registered."""

    def results_since(self) -> int:
        """Results at or before this instant belong to an earlier retraining's story."""
        last = self.retrainings.find(self.deployment.name, limit=1)
        if not last:
            return 0
        return max(last[0].created_at, last[0].finished_at or 0)


def evaluate(trigger: AnyTrigger, ctx: TriggerContext) -> Observation:
    """The observation of one trigger (``fired`` tells whether it asks for a retraining)."""
    if isinstance(trigger, ThresholdTrigger):
        return _threshold(trigger, ctx)
    if isinstance(trigger, ScheduleTrigger):
        return _schedule(trigger, ctx)
    if isinstance(trigger, DataTrigger):
        return _new_data(trigger, ctx)
    return _staleness(trigger, ctx)


def first_fired(
    triggers: list[Any], ctx: TriggerContext
) -> tuple[Observation | None, list[Observation]]:
    """The first trigger (in declaration order) that fires, and every observation made."""
    seen: list[Observation] = []
    for trigger in triggers:
        found = evaluate(trigger, ctx)
        seen.append(found)
        if found.fired:
            return found, seen
    return None, seen


def _threshold(trigger: ThresholdTrigger, ctx: TriggerContext) -> Observation:
    from mlstage.monitoring.results import SqlMonitorResults

    since = ctx.results_since()
    found = SqlMonitorResults(ctx.db).list(
        ctx.deployment.name, monitor=trigger.monitor, metric=trigger.metric, limit=1
    )
    word = "above" if trigger.above is not None else "below"
    base = {"monitor": trigger.monitor, "metric": trigger.metric, "comparison": word}
    if not found or found[0].window_end <= since:
        why = f"no result of {trigger.monitor}/{trigger.metric} since the last retraining"
        return Observation(trigger.name, trigger.kind, False, None, trigger.threshold, why, base)
    result = found[0]
    details = {**base, "result_id": result.result_id, "window_end": result.window_end}
    if result.value is None:
        why = f"{trigger.monitor}/{trigger.metric} has no value: {result.details.get('note', '')}"
        return Observation(trigger.name, trigger.kind, False, None, trigger.threshold, why, details)
    fired = trigger.fires(result.value)
    verb = "is" if fired else "is not"
    why = (
        f"{trigger.metric} of {trigger.monitor} = {result.value:.4g} {verb} {word} "
        f"{trigger.threshold:g}"
    )
    return Observation(
        trigger.name, trigger.kind, fired, result.value, trigger.threshold, why, details
    )


def _schedule(trigger: ScheduleTrigger, ctx: TriggerContext) -> Observation:
    from mlstage.pipelines.cron import parse_cron

    last = ctx.retrainings.last_fired(ctx.deployment.name, trigger.name)
    since = last.created_at if last is not None else ctx.deployment.created_at
    due = parse_cron(trigger.schedule).next_after_ms(since)
    fired = due <= ctx.now_ms
    why = (
        f"schedule {trigger.schedule!r} was due at {_when(due)}"
        if fired
        else (f"schedule {trigger.schedule!r} is next due at {_when(due)}")
    )
    details = {"cron": trigger.schedule, "due": due}
    return Observation(trigger.name, trigger.kind, fired, None, None, why, details)


def _new_data(trigger: DataTrigger, ctx: TriggerContext) -> Observation:
    from mlstage.data.dataset_refs import canonical_dataset_name

    d, v = t.registered_datasets.c, t.dataset_versions.c
    with ctx.db.read() as conn:
        dataset_id = conn.execute(
            select(d.dataset_id).where(d.canonical_name == canonical_dataset_name(trigger.dataset))
        ).scalar()
        if dataset_id is None:
            why = f"dataset {trigger.dataset!r} is not registered"
            return Observation(trigger.name, trigger.kind, False, None, trigger.new_rows, why)
        newest = conn.execute(
            select(v.version, v.num_rows)
            .where(v.dataset_id == dataset_id)
            .order_by(v.version.desc())
            .limit(1)
        ).first()
        base_version = conn.execute(
            select(func.max(v.version)).where(
                v.dataset_id == dataset_id, v.created_at <= ctx.registry_created_at
            )
        ).scalar()
        base_rows = 0
        if base_version is not None:
            base_rows = int(
                conn.execute(
                    select(v.num_rows).where(v.dataset_id == dataset_id, v.version == base_version)
                ).scalar_one()
            )
    rows = int(newest.num_rows) if newest is not None else 0
    added = rows - base_rows
    details = {
        "dataset": trigger.dataset,
        "version": None if newest is None else int(newest.version),
        "rows": rows,
        "base_version": base_version,
        "base_rows": base_rows,
    }
    fired = added >= trigger.new_rows
    base = f"version {base_version}" if base_version is not None else "no version"
    why = (
        f"{trigger.dataset} has {added:,} new rows since {base} "
        f"(the champion's data); the trigger needs {trigger.new_rows:,}"
    )
    return Observation(
        trigger.name, trigger.kind, fired, float(added), trigger.new_rows, why, details
    )


def _staleness(trigger: StalenessTrigger, ctx: TriggerContext) -> Observation:
    age_days = (ctx.now_ms - ctx.registry_created_at) / DAY_MS
    limit_days = trigger.max_age_ms / DAY_MS
    fired = age_days > limit_days
    version = ctx.deployment.primary_version
    why = (
        f"{ctx.deployment.model}/{version} is {age_days:.1f} days old; "
        f"max_age is {limit_days:g} days"
    )
    details = {"version": version, "registered_at": ctx.registry_created_at}
    return Observation(trigger.name, trigger.kind, fired, age_days, limit_days, why, details)


def _when(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
