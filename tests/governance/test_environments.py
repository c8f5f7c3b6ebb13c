"""Classification levels, environments (store and CLI), ``mlstage classify``, pipeline policies."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import mlstage
from mlstage import config
from mlstage.cli.main import app as cli
from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.governance.audit import query
from mlstage.governance.classification import Levels, download_roles
from mlstage.governance.environments import EnvironmentStore
from mlstage.governance.policy import PermissionDenied, policy_for
from mlstage.governance.sql_store import GovernanceStore
from mlstage.pipelines import pipeline, step
from tests.governance.conftest import Clock


def test_levels_are_ordered_and_combine_at_the_highest() -> None:
    levels = Levels()
    assert levels.highest(["internal", "public", "confidential"]) == "confidential"
    assert levels.highest([]) == "internal"  # the default for unlabelled data
    assert levels.exceeds("restricted", "confidential")
    assert not levels.exceeds("public", "internal")
    assert levels.rank("retired-level") > levels.rank("restricted")  # unknown: fail closed
    custom = Levels(("open", "secret"), default="open")
    assert custom.highest(["secret", "open"]) == "secret"


@pytest.mark.parametrize(
    ("names", "default", "problem"),
    [
        ((), "internal", "must name at least one level"),
        (("public", "public"), "public", "lists a level twice"),
        (("Public",), "Public", "lower-case letters"),
        (("public", "internal"), "secret", "'default_classification' is 'secret'"),
    ],
)
def test_bad_level_settings_are_refused_with_the_setting_named(
    names: tuple[str, ...], default: str, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        Levels(names, default)


def test_level_and_role_checks_name_the_choices(tmp_path: Path) -> None:
    levels = Levels()
    with pytest.raises(InvalidInput, match="'secret' is not a classification level; the levels"):
        levels.check("secret")
    settings = config.load_settings(start=tmp_path)
    assert download_roles(settings, levels) == [("confidential", "maintainer"),
                                                ("restricted", "admin")]  # fmt: skip
    bad = settings.with_overrides(classified_download_roles=("confidential=admin",))
    with pytest.raises(InvalidInput, match="must be level:role"):
        download_roles(bad, levels)


def test_environments_are_stored_changed_and_audited(gov: GovernanceStore, clock: Clock) -> None:
    store = EnvironmentStore(gov.db, Levels(), clock=clock)
    made = store.create(
        "prod", "confidential", executors=["local", "tcp://10.0.0.5:8786"], actor="ada",
        artifact_root="s3://prod/artifacts", description="production",
    )  # fmt: skip
    assert made.executors == ["local", "dask"] and made.created_at == clock.now
    assert store.get("prod") == made
    with pytest.raises(Conflict, match="environment 'prod' exists; change it with --replace"):
        store.create("prod", "public")
    clock.advance(1000)
    changed = store.create("prod", "restricted", actor="bo", replace=True)
    assert changed.created_at == made.created_at and changed.updated_at == clock.now
    assert [e.name for e in store.list()] == ["prod"]
    with pytest.raises(InvalidInput, match="max_classification 'top' is not a classification"):
        store.create("dev", "top")
    with pytest.raises(InvalidInput, match="executor 'ray' is not one of local, processes, dask"):
        store.create("dev", "public", executors=["ray"])
    with pytest.raises(InvalidInput, match="environment name 'Dev!'"):
        store.create("Dev!", "public")
    with pytest.raises(NotFound, match="environment 'dev' does not exist \\(environments: prod\\)"):
        store.get("dev")
    with gov.db.read() as conn:
        entries = query(conn, action="environment.")
    assert [(e.action, e.actor) for e in entries] == [
        ("environment.create", "ada"), ("environment.update", "bo"),
    ]  # fmt: skip
    assert entries[1].before["max_classification"] == "confidential"  # type: ignore[index]


def test_the_cli_creates_lists_and_shows_environments(project: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(
        cli, ["environments", "create", "dev", "--max", "internal", "--executor", "local"]
    )
    assert made.exit_code == 0, made.output
    assert "Environment 'dev': up to internal, executors local." in made.output
    bad = runner.invoke(cli, ["environments", "create", "x", "--max", "top-secret"])
    assert bad.exit_code == 2 and "the levels are public < internal" in bad.output
    listed = runner.invoke(cli, ["environments", "list", "--json"])
    assert [e["name"] for e in json.loads(listed.output)] == ["dev"]
    shown = runner.invoke(cli, ["environments", "show", "dev"])
    assert "dev: up to internal" in shown.output and "executors: local" in shown.output
    missing = runner.invoke(cli, ["environments", "show", "prod"])
    assert missing.exit_code == 1 and "environment 'prod' does not exist" in missing.output


def test_classify_declares_and_shows_levels_with_their_source(project: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3]})
    mlstage.datasets.register("patients", frame)
    with mlstage.start_run() as run:
        mlstage.log_input("patients@1")
    runner = CliRunner()
    before = runner.invoke(cli, ["classify", "run", run.run_id])
    assert f"run '{run.run_id}' is classified internal (from dataset 'patients')" in before.output
    declared = runner.invoke(cli, ["classify", "dataset", "patients", "restricted"])
    assert declared.exit_code == 0, declared.output
    after = runner.invoke(cli, ["classify", "run", run.run_id, "--json"])
    assert json.loads(after.output) == {
        "kind": "run", "ref": run.run_id, "classification": "restricted",
        "because": "from dataset 'patients'",
    }  # fmt: skip
    unknown = runner.invoke(cli, ["classify", "dataset", "nobody", "public"])
    assert unknown.exit_code == 1 and "dataset 'nobody' does not exist" in unknown.output
    kind = runner.invoke(cli, ["classify", "feature", "x", "public"])
    assert kind.exit_code == 2 and "use one of dataset, run, model" in kind.output


@step
def count_rows(data: str) -> int:
    return len(mlstage.datasets.load(data))


@pipeline
def scoring(data: str = "patients@1"):
    return count_rows(data)


def test_pipelines_use_only_the_environments_executors_and_data(project: Path) -> None:
    mlstage.datasets.register("patients", pd.DataFrame({"x": [1, 2, 3]}))
    policy = policy_for()
    assert policy is not None
    store = EnvironmentStore(policy.db, policy.levels)
    store.create("dev", "internal", executors=["local"])
    config.set_settings(config.get_settings().with_overrides(environment="dev"))

    assert scoring.run("local").status == "SUCCEEDED"
    with pytest.raises(PermissionDenied, match="policy allowed_executors: pipeline 'scoring' "
                       "cannot run on executor 'processes' in environment 'dev'"):  # fmt: skip
        scoring.run("processes")
    policy.declare("dataset", "patients", "confidential", actor="ada")
    with pytest.raises(PermissionDenied, match="cannot use in pipeline 'scoring' dataset"):
        scoring.run("local")
    with policy.db.read() as conn:
        refused = query(conn, action="policy.")
    assert [(e.action, e.object_type) for e in refused] == [
        ("policy.allowed_executors", "pipeline"), ("policy.max_classification", "dataset"),
    ]  # fmt: skip
