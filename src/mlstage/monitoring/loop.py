"""One tick of the monitoring loop: checks that are due, triggers, retrainings in flight.

    from mlstage.monitoring.loop import tick
    for transition in tick(now_ms, deployment="churn-prod"):
        print(transition.state, transition.reason)

For each deployment declared with ``check_every``, ``triggers`` or
``retrain`` (the project's ``monitoring.yaml``, or ``monitorings=``):

1. run its monitors (``run_check``) when ``check_every`` has passed since
   the newest stored result;
2. advance its retraining in flight, if any: train (the pipeline runs
   in-process by default), release the validated candidate, judge the
   canary (promote, wait for approval, roll back);
3. otherwise evaluate its triggers and start a retraining for the first
   that fires, then run it as far as it goes without waiting.

Everything takes ``now_ms``, so a demo can play days in seconds. The
scheduler calls ``tick`` each round while it leads; a failure of one
deployment is reported and the others still run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from mlstage.errors import Conflict, MlstageError
from mlstage.monitoring.retraining import SCHEDULER, RunPipeline, Steps, run_in_process
from mlstage.monitoring.sql_retraining import RELEASED_STATES, Claim, Retraining, Transition
from mlstage.store import tables as t

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.monitoring.definitions import Monitoring
    from mlstage.monitoring.triggers import Observation
    from mlstage.store.database import Database

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one tick did: checks run, triggers seen, transitions made, errors met."""

    now_ms: int
    checks: list[dict[str, Any]] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Why triggers were not evaluated (a cool-down)."""
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "now_ms": self.now_ms,
            "checks": self.checks,
            "observations": [vars(o) for o in self.observations],
            "transitions": [x.model_dump(mode="json") for x in self.transitions],
            "notes": self.notes,
            "errors": self.errors,
        }


def tick(
    now_ms: int | None = None,
    *,
    deployment: str | None = None,
    run_pipeline: RunPipeline = run_in_process,
    monitorings: Sequence[Monitoring] | None = None,
    settings: Settings | None = None,
) -> list[Transition]:
    """One round of the loop; the transitions it made, oldest first."""
    found = run_tick(
        now_ms,
        deployment=deployment,
        run_pipeline=run_pipeline,
        monitorings=monitorings,
        settings=settings,
    )
    return found.transitions


def run_tick(
    now_ms: int | None = None,
    *,
    deployment: str | None = None,
    run_pipeline: RunPipeline = run_in_process,
    monitorings: Sequence[Monitoring] | None = None,
    settings: Settings | None = None,
) -> TickReport:
    """``tick`` with everything it saw (for ``mlstage monitor tick``)."""
    from mlstage.config import get_settings
    from mlstage.errors import NotFound
    from mlstage.monitoring.check import database_of

    settings = settings or get_settings()
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    report = TickReport(now)
    declared = list(monitorings) if monitorings is not None else declared_loops(settings)
    declared = [m for m in declared if m.deployment is not None and _loops(m)]
    if deployment is not None:
        declared = [m for m in declared if m.deployment == deployment]
        if not declared:
            raise NotFound(
                f"no check_every, triggers or retrain declared for deployment {deployment!r}"
            )
    db = database_of(settings)
    for item in declared:
        try:
            _one(item, db, settings, now, run_pipeline, report)
        except MlstageError as exc:
            report.errors.append(f"{item.deployment}: {exc.message}")
            log.warning("monitoring loop, %s: %s", item.deployment, exc.message)
    return report


def declared_loops(settings: Settings) -> list[Monitoring]:
    """The project's declarations (``monitoring.yaml`` next to mlstage.toml), or none."""
    from pathlib import Path

    from mlstage.monitoring.definitions import CONFIG_NAMES, load_monitoring

    for name in CONFIG_NAMES:
        path = Path(settings.project_root) / name
        if path.is_file():
            return load_monitoring(path)
    return []


def _loops(m: Monitoring) -> bool:
    return m.check_every is not None or bool(m.triggers) or m.retrain is not None


