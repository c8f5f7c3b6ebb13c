"""The retraining state machine: fire once, cool down, verdicts, approval, the scheduler's tick."""

from __future__ import annotations

import json
import threading

import pytest

from mlstage.errors import Conflict, InvalidInput
from mlstage.monitoring.loop import run_tick, tick
from mlstage.monitoring.retraining import TrainingRun, events, list_retrainings, reject
from mlstage.monitoring.sql_retraining import Claim, SqlRetrainingStore
from mlstage.pipelines.scheduler import Scheduler
from mlstage.pipelines.sql_schedules import SqlScheduleStore
from tests.cli.conftest import Cli, cli
from tests.monitoring.loop_helpers import (
    DAY,
    HOUR,
    T0,
    Loop,
    canary_traffic,
    failing,
    loop,
    registering,
    sqlite_loop,
    write_log,
)

__all__ = ["cli", "loop", "sqlite_loop"]  # fixtures

DRIFT = {"name": "drift", "monitor": "input-drift", "metric": "drift_share", "above": 0.3}


def test_two_ticks_racing_start_one_retraining(loop: Loop) -> None:
    loop.result("input-drift", "drift_share", 0.6, T0 + HOUR)
    m = loop.monitoring(DRIFT)
    calls: list[int] = []
    start = threading.Barrier(2)
    made: list[list[str]] = []

    def scheduler() -> None:
        start.wait()
        found = tick(T0 + HOUR, monitorings=[m], run_pipeline=registering("REJECTED", calls))
        made.append([x.state for x in found])

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1, "the pipeline ran once"
    assert sorted(made, key=len) == [[], ["triggered", "training", "rejected"]]
    (only,) = list_retrainings(loop.db, "churn-prod")
    assert [x.state for x in events(loop.db, only.retraining_id)].count("triggered") == 1


def test_two_claims_racing_at_the_store_give_one_retraining(loop: Loop) -> None:
    store = SqlRetrainingStore(loop.db)
    claim = Claim(
        deployment="churn-prod", model="churn", trigger="drift", trigger_kind="threshold",
        observed=0.6, threshold=0.3, pipeline="train.py:training",
    )  # fmt: skip
    start = threading.Barrier(4)
    won: list[object] = []

    def race() -> None:
        start.wait()
        won.append(store.claim(claim, actor="scheduler", now=T0, cooldown_ms=DAY))

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r is not None for r in won) == 1
    assert len(store.find("churn-prod")) == 1


def test_no_second_retraining_within_the_cooldown(sqlite_loop: Loop) -> None:
    m = sqlite_loop.monitoring(DRIFT)
    sqlite_loop.result("input-drift", "drift_share", 0.6, T0 + HOUR)
    first = run_tick(T0 + HOUR, monitorings=[m], run_pipeline=failing)
    assert [x.state for x in first.transitions] == ["triggered", "training", "failed"]
    assert first.transitions[-1].reason == "step 'load': no rows in churn@latest"
    sqlite_loop.result("input-drift", "drift_share", 0.7, T0 + 2 * HOUR)
    held = run_tick(T0 + 2 * HOUR, monitorings=[m], run_pipeline=failing)
    assert held.transitions == []
    assert held.notes == [
        "churn-prod: cooling down after retraining 1 (failed) for 23h; triggers not evaluated"
    ]
    sqlite_loop.result("input-drift", "drift_share", 0.7, T0 + DAY + 2 * HOUR)
    again = run_tick(T0 + DAY + 2 * HOUR, monitorings=[m], run_pipeline=failing)
    assert [x.state for x in again.transitions] == ["triggered", "training", "failed"]
    assert [r.retraining_id for r in list_retrainings(sqlite_loop.db)] == [2, 1]


