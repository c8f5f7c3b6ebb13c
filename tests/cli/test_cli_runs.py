"""``mlstage runs list|show|compare|delete`` against real runs in a SQLite store."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import Result

Cli = Callable[..., Result]


def listed(cli: Cli, *args: str) -> list[dict]:
    result = cli("runs", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


# -- list ----------------------------------------------------------------------------


def test_list_shows_every_experiment_newest_first(cli: Cli, runs: dict[str, str]) -> None:
    rows = listed(cli)
    assert {r["run_name"] for r in rows} == {"baseline", "lr-10.0", "lr-1.0", "lr-0.1"}
    starts = [r["start_time"] for r in rows]
    assert starts == sorted(starts, reverse=True)
    result = cli("runs", "list")
    assert result.exit_code == 0
    for run_id in runs.values():
        assert run_id in result.stdout
    assert "experiment" in result.stdout  # two experiments: the table says which is which


def test_list_one_experiment_ordered_by_a_metric(cli: Cli, runs: dict[str, str]) -> None:
    rows = listed(cli, "-e", "sweep", "--order-by", "metrics.auc DESC")
    assert [r["run_name"] for r in rows] == ["lr-1.0", "lr-10.0", "lr-0.1"]
    assert rows[0]["metrics"]["auc"] == 0.93
    assert rows[0]["params"] == {"C": "1.0", "model": "logreg"}
    assert rows[0]["tags"] == {"team": "risk"}
    table = cli("runs", "list", "-e", "sweep", "--order-by", "metrics.auc DESC").stdout
    assert [row[1] for row in table_rows(table)] == ["lr-1.0", "lr-10.0", "lr-0.1"]
    assert "same in every run: model=logreg" in table


def test_list_filter_and_max(cli: Cli, runs: dict[str, str]) -> None:
    rows = listed(cli, "--filter", "metrics.auc > 0.85 and params.model = 'logreg'")
    assert {r["run_name"] for r in rows} == {"lr-1.0", "lr-10.0"}
    assert len(listed(cli, "--max", "2")) == 2
    empty = cli("runs", "list", "-e", "sweep", "--filter", "metrics.auc > 2")
    assert empty.exit_code == 0
    assert "No runs in 'sweep' match the filter." in empty.stdout


def test_bad_filter_points_at_the_token(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("runs", "list", "--filter", "metrics.auc > 0.5 or params.C = '1'")
    assert result.exit_code == 2
    assert result.stdout == ""
    first, echoed, caret = result.stderr.splitlines()
    assert first == (
        "error: invalid filter at position 18: expected AND or the end of the filter, "
        "got 'or'; OR is not supported"
    )
    assert echoed == "  metrics.auc > 0.5 or params.C = '1'"
    assert caret.index("^") == echoed.index("or params")


def test_bad_order_by_and_max(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("runs", "list", "--order-by", "metrics.auc SIDEWAYS")
    assert result.exit_code == 2
    assert "only ASC or DESC may follow the key" in result.stderr
    assert cli("runs", "list", "--max", "0").exit_code == 2


def test_list_unknown_experiment(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("runs", "list", "-e", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: experiment 'nope' does not exist")
    assert "'sweep'" in result.stderr


# -- show ----------------------------------------------------------------------------


def test_show_a_run(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("runs", "show", runs["lr-1.0"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        runs["lr-1.0"],
        "sweep (id",
        "FINISHED",
        "C ",
        "logreg",
        "auc",
        "0.93",
        "team",
        "risk",
        "git commit",
        "packages",
        "toy-data",
        "config/params.json",
        "notes.txt",
    ):
        assert expected in out, expected


def test_show_json(cli: Cli, runs: dict[str, str]) -> None:
    data = json.loads(cli("runs", "show", runs["lr-1.0"], "--json").stdout)
    assert data["run_id"] == runs["lr-1.0"]
    assert data["params"] == {"C": "1.0", "model": "logreg"}
    assert data["metrics"] == {"auc": 0.93, "accuracy": 0.93 - 0.05}
    assert data["context"]["user"]
    assert data["inputs"][0]["dataset"]["name"] == "toy-data"
    assert data["inputs"][0]["dataset"]["num_rows"] == 4
    assert [a["path"] for a in data["artifacts"]] == ["config/params.json", "notes.txt"]
    assert all(len(a["sha256"]) == 64 for a in data["artifacts"])


def test_show_unknown_run(cli: Cli, runs: dict[str, str]) -> None:
    missing = "f" * 32
    result = cli("runs", "show", missing)
    assert result.exit_code == 1
    assert result.stderr == f"error: run '{missing}' does not exist\n"


# -- compare -------------------------------------------------------------------------


def test_compare_marks_what_differs(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("runs", "compare", runs["lr-0.1"], runs["lr-1.0"], runs["baseline"])
    assert result.exit_code == 0, result.output
    rows = {row[1]: row for row in table_rows(result.stdout)}
    assert {field: row[0] for field, row in rows.items()} == {
        "status": "",
        "experiment_id": "*",
        "params.C": "*",
        "params.model": "*",
        "metrics.accuracy": "*",
        "metrics.auc": "*",
    }
    assert rows["metrics.auc"][2:] == ["0.81", "0.93", "0.5"]
    assert rows["params.model"][2:] == ["logreg", "logreg", "-"]


def test_compare_json(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("runs", "compare", runs["lr-0.1"], runs["lr-1.0"], "--json")
    data = json.loads(result.stdout)
    assert [r["run_name"] for r in data["runs"]] == ["lr-0.1", "lr-1.0"]
    rows = {row["field"]: row for row in data["rows"]}
    assert rows["params.C"] == {"field": "params.C", "values": ["0.1", "1.0"], "differs": True}
    assert rows["params.model"]["differs"] is False
    assert rows["metrics.auc"]["values"] == [0.81, 0.93]


def test_compare_needs_two_known_runs(cli: Cli, runs: dict[str, str]) -> None:
    one = cli("runs", "compare", runs["lr-0.1"])
    assert one.exit_code == 2
    assert one.stderr == "error: compare needs at least two run ids, got 1\n"
    unknown = cli("runs", "compare", runs["lr-0.1"], "a" * 32)
    assert unknown.exit_code == 1
    assert f"run '{'a' * 32}' does not exist" in unknown.stderr


# -- delete --------------------------------------------------------------------------


def test_delete_a_run(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("runs", "delete", runs["lr-0.1"])
    assert result.exit_code == 0
    assert f"Deleted run {runs['lr-0.1']} (lr-0.1)." in result.stdout
    assert "lr-0.1" not in {r["run_name"] for r in listed(cli)}
    shown = json.loads(cli("runs", "show", runs["lr-0.1"], "--json").stdout)
    assert shown["lifecycle_stage"] == "deleted"
    again = cli("runs", "delete", runs["lr-0.1"])
    assert again.exit_code == 0
    assert "already deleted" in again.stdout


def test_delete_unknown_run(cli: Cli, runs: dict[str, str]) -> None:
    result = cli("runs", "delete", "b" * 32)
    assert result.exit_code == 1
    assert result.stderr == f"error: run '{'b' * 32}' does not exist\n"
