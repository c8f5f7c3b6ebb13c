"""``mlstage feedback import`` and ``mlstage monitor check|results|alerts`` in a project."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlstage import config
from mlstage.artifacts.store import ArtifactStore
from mlstage.store.database import Database
from tests.cli.conftest import Cli, cli
from tests.monitoring.conftest import Env, Receiver, receiver, record

__all__ = ["cli", "receiver"]  # fixtures


def project_env() -> Env:
    settings = config.get_settings()
    return Env(settings, Database(settings.tracking_uri), ArtifactStore(settings.artifact_root))


def test_feedback_import_reports_unknown_ids_and_monitor_check_uses_the_labels(
    cli: Cli, project: Path, receiver: Receiver, monkeypatch: object
) -> None:
    now = time.time_ns() // 1_000_000
    rng = np.random.default_rng(5)
    rows = [
        record({"x": float(rng.normal())}, int(i % 3 == 0), at=now - 60_000 - i) for i in range(150)
    ]
    project_env().log(rows)
    labels = pd.DataFrame(
        {
            "id": [r.prediction_id for r in rows[:100]] + ["ghost-1", "ghost-2"],
            "truth": [1] * 100 + [0, 0],
        }
    )
    labels.to_csv(project / "labels.csv", index=False)

    imported = cli(
        "feedback", "import", "labels.csv", "--id-column", "id", "--label-column", "truth"
    )
    assert imported.exit_code == 0, imported.output
    assert "102 label(s): 100 new, 0 updated, 0 unchanged, 2 unknown" in imported.stdout
    assert "ghost-1, ghost-2" in imported.stdout
    missing = cli("feedback", "import", "labels.csv")
    assert missing.exit_code == 2
    assert "no column 'prediction_id' (--id-column)" in missing.output

    (project / "monitoring.yaml").write_text(
        "model: churn\n"
        "monitors:\n"
        "  - type: performance\n"
        "    task: classification\n"
        "    metrics: [accuracy]\n"
        "    thresholds: {accuracy: {alert_below: 0.9}}\n"
        "  - type: service_health\n"
        "alerts:\n"
        "  - name: accuracy\n"
        "    metric: accuracy\n"
        "    comparison: '<'\n"
        "    threshold: 0.9\n"
        f"    webhook: {{url: '{receiver.url}', secret_env: HOOK_SECRET}}\n"
    )
    monkeypatch.setenv("HOOK_SECRET", "k")  # type: ignore[attr-defined]
    monkeypatch.setenv("MLSTAGE_ALERT_ALLOWED_NETWORKS", "127.0.0.1/32")  # type: ignore[attr-defined]
    checked = cli("monitor", "check", "churn", "--window", "1h", "--json")
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    got = {r["metric"]: r for r in report["results"]}
    assert got["label_coverage"]["value"] == 100 / 150
    assert got["accuracy"]["value"] == sum(i % 3 == 0 for i in range(100)) / 100
    assert got["accuracy"]["status"] == "alert"
    assert got["predictions"]["value"] == 150
    assert [d["status"] for d in report["deliveries"]] == ["delivered"]
    assert len(receiver.received) == 1

    failing = cli("monitor", "check", "churn", "--window", "1h", "--fail-on-alert", "--no-alerts")
    assert failing.exit_code == 1
    assert "accuracy" in failing.stdout and "status: alert" in failing.stdout
    history = cli("monitor", "results", "churn", "--metric", "accuracy", "--json")
    assert [r["status"] for r in json.loads(history.stdout)] == ["alert", "alert"]
    sent = cli("monitor", "alerts", "--json")
    assert [(d["rule"], d["status"]) for d in json.loads(sent.stdout)] == [
        ("accuracy", "delivered")
    ]
    unknown = cli("monitor", "check", "nothing-declared")
    assert unknown.exit_code == 2
    assert "declares no monitors for 'nothing-declared'" in unknown.output


def test_feedback_import_by_business_key(cli: Cli, project: Path) -> None:
    now = time.time_ns() // 1_000_000
    rows = [record({"x": 1}, 1, at=now - 60_000, request_key=f"user-{i}") for i in range(3)]
    project_env().log(rows)
    pd.DataFrame({"user": ["user-0", "user-2", "user-9"], "label": [1, 0, 1]}).to_csv(
        project / "by-user.csv", index=False
    )
    imported = cli("feedback", "import", "by-user.csv", "--key-column", "user", "--json")
    assert imported.exit_code == 0, imported.output
    result = json.loads(imported.stdout)
    assert (result["accepted"], result["unknown"], result["unknown_keys"]) == (2, [], ["user-9"])
    shown = cli("feedback", "import", "by-user.csv", "--key-column", "user")
    assert "2 unchanged, 1 unknown" in shown.stdout
    assert "no prediction in its window has these keys: user-9" in shown.stdout