def test_a_rejected_or_unvalidated_candidate_is_not_released(sqlite_loop: Loop) -> None:
    sqlite_loop.result("input-drift", "drift_share", 0.6, T0 + HOUR)
    m = sqlite_loop.monitoring(DRIFT)
    found = tick(T0 + HOUR, monitorings=[m], run_pipeline=registering("REJECTED"))
    assert found[-1].state == "rejected"
    assert found[-1].reason == (
        "version 2 failed the validation gate: roc_auc 0.500 < min 0.700: FAIL"
    )
    assert found[-1].details["candidate_version"] == 2
    deployment = sqlite_loop.deployments.get_deployment("churn-prod")
    assert (deployment.primary_version, deployment.candidate_version) == (1, None)

    sqlite_loop.result("input-drift", "drift_share", 0.6, T0 + 2 * DAY)
    unvalidated = tick(T0 + 2 * DAY, monitorings=[m], run_pipeline=registering("READY"))
    assert unvalidated[-1].state == "rejected"
    assert "version 3 has no validation verdict" in unvalidated[-1].reason


def test_manual_approval_then_a_maintainers_rejection(sqlite_loop: Loop, cli: Cli) -> None:
    release = {"strategy": "canary", "weight": 10, "window": "1h", "min_predictions": 5}
    m = sqlite_loop.monitoring(DRIFT, release={**release, "approval": "manual"})
    sqlite_loop.result("input-drift", "drift_share", 0.6, T0 + HOUR)
    started = tick(T0 + HOUR, monitorings=[m], run_pipeline=registering())
    assert [x.state for x in started] == ["triggered", "training", "validated", "canary"]
    write_log(sqlite_loop, canary_traffic(2, T0 + HOUR + 60_000, 10))
    assert tick(T0 + HOUR + 30 * 60_000, monitorings=[m]) == []  # inside the window
    waiting = tick(T0 + 3 * HOUR, monitorings=[m])
    assert [x.state for x in waiting] == ["awaiting_approval"]
    assert "waiting for a maintainer's approval" in waiting[0].reason

    shown = cli("monitor", "retrainings", "churn-prod")
    assert shown.exit_code == 0, shown.output
    assert "awaiting_approval" in shown.stdout and "churn/2" in shown.stdout
    approved = cli("monitor", "approve", "1", "--reason", "checked the canary dashboard")
    assert approved.exit_code == 0, approved.output
    assert "Retraining 1: churn/2 promoted by" in approved.stdout
    deployment = sqlite_loop.deployments.get_deployment("churn-prod")
    assert (deployment.primary_version, deployment.candidate_version) == (2, None)
    assert sqlite_loop.registry().get_registered_model("churn").aliases["champion"] == 2
    detail = cli("monitor", "retraining", "1", "--json")
    steps = json.loads(detail.stdout)["events"]
    assert [s["state"] for s in steps] == [
        "triggered", "training", "validated", "canary", "awaiting_approval", "promoted",
    ]  # fmt: skip
    assert {s["trigger"] for s in steps} == {"drift"}
    assert {s["observed"] for s in steps} == {0.6}
    assert steps[-1]["reason"] == "checked the canary dashboard"
    assert steps[-1]["actor"] not in ("", "scheduler")
    again = cli("monitor", "approve", "1")
    assert again.exit_code != 0
    assert "retraining 1 is promoted" in again.output

    approved_at = list_retrainings(sqlite_loop.db)[0].finished_at  # the CLI's clock
    assert approved_at is not None
    later = approved_at + 2 * DAY
    sqlite_loop.result("input-drift", "drift_share", 0.6, later)
    second = tick(later, monitorings=[m], run_pipeline=registering())
    assert second[-1].state == "canary" and second[-1].retraining_id == 2
    with pytest.raises(InvalidInput, match="reason: say why"):
        reject(sqlite_loop.db, 2, actor="ana", reason=" ")
    refused = cli("monitor", "reject", "2", "--reason", "latency doubled on the canary")
    assert refused.exit_code == 0, refused.output
    assert "rolled back" in refused.stdout
    deployment = sqlite_loop.deployments.get_deployment("churn-prod")
    assert (deployment.primary_version, deployment.candidate_version) == (2, None)
    (last, *_) = events(sqlite_loop.db, 2)[::-1]
    assert last.state == "rolled_back" and "latency doubled" in last.reason
    with pytest.raises(Conflict, match="retraining 2 is rolled_back"):
        reject(sqlite_loop.db, 2, actor="ana", reason="again")


