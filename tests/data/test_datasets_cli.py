"""``mlstage datasets``: register, list, versions, show and diff, as a user runs them.

Each test runs on SQLite and on PostgreSQL, in a fresh project folder; the
command reads the database from MLSTAGE_TRACKING_URI like every command.
"""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import mlstage
from mlstage.cli.main import app

Cli = Callable[..., Result]


@pytest.fixture(params=["sqlite", "postgres"])
def cli(request: pytest.FixtureRequest, project: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``mlstage ARGS...`` in-process, output as in a pipe, on each database."""
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "postgres":
        monkeypatch.setenv("MLSTAGE_TRACKING_URI", request.getfixturevalue("postgres_url"))
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stderr == ""
    return result.stdout


def fails(result: Result, code: int, message: str) -> None:
    """One ``error:`` line on stderr containing ``message``, nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: "), result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr


def customers(seed: int, rows: int = 400, spend_mean: float = 50.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer": np.arange(rows),
            "plan": [("basic", "basic", "pro", "team")[i % 4] for i in range(rows)],
            "spend": rng.normal(spend_mean, 10.0, size=rows).round(2),
        }
    )


def test_register_list_versions_and_show_with_statistics_and_lineage(
    cli: Cli, project: Path
) -> None:
    customers(0).to_csv(project / "churn.csv", index=False)
    first = ok(cli("datasets", "register", "churn", "churn.csv", "--tag", "team=risk"))
    assert first.startswith("Registered churn@1 (digest ")
    assert "400 rows, 3 columns, from csv " in first
    again = json.loads(ok(cli("datasets", "register", "churn", "churn.csv", "--json")))
    assert again["created"] is False and again["version"] == 1
    assert again["tags"] == {"team": "risk"} and again["source"]["kind"] == "csv"
    same = ok(cli("datasets", "register", "churn", "churn.csv"))
    assert same.startswith("Already registered: same content as churn@1")

    with mlstage.start_run(name="train-rf"):
        mlstage.log_input("churn@1")

    listed = ok(cli("datasets", "list"))
    assert "churn" in listed and again["digest"][:12] in listed
    assert [d["name"] for d in json.loads(ok(cli("datasets", "list", "--json")))] == ["churn"]
    versions = json.loads(ok(cli("datasets", "versions", "churn", "--json")))
    assert [v["version"] for v in versions] == [1]

    shown = ok(cli("datasets", "show", "churn"))
    assert "Dataset churn@1" in shown and again["digest"] in shown
    for column in ("customer", "plan", "spend", "missing", "mean", "unique"):
        assert column in shown
    assert "train-rf" in shown and "training" in shown  # the run that used it
    data = json.loads(ok(cli("datasets", "show", f"churn@{again['digest'][:10]}", "--json")))
    assert data["statistics"]["num_rows"] == 400
    assert data["statistics"]["features"]["spend"]["missing"] == 0
    assert [r["run_name"] for r in data["lineage"]["runs"]] == ["train-rf"]
    assert data["lineage"]["models"] == []


def test_register_a_sql_query_with_url(cli: Cli, project: Path) -> None:
    with sqlite3.connect(project / "crm.db") as con:
        customers(1).to_sql("customers", con, index=False)
    con.close()
    query = "SELECT customer, plan FROM customers WHERE spend > 50 ORDER BY customer"
    out = json.loads(
        ok(cli("datasets", "register", "big", query, "--url", "sqlite:///crm.db", "--json"))
    )
    assert out["source"] == {
        "kind": "sql",
        "location": "sqlite:///crm.db",
        "query": query,
        "files": 0,
    }
    assert out["num_columns"] == 2 and 150 < out["num_rows"] < 250


def test_diff_shows_schema_changes_rows_and_the_drifted_column(cli: Cli, project: Path) -> None:
    customers(0).to_csv(project / "v1.csv", index=False)
    drifted = customers(2, rows=450, spend_mean=80.0).assign(region="eu")
    drifted.drop(columns="customer").to_parquet(project / "v2.parquet")
    ok(cli("datasets", "register", "churn", "v1.csv"))
    ok(cli("datasets", "register", "churn", "v2.parquet"))

    out = ok(cli("datasets", "diff", "churn@1", "churn@latest", "--html", "drift.html"))
    assert "rows: 400 -> 450 (+50)" in out
    assert "region" in out and "added" in out and "customer" in out and "removed" in out
    assert "drifted columns: spend" in out
    assert "Drift report written to drift.html" in out
    assert "churn@2" in (project / "drift.html").read_text()
    data = json.loads(ok(cli("datasets", "diff", "churn@1", "churn@2", "--json")))
    assert data["drift"]["drifted_features"] == ["spend"]
    assert [c["name"] for c in data["added"]] == ["region"]
    assert [c["name"] for c in data["removed"]] == ["customer"]
    assert (data["rows_before"], data["rows_after"]) == (400, 450)
    quiet = json.loads(ok(cli("datasets", "diff", "churn@1", "churn@2", "--no-drift", "--json")))
    assert quiet["drift"] is None and quiet["drift_note"] == "drift not computed"

    # Same distribution, another sample (fixed seeds): nothing drifts.
    customers(3).to_csv(project / "v3.csv", index=False)
    ok(cli("datasets", "register", "churn", "v3.csv"))
    steady = json.loads(ok(cli("datasets", "diff", "churn@1", "churn@3", "--json")))
    assert steady["drift"]["drifted_features"] == []
    assert "no column drifted" in ok(cli("datasets", "diff", "churn@1", "churn@3"))


def test_errors_are_one_line_with_the_name_or_path(cli: Cli, project: Path) -> None:
    assert "No datasets yet" in ok(cli("datasets", "list"))
    fails(cli("datasets", "show", "nope@1"), 1, "dataset 'nope' does not exist")
    fails(cli("datasets", "register", "bad/name", "x.csv"), 2, "dataset name 'bad/name'")
    fails(cli("datasets", "register", "churn", "missing.csv"), 2, "source 'missing.csv': no such")
    (project / "notes.txt").write_text("x")
    fails(cli("datasets", "register", "churn", "notes.txt"), 2, "unsupported file type")
    customers(0).to_csv(project / "v1.csv", index=False)
    fails(cli("datasets", "register", "churn", "v1.csv", "--tag", "oops"), 2, "must be KEY=VALUE")
    ok(cli("datasets", "register", "churn", "v1.csv"))
    fails(cli("datasets", "show", "churn@4"), 1, "dataset 'churn' has no version 4")
    fails(cli("datasets", "diff", "churn@1", "churn@x1"), 2, "after '@' put a version number")
    fails(
        cli("datasets", "diff", "churn@1", "churn@1", "--html", "r.html"),
        2,
        "--html: no drift report to write (same content",
    )


def test_every_command_of_the_readme_datasets_section_works(cli: Cli, project: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Datasets\n", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match, "no bash block in the README's Datasets section"
    (project / "data").mkdir()
    customers(0).to_csv(project / "data" / "churn.csv", index=False)
    customers(4, spend_mean=70.0).to_parquet(project / "data" / "churn-february.parquet")
    with sqlite3.connect(project / "crm.db") as con:
        customers(5).rename(columns={"customer": "id"}).to_sql("customers", con, index=False)
    con.close()
    for line in match.group(1).replace("\\\n", " ").splitlines():
        args = shlex.split(line, comments=True)
        assert args[0] == "mlstage", line
        ok(cli(*args[1:]))
    assert (project / "drift.html").is_file()
    assert [v.version for v in mlstage.datasets.list_versions("churn")] == [1, 2]
