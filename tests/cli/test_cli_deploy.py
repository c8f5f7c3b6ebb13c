"""``mlstage deploy`` and ``mlstage deployments`` against real registered models, as a user runs them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

import mlstage
from mlstage import config
from mlstage.models.api import get_registry_store

Cli = Callable[..., Result]
PROD = ("deploy", "churn", "--env", "prod")
CANARY = (*PROD, "--strategy", "canary", "--candidate", "churn@challenger", "--weight", "10")


@pytest.fixture
def churn(project: Path) -> list[int]:
    """Model 'churn' with three versions: champion is 1, challenger 2."""
    from sklearn.linear_model import LogisticRegression

    X = [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]]
    versions = []
    for C in (0.1, 1.0, 10.0):
        with mlstage.start_run():
            model = LogisticRegression(C=C).fit(X, [0, 1, 0, 1])
            uri = mlstage.log_model(model, "model", input_example=X[:2]).model_uri
        versions.append(mlstage.register_model(uri, "churn").version)
    mlstage.set_alias("churn", "champion", 1)
    mlstage.set_alias("churn", "challenger", 2)
    return versions


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return result.stdout


def lines(result: Result) -> list[str]:
    return ok(result).splitlines()


def as_json(cli: Cli, *args: str) -> Any:
    return json.loads(ok(cli(*args, "--json")))


def fails(result: Result, code: int, message: str) -> None:
    """One red ``error:`` line on stderr containing ``message``, nothing on stdout."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: "), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr, result.stderr


# -- the release loop ------------------------------------------------------------------------------


def test_deploy_canary_promote_rollback(cli: Cli, churn: list[int]) -> None:
    assert "No deployments yet" in ok(cli("deployments", "list"))
    assert lines(cli(*PROD)) == [
        "churn-prod rev 1: v1 primary",
        "Created: serves model churn in prod.",
    ]
    assert lines(cli(*CANARY, "--reason", "try C=1")) == [
        "churn-prod rev 2: v1 primary, v2 canary 10%",
        "Updated; was: v1 primary.",
    ]
    out = lines(cli(*PROD, "--promote", "--reason", "canary looked good"))
    assert out[0] == "churn-prod rev 3: v2 primary"
    assert out[1].startswith("Promoted v2 (was v1) in prod; undo with: mlstage deploy churn")
    assert lines(cli(*PROD, "--rollback", "--reason", "latency regression")) == [
        "churn-prod rev 4: v1 primary",
        "Rolled back to v1 (from v2) in prod.",
    ]
    history = as_json(cli, "deployments", "history", "churn-prod")
    assert [(e["action"], e["revision"], e["reason"]) for e in history] == [
        ("created", 1, ""),
        ("updated", 2, "try C=1"),
        ("promoted", 3, "canary looked good"),
        ("rolled_back", 4, "latency regression"),
    ]
    assert all(e["actor"] for e in history)  # the user who ran the command
    table = ok(cli("deployments", "history", "churn-prod"))
    for change in (
        "created: v1 primary",
        "v1 primary → v1 primary, v2 canary 10%",
        "promoted v2 (was v1)",
        "rolled back to v1 (from v2)",
    ):
        assert change in table, table


def test_show_has_the_record_traffic_split_last_error_and_history(
    cli: Cli, churn: list[int]
) -> None:
    ok(cli(*CANARY))
    out = ok(cli("deployments", "show", "churn-prod"))
    assert out.startswith("Deployment churn-prod\n")
    assert re.search(r"serving\s+v1 primary, v2 canary 10%", out), out
    assert re.search(r"│\s+v1 │ primary\s+│\s+90% │", out), out
    assert re.search(r"│\s+v2 │ candidate\s+│\s+10% │", out), out
    assert re.search(r"Last error\nnone", out), out
    assert "History" in out and "created: v1 primary, v2 canary 10%" in out

    from mlstage.serving.deployments import get_deployment_store

    get_deployment_store().report_error("churn-prod", 1, "model.skops is corrupt")
    out = ok(cli("deployments", "show", "churn-prod"))
    assert "revision 1 failed to load: model.skops is corrupt" in out
    shown = as_json(cli, "deployments", "show", "churn-prod")
    assert shown["error"] == "model.skops is corrupt"
    assert [(a["version"], a["arm"], a["percent"]) for a in shown["traffic"]] == [
        (1, "primary", 90.0),
        (2, "candidate", 10.0),
    ]
    assert [e["action"] for e in shown["history"]] == ["created", "load_failed"]
    [listed] = as_json(cli, "deployments", "list")
    assert (listed["name"], listed["error"], listed["revision"]) == (
        "churn-prod",
        "model.skops is corrupt",
        1,
    )
    assert re.search(
        r"│ churn-prod │ churn │ prod\s+│\s+1 │ v1 primary, v2 canary 10%",
        ok(cli("deployments", "list")),
    )


