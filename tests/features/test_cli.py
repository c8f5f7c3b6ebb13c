"""``mlstage features ...`` end to end in a project folder: apply, list, show, materialise, get."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mlstage.cli.main import app

Cli = Callable[..., Result]


@pytest.fixture
def cli(project: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return invoke


def test_apply_list_show_materialize_get(cli: Cli, repo: Path) -> None:
    applied = cli("features", "apply", str(repo))
    assert applied.exit_code == 0, applied.output
    assert "customer_stats" in applied.stdout and "created" in applied.stdout
    assert "2 change(s)." in applied.stdout
    again = cli("features", "apply", str(repo))
    assert "Nothing changed." in again.stdout

    listed = cli("features", "list")
    assert "customer_stats" in listed.stdout and "3d" in listed.stdout
    listed_json = json.loads(cli("features", "list", "--json").stdout)
    assert listed_json[0]["features"][0] == {"name": "spend", "dtype": "float64"}

    shown = cli("features", "show", "customer_stats")
    assert "join keys customer_id" in shown.stdout and "Not materialised yet" in shown.stdout

    done = cli("features", "materialize", "2026-01-01", "2026-02-01", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report[0]["view"] == "customer_stats" and report[0]["written"] == 5
    incremental = json.loads(
        cli("features", "materialize-incremental", "2026-02-01", "--json").stdout
    )
    assert incremental[0]["start"].startswith("2026-02-01") and incremental[0]["written"] == 0
    assert "rows written" in cli("features", "show", "customer_stats").stdout

    got = cli("features", "get", "customer_stats:orders", "--key", "customer_id=1,2", "--json")
    assert got.exit_code == 0, got.output
    values = json.loads(got.stdout)
    assert values["customer_id"] == ["1", "2"] and all(isinstance(v, int) for v in values["orders"])
    table = cli("features", "get", "customer_stats:tier", "--key", "customer_id=1")
    assert "tier" in table.stdout


def test_errors_are_one_line_with_the_field(cli: Cli, repo: Path, project: Path) -> None:
    missing = cli("features", "show", "nope")
    assert missing.exit_code == 1
    assert "error: feature view 'nope' is not registered" in missing.stderr
    bad = project / "bad.py"
    bad.write_text(
        "from mlstage.features import Field\nf = Field('x', 'decimal')\n", encoding="utf-8"
    )
    refused = cli("features", "apply", str(bad))
    assert refused.exit_code == 2
    assert "field 'x': dtype must be one of" in refused.stderr
    cli("features", "apply", str(repo))
    when = cli("features", "materialize", "soon", "2026-01-01")
    assert when.exit_code == 2 and "START must be an ISO 8601 time" in when.stderr
    key = cli("features", "get", "customer_stats:tier", "--key", "customer_id")
    assert key.exit_code == 2 and "--key must look like NAME=V1,V2" in key.stderr
