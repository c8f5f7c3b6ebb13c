"""The training template: ``mlstage init --template training`` runs as-is, on every executor.

And ``mlstage ci`` around it: passing on the template, failing (non-zero,
with the check and the reason) when the data breaks the schema.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlstage import config
from mlstage.cli.main import app

pytestmark = pytest.mark.slow


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def template(project: Path) -> Path:
    os.remove(project / ".mlstage" / "mlstage.db")  # init makes its own
    done = cli("init", "--template", "training", "--ci", "github")
    assert done.exit_code == 0, done.output
    config.set_settings(None)
    return project


def test_the_template_pipeline_runs_the_same_on_local_processes_and_dask(
    template: Path, dask_cluster: Any
) -> None:
    from mlstage.pipelines.loading import load_target

    pipeline = load_target("pipeline.py:training")
    results = {}
    for executor in ("local", "processes", dask_cluster.scheduler_address):
        run = pipeline.run(executor=executor, dry_run=True)
        assert str(run.status) == "SUCCEEDED", run.error
        assert [s.step for s in run.steps][:3] == ["load_dataset", "validate_data", "split_data"]
        results[executor] = (run.outputs["evaluate_model"], run.outputs["deploy_model"])
    values = list(results.values())
    assert values[0][0] == values[1][0] == values[2][0]  # the same metrics everywhere
    assert values[0][0]["roc_auc"] > 0.7
    assert all(v[1]["dry_run"] for v in values)
    # each run registered and gated a version; dry runs deployed nothing
    from mlstage.serving.deployments import get_deployment_store

    assert get_deployment_store().list_deployments() == []


def test_a_real_run_releases_to_staging_and_ci_passes(template: Path) -> None:
    done = cli("ci", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["passed"] is True
    assert [c["check"] for c in report["checks"]] == [
        "data validation",
        "training pipeline",
        "validation gate",
        "model card",
    ]
    from mlstage.serving.deployments import get_deployment_store

    [deployment] = get_deployment_store().list_deployments()
    assert (deployment.name, deployment.environment) == ("churn-staging", "staging")
    workflow = (template / ".github" / "workflows" / "mlstage.yml").read_text()
    assert "mlstage ci --param dry_run=true" in workflow
    assert "environment: production" in workflow


def test_ci_fails_with_the_check_and_the_reason_when_the_data_breaks_the_schema(
    template: Path,
) -> None:
    data = template / "data" / "churn.csv"
    rows = data.read_text().splitlines()
    fields = rows[1].split(",")
    fields[3] = "gold"  # a plan the schema's domain does not know
    rows[1] = ",".join(fields)
    data.write_text("\n".join(rows) + "\n")
    done = cli("ci")
    assert done.exit_code == 1
    assert "data validation" in done.stdout and "failed" in done.stdout
    assert "gold" in done.stdout
    assert "skipped" in done.stdout  # the pipeline did not run on bad data
    assert "FAILED: data validation" in done.stdout


def test_init_refuses_to_overwrite_template_files(template: Path) -> None:
    done = CliRunner().invoke(app, ["init", "--force", "--template", "training"])
    assert done.exit_code == 1
    assert "exist already" in done.output


def test_the_gitlab_file_gates_production_behind_a_manual_job(tmp_path: Path) -> None:
    import yaml

    from mlstage.cli.init_ci import write_ci

    path = write_ci(tmp_path, "gitlab", model="churn")
    jobs = yaml.safe_load(path.read_text())
    assert jobs["stages"] == ["test", "staging", "production"]
    assert "mlstage ci --param dry_run=true" in jobs["checks"]["script"]
    assert jobs["promote-production"]["rules"][0]["when"] == "manual"
    assert jobs["promote-production"]["environment"] == "production"
    assert "--reason" in jobs["promote-production"]["script"][0]
