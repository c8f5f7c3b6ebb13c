"""Triggers of each kind, firing and not, and the mistakes in their declarations."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlstage.errors import InvalidInput
from mlstage.monitoring.definitions import load_monitoring
from mlstage.monitoring.loop import run_tick
from mlstage.monitoring.sql_retraining import Claim, SqlRetrainingStore
from mlstage.monitoring.triggers import TriggerContext, evaluate
from tests.monitoring.loop_helpers import (
    DAY,
    HOUR,
    T0,
    Loop,
    failing,
    loop,
    register_version,
    sqlite_loop,
)

__all__ = ["loop", "sqlite_loop"]  # fixtures


def observe(loop: Loop, trigger: dict[str, object], now: int) -> tuple[bool, object, str]:
    m = loop.monitoring(trigger)
    deployment = loop.deployments.get_deployment("churn-prod")
    created = loop.registry().get_model_version("churn", 1).created_at
    ctx = TriggerContext(loop.db, deployment, SqlRetrainingStore(loop.db), now, created)
    found = evaluate(m.triggers[0], ctx)
    return found.fired, found.observed, found.reason


def test_a_drift_threshold_fires_above_its_limit_only(loop: Loop) -> None:
    drift = {"name": "drift", "monitor": "input-drift", "metric": "drift_share", "above": 0.3}
    assert observe(loop, drift, T0 + HOUR)[0] is False  # no result yet
    loop.result("input-drift", "drift_share", 0.25, T0 + HOUR)
    assert observe(loop, drift, T0 + HOUR)[:2] == (False, 0.25)
    loop.result("input-drift", "drift_share", 0.5, T0 + 2 * HOUR)
    fired, observed, reason = observe(loop, drift, T0 + 2 * HOUR)
    assert (fired, observed) == (True, 0.5)
    assert reason == "drift_share of input-drift = 0.5 is above 0.3"
    loop.result("input-drift", "drift_share", None, T0 + 3 * HOUR)  # too few rows
    assert observe(loop, drift, T0 + 3 * HOUR)[:2] == (False, None)


def test_a_performance_threshold_fires_below_its_limit_only(sqlite_loop: Loop) -> None:
    decay = {"name": "decay", "monitor": "performance", "metric": "roc_auc", "below": 0.8}
    sqlite_loop.result("performance", "roc_auc", 0.85, T0 + HOUR)
    sqlite_loop.result("performance", "accuracy", 0.10, T0 + HOUR)  # another metric
    assert observe(sqlite_loop, decay, T0 + HOUR)[:2] == (False, 0.85)
    sqlite_loop.result("performance", "roc_auc", 0.72, T0 + 2 * HOUR)
    assert observe(sqlite_loop, decay, T0 + 2 * HOUR)[:2] == (True, 0.72)


def test_results_from_before_the_last_retraining_do_not_fire_again(sqlite_loop: Loop) -> None:
    drift = {"name": "drift", "monitor": "input-drift", "metric": "drift_share", "above": 0.3}
    sqlite_loop.result("input-drift", "drift_share", 0.9, T0 + HOUR)
    m = sqlite_loop.monitoring(drift)
    first = run_tick(T0 + HOUR, monitorings=[m], run_pipeline=failing)
    assert [x.state for x in first.transitions] == ["triggered", "training", "failed"]
    later = run_tick(T0 + 3 * DAY, monitorings=[m], run_pipeline=failing)
    assert later.transitions == []
    assert "no result of input-drift/drift_share since the last retraining" in (
        later.observations[0].reason
    )


def test_a_schedule_fires_at_each_due_time_once(sqlite_loop: Loop) -> None:
    weekly = {"name": "weekly", "schedule": "0 3 * * 1"}  # Mondays 03:00 UTC
    monday = 1_780_282_800_000  # 2026-06-01 03:00 UTC, the first Monday after T0
    assert observe(sqlite_loop, weekly, monday - 60_000)[0] is False
    fired, observed, reason = observe(sqlite_loop, weekly, monday)
    assert (fired, observed) == (True, None)
    assert reason == "schedule '0 3 * * 1' was due at 2026-06-01 03:00 UTC"
    store = SqlRetrainingStore(sqlite_loop.db)
    claim = Claim(
        deployment="churn-prod", model="churn", trigger="weekly", trigger_kind="schedule",
        pipeline="train.py:training",
    )  # fmt: skip
    claimed = store.claim(claim, actor="scheduler", now=monday + 5_000, cooldown_ms=0)
    assert claimed is not None
    store.move(claimed.retraining_id, {"triggered"}, "failed", actor="scheduler", now=monday)
    assert observe(sqlite_loop, weekly, monday + DAY)[0] is False
    assert observe(sqlite_loop, weekly, monday + 7 * DAY)[0] is True


def test_new_rows_count_from_the_data_the_champion_was_trained_on(loop: Loop) -> None:
    from mlstage.data import datasets

    rows = pd.DataFrame({"x1": range(100), "y": [0, 1] * 50})
    new_data = {"name": "new-data", "dataset": "churn-data", "new_rows": 50}
    assert observe(loop, new_data, T0)[2] == "dataset 'churn-data' is not registered"
    datasets.register("churn-data", rows)
    # v1 was registered before the data: every row is new
    fired, observed, _ = observe(loop, new_data, T0)
    assert (fired, observed) == (True, 100.0)
    version = register_version()  # trained on churn-data v1, now serving
    deployments = loop.deployments
    deployments.deploy("churn-prod", "churn", "prod", version)
    fired, observed, reason = observe_serving(loop, new_data, version)
    assert (fired, observed) == (False, 0.0)
    assert "churn-data has 0 new rows since version 1" in reason
    datasets.register("churn-data", pd.concat([rows, rows.head(40)], ignore_index=True))
    assert observe_serving(loop, new_data, version)[:2] == (False, 40.0)
    datasets.register("churn-data", pd.concat([rows, rows.head(60)], ignore_index=True))
    assert observe_serving(loop, new_data, version)[:2] == (True, 60.0)


def observe_serving(
    loop: Loop, trigger: dict[str, object], version: int
) -> tuple[bool, object, str]:
    m = loop.monitoring(trigger)
    deployment = loop.deployments.get_deployment("churn-prod")
    created = loop.registry().get_model_version("churn", version).created_at
    ctx = TriggerContext(loop.db, deployment, SqlRetrainingStore(loop.db), T0, created)
    found = evaluate(m.triggers[0], ctx)
    return found.fired, found.observed, found.reason


def test_staleness_fires_once_the_serving_version_is_older_than_max_age(
    sqlite_loop: Loop,
) -> None:
    stale = {"name": "stale", "max_age": "30d"}
    created = sqlite_loop.registry().get_model_version("churn", 1).created_at
    fired, observed, reason = observe(sqlite_loop, stale, created + 29 * DAY)
    assert (fired, observed) == (False, 29.0)
    assert reason == "churn/1 is 29.0 days old; max_age is 30 days"
    assert observe(sqlite_loop, stale, created + 31 * DAY)[:2] == (True, 31.0)


def test_a_file_declares_every_kind(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(
        """