def _one(
    m: Monitoring,
    db: Database,
    settings: Settings,
    now: int,
    run_pipeline: RunPipeline,
    report: TickReport,
) -> None:
    assert m.deployment is not None
    if m.check_every is not None and m.monitors and _check_due(db, m, now):
        try:
            _check(m, settings, now, report)
        except MlstageError as exc:  # a broken check must not stall a canary's judgement
            report.errors.append(f"{m.deployment}: check: {exc.message}")
    if m.retrain is None:
        return
    steps = Steps(db, settings)
    current = steps.store.in_flight(m.deployment)
    if current is None:
        current = _maybe_trigger(m, steps, now, report)
        if current is None:
            return
    mark = _last_event(steps, current)
    try:
        _advance(current, m, steps, now, run_pipeline)
    except Conflict as exc:  # another scheduler moved it first
        log.info("monitoring loop, %s: %s", m.deployment, exc.message)
    finally:  # what moved before a failure is reported too
        report.transitions.extend(
            e for e in steps.store.events(current.retraining_id) if e.event_id > mark
        )


def _check_due(db: Database, m: Monitoring, now: int) -> bool:
    from mlstage.monitoring.definitions import parse_duration

    every_ms = int(parse_duration(m.check_every or 0, "check_every") * 1000)
    r = t.monitor_results.c
    with db.read() as conn:
        last = conn.execute(
            select(func.max(r.window_end)).where(r.subject == m.deployment)
        ).scalar()
    return last is None or now - int(last) >= every_ms


def _check(m: Monitoring, settings: Settings, now: int, report: TickReport) -> None:
    from mlstage.monitoring.check import run_check

    assert m.deployment is not None
    window = m.check_window or m.check_every or "1d"
    found = run_check(m.deployment, window=window, monitoring=m, settings=settings, now_ms=now)
    report.checks.append(
        {
            "deployment": m.deployment,
            "window_end": found.window_end,
            "predictions": found.predictions,
            "status": found.status,
            "alerts": [r.metric for r in found.results if r.status == "alert"],
        }
    )


def _maybe_trigger(m: Monitoring, steps: Steps, now: int, report: TickReport) -> Retraining | None:
    from mlstage.monitoring.triggers import TriggerContext, first_fired

    assert m.deployment is not None and m.retrain is not None
    if not m.triggers:
        return None
    last = steps.store.last_finished(m.deployment)
    if last is not None and last.finished_at is not None:
        until = last.finished_at + m.retrain.cooldown_ms
        if now < until:
            report.notes.append(
                f"{m.deployment}: cooling down after retraining {last.retraining_id} "
                f"({last.state}) for {_duration(until - now)}; triggers not evaluated"
            )
            return None
    deployment = steps.deployments.get_deployment(m.deployment)
    version = steps.registry.get_model_version(deployment.model, deployment.primary_version)
    ctx = TriggerContext(steps.db, deployment, steps.store, now, version.created_at)
    fired, seen = first_fired(list(m.triggers), ctx)
    report.observations.extend(seen)
    if fired is None:
        return None
    claim = Claim(
        deployment=deployment.name,
        model=deployment.model,
        trigger=fired.trigger,
        trigger_kind=fired.kind,
        observed=fired.observed,
        threshold=fired.threshold,
        trigger_details=fired.details,
        pipeline=m.retrain.target(m.base),
        params=m.retrain.params,
        champion_version=deployment.primary_version,
        release=m.release or {},
        reason=fired.reason,
    )
    return steps.store.claim(claim, actor=SCHEDULER, now=now, cooldown_ms=m.retrain.cooldown_ms)


def _duration(ms: int) -> str:
    from mlstage.monitoring.release import duration_text

    return duration_text(ms)


def _last_event(steps: Steps, r: Retraining) -> int:
    found = steps.store.events(r.retraining_id)
    # a retraining this tick claimed shows its `triggered` event too
    return 0 if len(found) == 1 and found[0].state == "triggered" else found[-1].event_id


def _advance(
    r: Retraining, m: Monitoring, steps: Steps, now: int, run_pipeline: RunPipeline
) -> None:
    assert m.retrain is not None
    if r.state == "training" and now - r.updated_at > m.retrain.timeout_ms:
        steps.store.move(
            r.retraining_id,
            {"training"},
            "failed",
            actor=SCHEDULER,
            now=now,
            reason=f"still training after {m.retrain.timeout}: the training process died?",
        )
        return
    if r.state == "triggered":
        r = steps.train(r, run_pipeline, now)
    if r.state == "validated":
        r = steps.release(r, now)
        return  # the canary needs traffic before it can be judged
    if r.state in RELEASED_STATES:
        steps.judge(r, now)
