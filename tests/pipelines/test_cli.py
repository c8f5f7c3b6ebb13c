"""``mlstage pipelines ...`` in-process, as a user types it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mlstage.cli.main import app

LIGHT = Path(__file__).with_name("light.py")
Cli = Callable[..., Result]


@pytest.fixture
def cli(project: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_run_show_runs_and_list(cli: Cli) -> None:
    ran = cli("pipelines", "run", f"{LIGHT}:arithmetic", "--param", "a=3", "-p", "b=4")
    assert ran.exit_code == 0, ran.output
    assert "Pipeline arithmetic run " in ran.stdout
    assert "SUCCEEDED" in ran.stdout
    assert "params: a=3, b=4" in ran.stdout
    listed = json.loads(cli("pipelines", "runs", "--json").stdout)
    assert [(r["pipeline"], r["status"], r["params"]) for r in listed] == [
        ("arithmetic", "SUCCEEDED", {"a": 3, "b": 4})
    ]
    run_id = listed[0]["run_id"]
    shown = cli("pipelines", "show", run_id)
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.stdout.splitlines() if "│" in line]
    assert any("add" in line and "SUCCEEDED" in line for line in lines)
    assert any("flaky" in line and "SUCCEEDED" in line for line in lines)
    detail = json.loads(cli("pipelines", "show", run_id, "--json").stdout)
    assert [s["step"] for s in detail["steps"]] == ["add", "flaky"]
    assert detail["steps"][0]["outputs"]["add"]["kind"] == "json"
    pipelines = json.loads(cli("pipelines", "list", "--json").stdout)
    assert [(p["name"], p["runs"], p["last_status"]) for p in pipelines] == [
        ("arithmetic", 1, "SUCCEEDED")
    ]
    again = cli("pipelines", "run", f"{LIGHT}:arithmetic", "--param", "a=3", "-p", "b=4")
    assert again.exit_code == 0
    assert [line.count("yes") for line in again.stdout.splitlines() if "│" in line][-2:] == [1, 1]


def test_a_failed_run_exits_1_and_resumes(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = project / "fail.flag"
    flag.write_text("")
    monkeypatch.setenv("PIPES_FAIL_FLAG", str(flag))
    failed = cli("pipelines", "run", f"{LIGHT}:arithmetic")
    assert failed.exit_code == 1
    assert "error: step 'flaky' failed: RuntimeError: the flag file says fail" in failed.stdout
    assert "Traceback" in failed.stdout
    run_id = json.loads(cli("pipelines", "runs", "--json").stdout)[0]["run_id"]
    assert f"Resume it with: mlstage pipelines resume {run_id}" in failed.stdout
    flag.unlink()
    resumed = cli("pipelines", "resume", run_id, "--json")
    assert resumed.exit_code == 0, resumed.output
    data = json.loads(resumed.stdout)
    assert data["resumed_from"] == run_id
    assert [(s["step"], s["cached"], s["status"]) for s in data["steps"]] == [
        ("add", True, "SUCCEEDED"),
        ("flaky", False, "SUCCEEDED"),
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["missing.py:x"], 1, "pipeline file 'missing.py' does not exist"),
        ([f"{LIGHT.with_suffix('.txt')}"], 1, "does not exist"),
        ([f"{LIGHT}:nothing"], 1, "has no pipeline 'nothing' (pipelines there: arithmetic, slow)"),
        ([f"{LIGHT}:arithmetic", "--param", "c=1"], 2, "has no such parameter (parameters: a, b)"),
        ([f"{LIGHT}:arithmetic", "--param", "a=x"], 2, "--param a=x: expected int"),
        ([f"{LIGHT}:arithmetic", "--param", "a"], 2, "--param 'a': use NAME=VALUE"),
        ([f"{LIGHT}:arithmetic", "--executor", "gpu"], 2, "executor 'gpu' is unknown"),
    ],
)
def test_bad_arguments_are_explained(cli: Cli, args: list[str], code: int, message: str) -> None:
    result = cli("pipelines", "run", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr


def test_a_file_that_is_not_python_is_refused(cli: Cli, project: Path) -> None:
    (project / "flow.txt").write_text("")
    result = cli("pipelines", "run", "flow.txt:x")
    assert result.exit_code == 2
    assert "pipeline file 'flow.txt' is not a Python file (.py)" in result.stderr


def test_schedule_list_and_unschedule(cli: Cli) -> None:
    made = cli("pipelines", "schedule", f"{LIGHT}:arithmetic", "-p", "a=2")
    assert made.exit_code == 0, made.output
    assert "Schedule 'arithmetic': */5 * * * * (UTC), next run" in made.stdout
    listed = json.loads(cli("pipelines", "schedules", "--json").stdout)
    assert [(s["name"], s["cron"], s["params"], s["enabled"]) for s in listed] == [
        ("arithmetic", "*/5 * * * *", {"a": 2}, True)
    ]
    assert listed[0]["target"] == f"{LIGHT}:arithmetic"
    custom = cli("pipelines", "schedule", f"{LIGHT}:slow", "--cron", "0 2 * * *", "--name", "n")
    assert custom.exit_code == 0, custom.output
    bad = cli("pipelines", "schedule", f"{LIGHT}:slow", "--cron", "0 2 * *")
    assert bad.exit_code == 2
    assert "has 4 field(s); expected 5" in bad.stderr
    assert cli("pipelines", "unschedule", "n").exit_code == 0
    assert [s["name"] for s in json.loads(cli("pipelines", "schedules", "--json").stdout)] == [
        "arithmetic"
    ]
    assert cli("pipelines", "unschedule", "n").exit_code == 1
