"""Entities built from trusted rows behave exactly like validated ones."""

from __future__ import annotations

import math

from mlstage.tracking.entities import Metric, Run, RunContext, RunStatus, trusted


def test_trusted_metric_equals_a_validated_one() -> None:
    fast = trusted(Metric, {"key": "auc", "value": 0.5, "step": 3, "timestamp": 7})
    slow = Metric(key="auc", value=0.5, step=3, timestamp=7)
    assert fast == slow
    assert fast.model_dump() == slow.model_dump()
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_copy(update={"step": 4}).step == 4
    assert repr(fast) == repr(slow)


def test_nan_metrics_compare_equal() -> None:
    nan = float("nan")
    assert Metric(key="a", value=nan) == trusted(
        Metric, {"key": "a", "value": nan, "step": 0, "timestamp": 0}
    )
    assert math.isnan(Metric(key="a", value=nan).value)


def test_trusted_run_serialises_like_a_validated_one() -> None:
    fields = {
        "run_id": "a" * 32,
        "experiment_id": "1",
        "name": "r",
        "status": RunStatus.FINISHED,
        "lifecycle_stage": "active",
        "start_time": 1,
        "end_time": 5,
        "status_reason": "",
        "context": trusted(
            RunContext,
            {
                "user": "u",
                "host": "h",
                "source": "",
                "command": "",
                "git_commit": None,
                "git_dirty": None,
                "python_version": "3.11",
                "packages": {},
            },
        ),
        "metrics": {"m": 1.0},
        "params": {},
        "tags": {},
        "inputs": [],
    }
    fast = trusted(Run, dict(fields))
    slow = Run.model_validate({**fields, "context": fields["context"].model_dump()})
    assert fast.model_dump() == slow.model_dump()
    assert fast.duration_ms == 4