def test_strategies_versions_and_names(cli: Cli, churn: list[int]) -> None:
    made = as_json(cli, *PROD, "--version", "3")
    assert (made["name"], made["primary_version"], made["strategy"]) == ("churn-prod", 3, "single")
    ab = ("--strategy", "ab", "--candidate", "churn/3", "--weight", "12.5")
    assert lines(cli(*PROD, "--model-version", "churn@challenger", *ab))[0] == (
        "churn-prod rev 2: v2 primary, v3 ab 12.5%"
    )
    shadow = ("--strategy", "shadow", "--candidate", "churn@challenger")
    assert lines(cli("deploy", "churn", "--env", "staging", *shadow))[0] == (
        "churn-staging rev 1: v1 primary, v2 shadow"
    )
    shown = as_json(cli, "deployments", "show", "churn-staging")
    assert [(a["arm"], a["percent"]) for a in shown["traffic"]] == [
        ("primary", 100.0),
        ("shadow", 0.0),
    ]
    blue_green = ("--strategy", "blue-green", "--candidate", "churn/3", "--name", "churn-blue")
    assert (
        lines(cli(*PROD, *blue_green))[0] == "churn-blue rev 1: v1 primary, v3 blue-green standby"
    )
    assert [d["name"] for d in as_json(cli, "deployments", "list")] == [
        "churn-blue",
        "churn-prod",
        "churn-staging",
    ]


def test_a_candidate_joins_the_version_serving_now(cli: Cli, churn: list[int]) -> None:
    """After a promote, champion may lag behind; a new canary must not switch the primary back."""
    ok(cli(*CANARY))
    ok(cli(*PROD, "--promote"))
    mlstage.set_alias("churn", "challenger", 3)
    assert lines(cli(*CANARY))[0] == "churn-prod rev 3: v2 primary, v3 canary 10%"
    assert lines(cli(*PROD))[0] == "churn-prod rev 4: v1 primary"  # plain deploy: @champion


# -- errors: one red line, exit 2 for bad input, nothing written ---------------------------------


def test_bad_command_lines_exit_2_and_write_nothing(cli: Cli, churn: list[int]) -> None:
    cases = [
        ((*PROD, "--strategy", "rainbow", "--candidate", "churn/3"), "--strategy 'rainbow' is not"),
        ((*PROD, "--strategy", "canary", "--candidate", "churn/3"), "needs --weight PERCENT"),
        ((*PROD, "--strategy", "ab", "--candidate", "churn/3"), "needs --weight PERCENT"),
        ((*PROD, "--strategy", "canary", "--weight", "10"), "needs --candidate NAME@ALIAS"),
        ((*PROD, "--candidate", "churn/3"), "--candidate needs --strategy"),
        ((*PROD, "--weight", "10"), "--weight needs --strategy"),
        ((*PROD, "--strategy", "shadow", "--candidate", "churn/3", "--weight", "5"), "canary and ab"),
        ((*CANARY[:-1], "150"), "--weight must be a percentage between 0 and 100, got '150'"),
        ((*CANARY[:-1], "ten"), "--weight 'ten' is not a number"),
        ((*PROD, "--strategy", "canary", "--candidate", "fraud@x", "--weight", "5"), "model 'fraud'"),
        ((*PROD, "--strategy", "canary", "--candidate", "churn", "--weight", "5"), "names no version"),
        ((*PROD, "--version", "0"), "--version must be a whole number from 1, got '0'"),
        ((*PROD, "--version", "1", "--model-version", "churn/2"), "not both"),
        ((*PROD, "--promote", "--rollback"), "--promote or --rollback, not both"),
        ((*PROD, "--promote", "--strategy", "canary"), "takes no --strategy"),
        (("deploy", "churn", "--env", "Prod!"), "environment 'Prod!'"),
        (("deploy", "churn@champion", "--env", "prod"), "give the model's NAME here"),
        ((*PROD, "--name", "Churn Prod"), "deployment name 'Churn Prod'"),
        ((*PROD, "--version", "1", "--strategy", "canary", "--candidate", "churn/1", "--weight", "5"),
         "is version 1, the primary already"),
        (("deployments", "show", "Bad/Name"), "deployment name 'Bad/Name'"),
    ]  # fmt: skip
    for args, message in cases:
        fails(cli(*args), 2, message)
    assert as_json(cli, "deployments", "list") == []