- deployment: churn-prod
  check_every: 1h
  triggers:
    - {name: drift, monitor: input-drift, metric: drift_share, above: 0.3}
    - {name: decay, monitor: performance, metric: roc_auc, below: 0.8}
    - {name: weekly, schedule: "0 3 * * 1"}
    - {name: new-data, dataset: churn, new_rows: 10000}
    - {name: stale, max_age: 30d}
  retrain: {pipeline: pipeline.py:training, params: {data: churn@latest}, cooldown: 1d}
  release: {strategy: canary, weight: 10, window: 1d, approval: auto, min_predictions: 200}
"""
    )
    (m,) = load_monitoring(path)
    assert [t.kind for t in m.triggers] == [
        "threshold", "threshold", "schedule", "new_data", "staleness",
    ]  # fmt: skip
    assert m.retrain is not None and m.retrain.target(m.base) == f"{tmp_path}/pipeline.py:training"
    assert m.retrain.cooldown_ms == DAY
    assert m.release is not None and m.release["min_predictions"] == 200


BASE = """deployment: d
retrain: {pipeline: p.py:training}
release: {strategy: canary}
"""


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("triggers:\n  - {name: x, monitor: m, metric: v}\n", "give exactly one of above or below"),
        ("triggers:\n  - {name: x}\n", r"triggers\.0: a trigger needs a name and exactly one of"),
        ("triggers:\n  - {name: x, schedule: '61 * * * *'}\n", "minute field '61'"),
        ("triggers:\n  - {name: x, max_age: 3q}\n", "max_age must be a duration"),
        (
            "triggers:\n  - {name: x, dataset: d, new_rows: 0}\n",
            "new_rows: Input should be greater",
        ),
        (
            "triggers:\n  - {name: X Y, max_age: 1d}\n",
            "name: Value error, must be 1-100 lower-case",
        ),
        ("triggers:\n  - {name: x, max_age: 1d, colour: red}\n", "colour: Extra inputs"),
        (
            "triggers:\n  - {name: x, max_age: 1d}\n  - {name: x, max_age: 2d}\n",
            "two triggers named x",
        ),
        ("check_every: soon\n", "check_every must be a duration"),
        ("check_window: -1\n", "check_window must be a positive duration"),
    ],
)
def test_mistakes_in_triggers_name_the_field(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(BASE + text)
    with pytest.raises(InvalidInput, match=match):
        load_monitoring(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("deployment: d\ntriggers:\n  - {name: x, max_age: 1d}\n", "triggers need a retrain"),
        ("deployment: d\nretrain: {pipeline: p.py}\n", "retrain needs a release"),
        (BASE.replace("p.py:training", "p.txt"), r"retrain\.pipeline: .*FILE\.py:PIPELINE"),
        (BASE.replace("{pipeline: p.py:training}", "{pipeline: p.py, cooldown: x}"), "cooldown"),
        (BASE.replace("canary}", "canary, weight: 200}"), r"release: .*weight: must be a perc"),
        (BASE.replace("canary}", "blue}"), r"release: .*strategy: Input should be 'canary'"),
        (BASE.replace("canary}", "canary, speed: 2}"), r"release: .*speed: unknown setting"),
        ("model: m\ntriggers:\n  - {name: x, max_age: 1d}\nretrain: {pipeline: p.py}\n"
         "release: {}\n", "give deployment, not model"),
    ],
)  # fmt: skip
def test_mistakes_in_retrain_and_release_name_the_field(
    tmp_path: Path, text: str, match: str
) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=match):
        load_monitoring(path)
