"""``mlstage serve``: a real process, one worker or several, printing where it listens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mlstage.cli.main import app
from mlstage.serving.deployments import get_deployment_store
from tests.conftest import free_port

MLSTAGE = Path(sys.executable).parent / "mlstage"
ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}


def test_serve_needs_exactly_one_target(project: Path) -> None:
    runner = CliRunner()
    for args in ([], ["churn/1", "--deployment", "churn-prod"]):
        done = runner.invoke(app, ["serve", *args])
        assert done.exit_code == 2
        assert "give a model (mlstage serve churn@champion) or --deployment NAME" in done.output
    done = runner.invoke(app, ["serve", "churn/1"])
    assert done.exit_code == 1 and "registered model 'churn'" in done.output


@pytest.fixture
def running(project: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start(running: list[subprocess.Popen[str]], *args: str) -> tuple[str, str]:
    """Start ``mlstage serve ARGS``; (its announcement, base URL) once it answers /ready.

    Another process may take the free port first: then the server exits, and
    it is started again on another port.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTAGE_")}
    for _ in range(3):
        port = free_port()
        process = subprocess.Popen(
            [str(MLSTAGE), "serve", *args, "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env, "COLUMNS": "200"},
        )
        running.append(process)
        assert process.stdout is not None
        announcement = process.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if "versions" in httpx.get(f"{url}/ready").json():  # ours, not another server
                    return announcement, url
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        assert process.poll() is not None, f"the service did not become ready: {announcement}"
    raise AssertionError("mlstage serve did not start")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_serve_a_version_then_a_deployment_with_two_workers(
    backend: str, churn_versions: list[int], running: list[subprocess.Popen[str]]
) -> None:
    announcement, url = start(running, "churn/2")
    assert announcement.startswith(f"Serving churn v2 at {url}")
    answer = httpx.post(f"{url}/predict", json={"records": [ROW]}).json()
    assert (answer["model"], answer["version"]) == ("churn", 2)

    get_deployment_store().deploy("churn-prod", "churn", "prod", 3)
    announcement, url = start(
        running, "--deployment", "churn-prod", "--workers", "2", "--max-batch-rows", "8"
    )
    assert announcement.startswith(f"Serving churn v3 (churn-prod) at {url} (2 workers)")
    for _ in range(20):  # a new connection each time: both workers answer some
        body = httpx.post(f"{url}/predict", json={"records": [ROW]}).json()
        assert (body["version"], body["deployment"]) == (3, "churn-prod")
