"""A pipeline run whose process is killed ends FAILED once its heartbeat stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlstage import config
from mlstage.pipelines.entities import PipelineStatus, StepStatus
from mlstage.pipelines.runner import pipeline_store

PIPES = Path(__file__).with_name("light.py")


def test_a_killed_pipeline_process_ends_failed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTAGE_HEARTBEAT_INTERVAL", "0.2")
    monkeypatch.setenv("MLSTAGE_HEARTBEAT_TIMEOUT", "3")
    config.set_settings(None)
    marker = project / "started.txt"
    env = dict(os.environ, PIPES_MARKER=str(marker))
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from mlstage.cli.main import main; main()",
            "pipelines",
            "run",
            f"{PIPES}:slow",
        ],
        env=env,
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.05)
        store = pipeline_store()
        (running,) = store.list_runs("slow")
        assert running.status is PipelineStatus.RUNNING  # its heartbeat is fresh
        time.sleep(0.6)
        assert store.get_run(running.run_id).status is PipelineStatus.RUNNING
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    time.sleep(3.5)
    ended = store.get_run(running.run_id)
    assert ended.status is PipelineStatus.FAILED
    assert "no heartbeat for 3 s" in ended.error
    assert ended.end_time is not None
    statuses = {s.step: s.status for s in ended.steps}
    assert statuses == {"hang": StepStatus.FAILED, "after_hang": StepStatus.SKIPPED}
