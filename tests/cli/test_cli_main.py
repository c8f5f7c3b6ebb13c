"""The command as a whole: help, speed, global options and the error contract."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Cli = Callable[..., Result]

MLSTAGE = Path(sys.executable).parent / "mlstage"
HEAVY = ("pandas", "numpy", "sqlalchemy", "sklearn", "fastapi", "pydantic", "uvicorn", "alembic")


def test_help_in_a_subprocess_lists_the_command_groups() -> None:
    started = time.perf_counter()
    out = subprocess.run([str(MLSTAGE), "--help"], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    for group in ("demo", "init", "experiments", "runs", "server", "--tracking-uri"):
        assert group in out.stdout
    assert elapsed < 3  # 0.15 s on a laptop; the margin is for loaded CI machines


def test_the_cli_imports_nothing_heavy_until_a_command_runs() -> None:
    code = (
        f"import sys, mlstage.cli.main; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("mlstage ")


def test_an_error_is_one_red_line_on_stderr_without_traceback(cli: Cli) -> None:
    result = cli("runs", "show", "0" * 32)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: run '{'0' * 32}' does not exist\n"


def test_bad_input_exits_2(cli: Cli) -> None:
    result = cli("runs", "show", "not-a-run-id")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: run_id must be 32 lowercase hex characters, got 'not-a-run-id'\n"
    )


def test_tracking_uri_flag_beats_the_environment(
    cli: Cli, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTAGE_TRACKING_URI", f"sqlite:///{project / 'from-env.db'}")
    flag = f"sqlite:///{project / 'from-flag.db'}"
    assert cli("--tracking-uri", flag, "experiments", "create", "flagged").exit_code == 0
    assert (project / "from-flag.db").exists()
    names = lambda *args: [e["name"] for e in json.loads(cli(*args).stdout)]  # noqa: E731
    assert "flagged" in names("--tracking-uri", flag, "experiments", "list", "--json")
    assert "flagged" not in names("experiments", "list", "--json")


def test_a_bad_mlstage_toml_is_reported_not_raised(cli: Cli, project: Path) -> None:
    (project / "mlstage.toml").write_text("heartbeat_intervall = 3\n")
    result = cli("experiments", "list")
    assert result.exit_code == 2
    assert "unknown setting(s) heartbeat_intervall" in result.stderr
    assert "Traceback" not in result.output


def test_server_passes_options_and_settings_through(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlstage.server

    calls = []
    monkeypatch.setattr(mlstage.server, "run", lambda *a, **kw: calls.append((a, kw)))
    assert cli("server", "--port", "5055", "--workers", "3").exit_code == 0
    ((args, kwargs),) = calls
    assert args == ("127.0.0.1", 5055)
    assert kwargs["workers"] == 3
    assert kwargs["settings"].server_port == 5000  # the flag wins over the setting


def test_server_defaults_come_from_settings(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlstage.server

    calls = []
    monkeypatch.setattr(mlstage.server, "run", lambda *a, **kw: calls.append((a, kw)))
    monkeypatch.setenv("MLSTAGE_SERVER_PORT", "6123")
    assert cli("server").exit_code == 0
    assert calls[0][0] == ("127.0.0.1", 6123)
    assert calls[0][1]["workers"] == 1