def test_unknown_models_aliases_and_deployments_exit_1(cli: Cli, churn: list[int]) -> None:
    fails(cli("deploy", "ghost", "--env", "prod"), 1, "registered model 'ghost' does not exist")
    fails(cli(*PROD, "--model-version", "churn@nope"), 1, "model 'churn' has no alias 'nope'")
    fails(cli(*CANARY[:-3], "churn@nope", "--weight", "5"), 1, "has no alias 'nope'")
    fails(cli(*PROD, "--version", "9"), 1, "model 'churn' has no version 9")
    fails(cli(*PROD, "--promote"), 1, "deployment 'churn-prod' does not exist; deploy it first")
    fails(cli("deployments", "show", "nope"), 1, "deployment 'nope' does not exist")
    fails(cli("deployments", "history", "nope"), 1, "see `mlstage deployments list`")
    get_registry_store().delete_alias("churn", "champion")
    fails(cli(*PROD), 1, "has no alias 'champion'; promote a version first")
    assert as_json(cli, "deployments", "list") == []


def test_promote_without_candidate_and_rollback_without_previous(
    cli: Cli, churn: list[int]
) -> None:
    ok(cli(*PROD))
    fails(cli(*PROD, "--promote"), 1, "deployment 'churn-prod' has no candidate to promote")
    fails(cli(*PROD, "--rollback"), 1, "has no previous version to roll back to")
    assert [e["action"] for e in as_json(cli, "deployments", "history", "churn-prod")] == [
        "created"
    ]


def test_a_deployment_name_serves_one_model(cli: Cli, churn: list[int]) -> None:
    ok(cli(*PROD))
    other = ("deploy", "other", "--env", "prod", "--name", "churn-prod")
    fails(cli(*other, "--promote"), 1, "serves model 'churn', not 'other'")
    fails(cli(*other), 1, "registered model 'other' does not exist")


# -- through the platform server -------------------------------------------------------------------


@pytest.fixture
def server(project: Path, churn: list[int]) -> Iterator[str]:
    """The platform server over the project's own database."""
    from mlstage.server.testing import start_server

    base_url, stop = start_server(config.load_settings(start=project))
    yield base_url
    stop()


def test_deploy_through_the_server(cli: Cli, server: str) -> None:
    remote = ("--tracking-uri", server)
    assert lines(cli(*remote, *CANARY))[0] == "churn-prod rev 1: v1 primary, v2 canary 10%"
    assert lines(cli(*remote, *PROD, "--promote"))[0] == "churn-prod rev 2: v2 primary"
    shown = as_json(cli, *remote, "deployments", "show", "churn-prod")
    assert [e["action"] for e in shown["history"]] == ["created", "promoted"]
    fails(cli(*remote, *PROD, "--promote"), 1, "has no candidate to promote")
    fails(cli(*remote, "deploy", "ghost", "--env", "prod"), 1, "'ghost' does not exist")
