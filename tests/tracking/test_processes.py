"""Whole processes: concurrent writers on one SQLite file, SIGTERM, SIGKILL and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlstage.store.database import Database
from mlstage.store.migrate import HEAD_REVISION
from mlstage.tracking.entities import RunStatus

pytestmark = pytest.mark.slow


def run_script(
    project: Path, code: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``code`` in a fresh interpreter inside the project folder."""
    full_env = {k: x for k, x in os.environ.items() if not k.startswith("MLSTAGE_")}
    full_env.update(env or {})
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=project,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def store_for(project: Path, **overrides: object):  # type: ignore[no-untyped-def]
    from mlstage import config
    from mlstage.tracking.store import get_tracking_store

    config.set_settings(config.load_settings(start=project, **overrides))
    return get_tracking_store()


def test_sixteen_processes_log_into_one_sqlite_store(tmp_path: Path) -> None:
    """16 writers x 1,000 points at once: every point stored, no error reaches a user."""
    code = """
        import sys, mlstage
        mlstage.set_experiment("load")
        with mlstage.start_run(name=f"writer-{sys.argv[1]}") as run:
            for i in range(1000):
                mlstage.log_metric("m", float(i), step=i)
        print(run.run_id)
    """
    # A fresh file: the 16 processes also race to apply the migrations.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(n)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MLSTAGE_METRIC_FLUSH_INTERVAL": "0.05"},
        )
        for n in range(16)
    ]
    results = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower() and "error" not in err.lower(), err
    store = store_for(tmp_path)
    run_ids = [out.strip() for out, _ in results]
    assert len(set(run_ids)) == 16
    for run_id in run_ids:
        history = store.get_metric_history(run_id, "m")
        assert [m.step for m in history] == list(range(1000))
        assert store.get_run(run_id).status is RunStatus.FINISHED
    assert len(store.list_experiments()) == 1
    with Database(store.db.uri).read() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM metrics")).scalar() == 16_000
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (HEAD_REVISION,)
        ]


def _started_run(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert len(line) == 32, (
        f"no run id printed; stderr: {proc.stderr.read() if proc.stderr else ''}"
    )
    return line


SLEEPING_RUN = """
    import time, mlstage
    run = mlstage.start_run(name="sleeper")
    mlstage.log_metric("before", 1.0)
    print(run.run_id, flush=True)
    time.sleep(120)
"""


def test_sigterm_marks_the_run_killed(tmp_path: Path) -> None:
    proc = run_script(tmp_path, SLEEPING_RUN)
    run_id = _started_run(proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGTERM  # the process still dies of the signal
    run = store_for(tmp_path).get_run(run_id)
    assert run.status is RunStatus.KILLED
    assert run.status_reason == "killed by SIGTERM"
    assert run.metrics == {"before": 1.0}  # buffered points were flushed first


def test_sigkilled_run_becomes_failed_after_the_heartbeat_timeout(tmp_path: Path) -> None:
    env = {"MLSTAGE_HEARTBEAT_INTERVAL": "0.2"}
    proc = run_script(tmp_path, SLEEPING_RUN, env)
    run_id = _started_run(proc)
    time.sleep(0.5)  # a few heartbeats
    store = store_for(tmp_path, heartbeat_timeout=1.5)
    assert store.get_run(run_id).status is RunStatus.RUNNING  # alive: heartbeats keep it so
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while store.get_run(run_id).status is RunStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.3)
    run = store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert "no heartbeat" in run.status_reason


def test_uncaught_exception_without_a_with_block_marks_failed(tmp_path: Path) -> None:
    code = """
        import mlstage
        run = mlstage.start_run(name="crash")
        print(run.run_id, flush=True)
        raise RuntimeError("boom")
    """
    proc = run_script(tmp_path, code)
    run_id = _started_run(proc)
    proc.wait(timeout=30)
    assert proc.returncode == 1
    run = store_for(tmp_path).get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert "RuntimeError: boom" in run.status_reason


def test_a_run_left_open_finishes_at_exit(tmp_path: Path) -> None:
    code = """
        import mlstage
        run = mlstage.start_run(name="open")
        mlstage.log_metric("x", 2.0)
        print(run.run_id, flush=True)
    """
    proc = run_script(tmp_path, code)
    run_id = _started_run(proc)
    proc.wait(timeout=30)
    run = store_for(tmp_path).get_run(run_id)
    assert run.status is RunStatus.FINISHED
    assert run.metrics == {"x": 2.0}
