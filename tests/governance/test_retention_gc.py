"""Retention deletes exactly the expired request logs, monitor results and feedback; garbage
collection deletes exactly the blobs nothing references. Both on SQLite and PostgreSQL, with a
simulated clock, and each applied twice (the second time a no-op)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlstage import config
from mlstage.artifacts.store import ArtifactStore
from mlstage.cli.main import app
from mlstage.config import Settings
from mlstage.errors import InvalidInput
from mlstage.governance.gc import blob_key, collect_garbage, run_gc
from mlstage.governance.retention import apply_retention
from mlstage.monitoring.feedback import Label
from mlstage.monitoring.results import MetricResult, SqlMonitorResults
from mlstage.monitoring.sql_feedback import SqlFeedbackStore
from mlstage.serving.request_log import PredictionRecord
from mlstage.serving.request_log_store import SqlPredictionLogStore, day_of, prepare_file
from mlstage.store import tables as t
from mlstage.store.database import Database, get_database
from mlstage.tracking.sql_store import SqlTrackingStore

DAY = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NOW = T0 + 50 * DAY


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, project: Path) -> Settings:
    """A project whose metadata is on each database (its artifacts in the project folder)."""
    found = config.get_settings()
    if request.param == "postgres":
        found = found.with_overrides(tracking_uri=request.getfixturevalue("postgres_url"))
    config.set_settings(found)
    return found


def db_of(settings: Settings) -> Database:
    return get_database(settings.tracking_uri)


def blobs(settings: Settings) -> ArtifactStore:
    return ArtifactStore(settings.artifact_root)


def log_day(settings: Settings, model: str, day_ms: int, rows: int = 3) -> tuple[str, list[str]]:
    """One request-log file of ``model`` on the day of ``day_ms``: its sha256 and prediction ids."""
    ids = [uuid.uuid4().hex for _ in range(rows)]
    records = [
        PredictionRecord(pid, day_ms + i, model, 1, None, "primary", None, {"x": i}, 1, None, 1.0)
        for i, pid in enumerate(ids)
    ]
    file = prepare_file(model, day_of(day_ms), records)
    SqlPredictionLogStore(db_of(settings), blobs(settings)).write_file(file)
    return file.sha256, ids


def rows(settings: Settings, table: Any, column: Any) -> list[Any]:
    with db_of(settings).read() as conn:
        return sorted(conn.execute(table.select().with_only_columns(column)).scalars())


# -- retention ------------------------------------------------------------------------------


def test_retention_deletes_exactly_the_expired_data_per_classification(settings: Settings) -> None:
    churn_old, old_ids = log_day(settings, "churn", T0)
    churn_mid, _ = log_day(settings, "churn", T0 + 10 * DAY)
    churn_new, new_ids = log_day(settings, "churn", T0 + 40 * DAY)
    fraud_new, _ = log_day(settings, "fraud", T0 + 40 * DAY)
    fraud_newest, _ = log_day(settings, "fraud", T0 + 49 * DAY)
    results = SqlMonitorResults(db_of(settings))
    results.add(
        [
            MetricResult(subject="churn", model="churn", monitor="drift", metric="share",
                         window_start=end - DAY, window_end=end, value=0.1)
            for end in (T0 + DAY, T0 + 45 * DAY)
        ]
    )  # fmt: skip
    feedback = SqlFeedbackStore(
        db_of(settings), blobs(settings), lookback_days=400, clock=lambda: NOW
    )
    added = feedback.add_labels(
        [Label(prediction_id=pid, label=1) for pid in (old_ids[0], new_ids[0])]
    )
    assert added.accepted == 2
    settings = settings.with_overrides(retention_days=("*=30", "restricted=5"))

    def classify(model: str) -> str | None:
        return "restricted" if model == "fraud" else None

    dry = apply_retention(settings, NOW, dry_run=True, classify=classify)
    assert (dry.log_files, dry.monitor_results, dry.feedback) == (3, 1, 1)
    assert rows(settings, t.prediction_logs, t.prediction_logs.c.sha256) == sorted(
        [churn_old, churn_mid, churn_new, fraud_new, fraud_newest]
    )  # the dry run changed nothing
    assert dry.log_bytes == sum(
        os.path.getsize(blob_key(blobs(settings), s)) for s in (churn_old, churn_mid, fraud_new)
    )

    done = apply_retention(settings, NOW, classify=classify)
    assert done.to_dict() | {"dry_run": True, "blobs_deleted": 0} == dry.to_dict()
    assert done.blobs_deleted == 3
    by_model = {m.model: (m.classification, m.log_files, m.log_rows) for m in done.models}
    assert by_model == {"churn": ("internal", 2, 6), "fraud": ("restricted", 1, 3)}
    assert rows(settings, t.prediction_logs, t.prediction_logs.c.sha256) == sorted(
        [churn_new, fraud_newest]
    )
    for sha, kept in [(churn_old, False), (churn_mid, False), (fraud_new, False),
                      (churn_new, True), (fraud_newest, True)]:  # fmt: skip
        assert os.path.exists(blob_key(blobs(settings), sha)) is kept
    assert rows(settings, t.monitor_results, t.monitor_results.c.window_end) == [T0 + 45 * DAY]
    assert rows(settings, t.feedback, t.feedback.c.prediction_id) == [new_ids[0]]

    again = apply_retention(settings, NOW, classify=classify)
    assert (again.models, again.blobs_deleted) == ([], 0)


def test_retention_without_a_policy_keeps_everything_and_checks_its_setting(
    settings: Settings,
) -> None:
    log_day(settings, "churn", T0)
    assert apply_retention(settings, NOW).models == []
    assert len(rows(settings, t.prediction_logs, t.prediction_logs.c.file_id)) == 1
    with pytest.raises(InvalidInput, match="'secret' is not a classification"):
        apply_retention(settings.with_overrides(retention_days=("secret=3",)), NOW)
    with pytest.raises(InvalidInput, match="entry 'internal=soon' must be classification=days"):
        apply_retention(settings.with_overrides(retention_days=("internal=soon",)), NOW)


def test_retention_apply_command(settings: Settings) -> None:
    log_day(settings, "churn", T0)
    env = {"MLSTAGE_RETENTION_DAYS": "*=30", "MLSTAGE_TRACKING_URI": settings.tracking_uri}
    dry = CliRunner().invoke(app, ["retention", "apply", "--dry-run", "--json"], env=env)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["log_files"] == 1
    done = CliRunner().invoke(app, ["retention", "apply"], env=env)
    assert done.exit_code == 0 and "churn" in done.output and "Freed" in done.output
    again = CliRunner().invoke(app, ["retention", "apply"], env=env)
    assert "Nothing has expired." in again.output


# -- garbage collection -----------------------------------------------------------------------


def test_gc_deletes_only_unreferenced_blobs_and_a_dry_run_nothing(settings: Settings) -> None:
    import pandas as pd

    import mlstage

    store = SqlTrackingStore(db_of(settings), blobs(settings))
    experiment = store.create_experiment("gc")
    dead = store.create_run(experiment.experiment_id, "dead").run_id
    live = store.create_run(experiment.experiment_id, "live").run_id
    shared = store.log_artifact(dead, "shared.txt", b"shared by a live run").sha256
    store.log_artifact(live, "copy.txt", b"shared by a live run")
    only_dead = store.log_artifact(dead, "model.bin", b"x" * 1000).sha256
    store.delete_run(dead)
    orphan, _ = blobs(settings).put_bytes(b"left by a write whose row never committed")
    young, _ = blobs(settings).put_bytes(b"being written right now")
    snapshot = mlstage.datasets.register("kept", pd.DataFrame({"a": [1, 2]})).snapshot_sha256
    now = int(time.time() * 1000) + 2 * 3_600_000  # two hours on: past the grace period
    os.utime(blob_key(blobs(settings), young), (now / 1000, now / 1000))

    dry = run_gc(settings, dry_run=True, now_ms=now)
    assert dry.deleted_runs == [dead] and dry.artifact_records == 2
    assert sorted(b.sha256 for b in dry.blobs) == sorted([only_dead, orphan])
    assert dry.bytes == 1000 + len(b"left by a write whose row never committed")
    assert dry.young_orphans == 1
    for sha in (shared, only_dead, orphan, young, snapshot):
        assert os.path.exists(blob_key(blobs(settings), sha))
    assert len(rows(settings, t.artifacts, t.artifacts.c.path)) == 3

    done = run_gc(settings, now_ms=now)
    assert done.to_dict() | {"dry_run": True} == dry.to_dict()
    for sha, kept in [(shared, True), (only_dead, False), (orphan, False), (young, True),
                      (snapshot, True)]:  # fmt: skip
        assert os.path.exists(blob_key(blobs(settings), sha)) is kept, sha
    assert store.read_artifact(live, "copy.txt") == b"shared by a live run"
    assert rows(settings, t.artifacts, t.artifacts.c.path) == ["copy.txt"]

    again = run_gc(settings, now_ms=now)
    assert (again.deleted_runs, again.blobs, again.bytes) == ([], [], 0)


def test_gc_command_lists_then_deletes(project: Path) -> None:
    blobs_root = config.get_settings()
    orphan, _ = blobs(blobs_root).put_bytes(b"orphan")
    old = time.time() - 7200
    os.utime(blob_key(blobs(blobs_root), orphan), (old, old))
    runner = CliRunner()
    dry = runner.invoke(app, ["gc", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["blobs"] == [{"sha256": orphan, "size": 6}]
    listed = runner.invoke(app, ["gc", "--dry-run"])
    assert orphan in listed.output and "Would free 6 B." in listed.output
    assert os.path.exists(blob_key(blobs(blobs_root), orphan))
    done = runner.invoke(app, ["gc"])
    assert done.exit_code == 0 and "Freed 6 B." in done.output
    assert not os.path.exists(blob_key(blobs(blobs_root), orphan))
    assert "Nothing to collect." in runner.invoke(app, ["gc"]).output


def test_gc_on_s3_keeps_referenced_blobs(s3_root: str, s3_server: str, sqlite_url: str) -> None:
    store = ArtifactStore(s3_root, s3_endpoint_url=s3_server)
    db = Database(sqlite_url)
    tracking = SqlTrackingStore(db, store)
    run = tracking.create_run(tracking.create_experiment("s3").experiment_id, "r").run_id
    kept = tracking.log_artifact(run, "a.txt", b"referenced").sha256
    orphan, _ = store.put_bytes(b"orphan on s3")
    later = int(time.time() * 1000) + 2 * 3_600_000
    dry = collect_garbage(db, store, dry_run=True, now_ms=later)
    assert [b.sha256 for b in dry.blobs] == [orphan] and store.exists(orphan)
    collect_garbage(db, store, now_ms=later)
    assert store.exists(kept) and not store.exists(orphan)
    db.dispose()


def test_the_readme_commands_of_the_section_work(project: Path) -> None:
    import re
    import shlex

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Personal data, retention and garbage collection", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None
    log_day(config.get_settings(), "churn", T0)
    for line in block.group(1).strip().splitlines():
        words = shlex.split(line, comments=True)
        env = dict(w.split("=", 1) for w in words if "=" in w and w.split("=")[0].isupper())
        args = [w for w in words if not ("=" in w and w.split("=")[0].isupper())]
        assert args[0] == "mlstage", line
        result = CliRunner().invoke(app, args[1:], env=env)
        assert result.exit_code == 0, f"{line}\n{result.output}"


def test_retention_follows_the_classification_a_model_inherits_from_its_data(
    project: Path,
) -> None:
    """No ``classify`` given: the model trained on a restricted dataset is restricted."""
    import pandas as pd

    import mlstage
    from mlstage.governance.classification import levels_of

    settings = config.get_settings()
    frame = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0], "fraud": [0, 1, 0, 1]})
    cards = mlstage.datasets.register("cards", frame)
    from mlstage.governance.classified import declare

    db_of(settings).write(
        lambda conn: declare(
            conn, levels_of(settings), "dataset", "cards", "restricted", actor="ada", at=T0
        )
    )
    from sklearn.linear_model import LogisticRegression

    with mlstage.start_run():
        mlstage.log_input(cards)
        model = LogisticRegression().fit(frame[["amount"]], frame["fraud"])
        uri = mlstage.log_model(model, "model", input_example=frame[["amount"]]).model_uri
    mlstage.register_model(uri, "fraud")
    fraud_old, _ = log_day(settings, "fraud", T0 + 40 * DAY)
    churn_old, _ = log_day(settings, "churn", T0 + 40 * DAY)
    settings = settings.with_overrides(retention_days=("*=30", "restricted=5"))
    done = apply_retention(settings, NOW)
    assert done.log_files == 1
    assert rows(settings, t.prediction_logs, t.prediction_logs.c.sha256) == [churn_old]
