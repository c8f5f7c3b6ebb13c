"""``mlstage users``, ``mlstage tokens`` and ``mlstage audit`` in a fresh project."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mlstage.cli.main import app

Cli = Callable[..., Result]
PASSWORD = "correct horse battery"


@pytest.fixture
def cli(project: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return invoke


def test_users_are_created_listed_and_disabled(cli: Cli) -> None:
    made = cli("users", "create", "ada", "--role", "admin", "--password-stdin", input=PASSWORD)
    assert made.exit_code == 0, made.output
    assert "Created user 'ada' with role admin." in made.stdout
    cli("users", "create", "bot", "--role", "contributor", "--no-password")
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert [(u["name"], u["role"], u["has_password"]) for u in listed] == [
        ("ada", "admin", True),
        ("bot", "contributor", False),
    ]
    assert "scrypt" not in cli("users", "list").stdout
    assert cli("users", "disable", "bot").exit_code == 0
    assert json.loads(cli("users", "list", "--json").stdout)[1]["disabled"] is True


def test_bad_users_say_what_is_wrong(cli: Cli) -> None:
    short = cli("users", "create", "ada", "--role", "admin", "--password-stdin", input="short")
    assert short.exit_code == 2
    assert "at least 12 characters" in short.stderr
    role = cli("users", "create", "ada", "--role", "root", "--no-password")
    assert role.exit_code == 2 and "role 'root' does not exist" in role.stderr
    cli("users", "create", "ada", "--role", "viewer", "--no-password")
    again = cli("users", "create", "ada", "--role", "viewer", "--no-password")
    assert again.exit_code == 1 and "exists already" in again.stderr


def test_a_token_is_shown_once_and_revoked(cli: Cli) -> None:
    cli("users", "create", "bot", "--role", "contributor", "--no-password")
    made = cli("tokens", "create", "--user", "bot", "--scope", "write", "--expires", "7d")
    assert made.exit_code == 0, made.output
    secret = next(line for line in made.stdout.splitlines() if line.startswith("mls_"))
    listed = cli("tokens", "list", "--json").stdout
    assert secret not in listed
    token_id = json.loads(listed)[0]["token_id"]
    assert cli("tokens", "revoke", token_id).exit_code == 0
    assert json.loads(cli("tokens", "list", "--json").stdout)[0]["revoked_at"] is not None
    too_wide = cli("tokens", "create", "--user", "bot", "--scope", "admin")
    assert too_wide.exit_code == 2 and "exceeds the role" in too_wide.stderr


def test_the_audit_log_filters_and_exports_safe_csv(cli: Cli, tmp_path: Path) -> None:
    cli("users", "create", "=cmd", "--role", "viewer", "--no-password")  # refused: bad name
    cli("users", "create", "ada", "--role", "viewer", "--no-password")
    cli("tokens", "create", "--user", "ada")
    shown = cli("audit", "--action", "user.create")
    assert shown.exit_code == 0 and "user ada" in shown.stdout
    entries = json.loads(cli("audit", "--json", "--since", "1d").stdout)
    assert [e["action"] for e in entries] == ["user.create", "token.create"]
    assert all(e["actor"].startswith("cli:") for e in entries)
    assert json.loads(cli("audit", "--json", "--actor", "nobody").stdout) == []
    out = tmp_path / "audit.csv"
    assert cli("audit", "--csv", str(out)).exit_code == 0
    rows = list(csv.reader(out.open()))
    assert rows[0][:4] == ["entry_id", "at", "actor", "action"] and len(rows) == 3
    bad = cli("audit", "--since", "yesterday")
    assert bad.exit_code == 2 and "--since 'yesterday'" in bad.stderr


def test_against_a_server_url_the_commands_point_at_the_api(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTAGE_TRACKING_URI", "http://127.0.0.1:5000")
    result = cli("users", "list")
    assert result.exit_code == 2 and "/api/v1/users" in result.stderr
