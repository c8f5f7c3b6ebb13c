"""``mlstage experiments list|create|delete``."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import Result

Cli = Callable[..., Result]


def test_create_then_list(cli: Cli) -> None:
    created = cli("experiments", "create", "churn")
    assert created.exit_code == 0, created.output
    assert "Created experiment 'churn'" in created.stdout
    listed = cli("experiments", "list")
    assert "churn" in listed.stdout
    rows = json.loads(cli("experiments", "list", "--json").stdout)
    assert [row["name"] for row in rows] == ["churn"]
    assert rows[0]["lifecycle_stage"] == "active"


def test_create_json_prints_the_experiment(cli: Cli) -> None:
    data = json.loads(cli("experiments", "create", "churn", "--json").stdout)
    assert data["name"] == "churn"
    assert data["experiment_id"].isdigit()


def test_list_when_empty_says_what_to_do(cli: Cli) -> None:
    result = cli("experiments", "list")
    assert result.exit_code == 0
    assert "mlstage demo" in result.stdout
    assert json.loads(cli("experiments", "list", "--json").stdout) == []


def test_duplicate_name_is_a_conflict(cli: Cli) -> None:
    cli("experiments", "create", "churn")
    result = cli("experiments", "create", "churn")
    assert result.exit_code == 1
    assert result.stderr == "error: experiment 'churn' already exists\n"


def test_bad_name_is_bad_input(cli: Cli) -> None:
    result = cli("experiments", "create", " padded ")
    assert result.exit_code == 2
    assert "must not start or end with white space" in result.stderr


def test_delete_by_name_and_by_id(cli: Cli) -> None:
    cli("experiments", "create", "a")
    b = json.loads(cli("experiments", "create", "b", "--json").stdout)
    assert cli("experiments", "delete", "a").exit_code == 0
    deleted = cli("experiments", "delete", b["experiment_id"])
    assert deleted.exit_code == 0
    assert "Deleted experiment 'b'" in deleted.stdout
    assert json.loads(cli("experiments", "list", "--json").stdout) == []
    everything = json.loads(cli("experiments", "list", "--all", "--json").stdout)
    assert {row["name"]: row["lifecycle_stage"] for row in everything} == {
        "a": "deleted",
        "b": "deleted",
    }
    again = cli("experiments", "delete", "a")
    assert again.exit_code == 1
    assert "is deleted" in again.stderr


def test_delete_unknown_names_the_known_ones(cli: Cli) -> None:
    cli("experiments", "create", "churn")
    result = cli("experiments", "delete", "chrun")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: experiment 'chrun' does not exist (experiments: 'churn')"
    )


def test_delete_removes_its_runs_from_listings(cli: Cli, runs: dict[str, str]) -> None:
    assert cli("experiments", "delete", "sweep").exit_code == 0
    listed = json.loads(cli("runs", "list", "--json").stdout)
    assert [row["run_name"] for row in listed] == ["baseline"]