def test_the_scheduler_runs_due_checks_as_leader_only(sqlite_loop: Loop, cli: Cli) -> None:
    (sqlite_loop.project / "monitoring.yaml").write_text(
        "deployment: churn-prod\ncheck_every: 1h\nmonitors:\n  - {type: service_health}\n"
    )
    now = [T0 + HOUR]
    schedules = SqlScheduleStore(sqlite_loop.db)
    leader = Scheduler(schedules, holder="a", launch=list, clock=lambda: now[0])
    other = Scheduler(schedules, holder="b", launch=list, clock=lambda: now[0])
    leader.tick()
    other.tick()
    assert (leader.leading, other.leading) == (True, False)
    results = cli("monitor", "results", "churn-prod", "--json")
    ends = {r["window_end"] for r in json.loads(results.stdout)}
    assert ends == {T0 + HOUR}, "the leader checked once, the other not at all"
    now[0] += 30 * 60_000
    leader.tick()  # not due yet
    now[0] += 30 * 60_000
    leader.tick()
    ends = {
        r["window_end"]
        for r in json.loads(cli("monitor", "results", "churn-prod", "--json").stdout)
    }
    assert ends == {T0 + HOUR, T0 + 2 * HOUR}


def test_monitor_tick_reports_checks_and_triggers(sqlite_loop: Loop, cli: Cli) -> None:
    (sqlite_loop.project / "monitoring.yaml").write_text(
        """deployment: churn-prod
check_every: 1h
monitors:
  - {type: service_health}
triggers:
  - {name: drift, monitor: input-drift, metric: drift_share, above: 0.3}
retrain: {pipeline: train.py:training}
release: {strategy: shadow}
"""
    )
    found = cli("monitor", "tick", "--json")
    assert found.exit_code == 0, found.output
    report = json.loads(found.stdout)
    assert [c["deployment"] for c in report["checks"]] == ["churn-prod"]
    assert [(o["trigger"], o["fired"]) for o in report["observations"]] == [("drift", False)]
    assert report["transitions"] == [] and report["errors"] == []
    missing = cli("monitor", "tick", "--deployment", "other")
    assert missing.exit_code != 0
    assert "no check_every, triggers or retrain declared for deployment 'other'" in missing.output
    assert cli("monitor", "retraining", "9").exit_code != 0


def test_a_deployment_that_is_not_deployed_is_an_error_of_the_tick_only(
    sqlite_loop: Loop,
) -> None:
    ghost = sqlite_loop.monitoring(DRIFT).model_copy(update={"deployment": "ghost"})
    real = sqlite_loop.monitoring(DRIFT)
    sqlite_loop.result("input-drift", "drift_share", 0.6, T0 + HOUR)
    report = run_tick(T0 + HOUR, monitorings=[ghost, real], run_pipeline=failing)
    assert report.errors == ["ghost: deployment 'ghost' does not exist"]
    assert [x.state for x in report.transitions] == ["triggered", "training", "failed"]


def test_a_shadow_release_and_a_pipeline_that_raises(sqlite_loop: Loop) -> None:
    def broken(target: str, params: dict[str, object]) -> TrainingRun:
        raise RuntimeError("the feature store is down")

    m = sqlite_loop.monitoring(DRIFT, release={"strategy": "shadow", "window": "1h"})
    sqlite_loop.result("input-drift", "drift_share", 0.6, T0 + HOUR)
    crashed = tick(T0 + HOUR, monitorings=[m], run_pipeline=broken)
    assert [x.state for x in crashed] == ["triggered", "training", "failed"]
    assert crashed[-1].reason == "RuntimeError: the feature store is down"

    sqlite_loop.result("input-drift", "drift_share", 0.6, T0 + 3 * DAY)
    shadowed = tick(T0 + 3 * DAY, monitorings=[m], run_pipeline=registering())
    assert [x.state for x in shadowed][-1] == "shadow"
    assert shadowed[-1].reason == "churn/2 gets a copy for 1h"
    deployment = sqlite_loop.deployments.get_deployment("churn-prod")
    assert (deployment.strategy, deployment.candidate_version) == ("shadow", 2)
