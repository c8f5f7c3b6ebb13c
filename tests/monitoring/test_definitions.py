"""Monitoring files: YAML or Python, errors that name the place, rules that match results."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstage.errors import InvalidInput
from mlstage.monitoring.definitions import (
    AlertRule,
    FeatureDrift,
    find_monitoring,
    load_monitoring,
    parse_duration,
)


def test_a_python_file_declares_monitors_with_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "train.parquet").write_bytes(b"")
    (tmp_path / "monitoring.py").write_text(
        "from mlstage.monitoring import FeatureDrift, Monitoring, Staleness\n"
        "monitoring = [\n"
        "    Monitoring(deployment='churn-prod', monitors=[FeatureDrift(reference='train.parquet'),"
        " Staleness(thresholds={'model_age_days': {'alert_above': 30}})]),\n"
        "    Monitoring(model='fraud'),\n"
        "]\n"
    )
    found = find_monitoring("churn-prod", None, str(tmp_path))
    drift = found.monitors[0]
    assert isinstance(drift, FeatureDrift)
    assert found.path(drift.reference, "reference") == tmp_path / "train.parquet"
    assert found.monitors[1].bound_status("model_age_days", 45.0) == "alert"
    assert find_monitoring("fraud", None, str(tmp_path)).monitors == []
    with pytest.raises(InvalidInput, match="declares no monitors for 'other'.*churn-prod, fraud"):
        find_monitoring("other", None, str(tmp_path))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("model: m\nmonitors:\n  - type: drift\n", r"monitors\.0: Input tag 'drift'"),
        (
            "model: m\nmonitors:\n  - type: performance\n    task: ranking\n",
            "monitors.0.performance.task",
        ),
        (
            "model: m\nmonitors:\n  - {type: performance, task: regression, metrics: [auc]}\n",
            "unknown regression metric",
        ),
        ("model: m\ndeployment: d\n", "either deployment or model"),
        ("model: m\ncolour: red\n", "colour: Extra inputs are not permitted"),
        ("model: m\nalerts:\n  - {name: a, metric: x}\n", "needs a webhook or an email"),
        (
            "model: m\nalerts:\n  - {name: a, comparison: '>', email: {to: [a@b.c]}}\n",
            "comparison and threshold go together",
        ),
        ("model: m\nalerts:\n  - {name: a, webhook: {url: 'ftp://x'}}\n", "http:// or https://"),
        ("model: m\n  bad: [\n", "not valid YAML"),
    ],
)
def test_mistakes_in_a_yaml_file_name_their_place(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=match):
        load_monitoring(path)


def test_rules_match_by_comparison_or_by_status() -> None:
    by_value = AlertRule.model_validate(
        {
            "name": "r",
            "metric": "drift_score[*]",
            "comparison": ">",
            "threshold": 0.1,
            "email": {"to": ["a@b.c"]},
        }
    )
    assert by_value.matches("feature_drift", "drift_score[age]", 0.2, "ok")
    assert not by_value.matches("feature_drift", "drift_score[age]", 0.1, "alert")
    assert not by_value.matches("feature_drift", "drift_share", 0.9, "alert")
    by_status = AlertRule.model_validate(
        {"name": "s", "status": "warn", "email": {"to": ["a@b.c"]}}
    )
    assert by_status.matches("any", "metric", None, "warn")
    assert not by_status.matches("any", "metric", 1.0, "ok")
    assert by_status.cooldown_ms == 3_600_000


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("1d", 86400), ("2w", 1209600), (60, 60)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_durations_name_the_field() -> None:
    with pytest.raises(InvalidInput, match="window must be a duration like"):
        parse_duration("yesterday")
    with pytest.raises(InvalidInput, match="cooldown must be a positive duration"):
        parse_duration("0h", "cooldown")
