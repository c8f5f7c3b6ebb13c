"""``mlstage demo``: five tracked runs and the table that ranks them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Cli = Callable[..., Result]
MODELS = {"logreg-C0.01", "logreg-C0.1", "logreg-C1.0", "random-forest", "gradient-boosting"}


@pytest.mark.slow
def test_demo_tracks_five_runs_and_prints_them_best_first(cli: Cli, project: Path) -> None:
    result = cli("demo")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "Experiment 'demo', best roc_auc first" in result.stdout
    assert (project / ".mlstage" / "mlstage.db").exists()

    runs = json.loads(
        cli("runs", "list", "-e", "demo", "--order-by", "metrics.roc_auc DESC", "--json").stdout
    )
    assert {r["run_name"] for r in runs} == MODELS
    for run in runs:
        assert run["status"] == "FINISHED"
        assert set(run["metrics"]) >= {"accuracy", "f1", "roc_auc"}
        assert 0.9 < run["metrics"]["roc_auc"] <= 1.0
        assert run["params"]["model"] in {
            "logistic_regression",
            "random_forest",
            "gradient_boosting",
        }
    table_names = [
        line.split("│")[2].strip() for line in result.stdout.splitlines() if line.startswith("│")
    ]
    assert table_names == [r["run_name"] for r in runs]
    assert f"mlstage runs show {runs[0]['run_id']}" in result.stdout

    shown = json.loads(cli("runs", "show", runs[0]["run_id"], "--json").stdout)
    assert {(i["dataset"]["name"], i["context"]) for i in shown["inputs"]} == {
        ("breast-cancer", "training"),
        ("breast-cancer", "evaluation"),
    }
    assert [a["path"] for a in shown["artifacts"]] == ["confusion_matrix.json"]


@pytest.mark.slow
def test_demo_twice_adds_runs_and_shows_only_the_new_ones(cli: Cli) -> None:
    assert cli("demo").exit_code == 0
    second = cli("demo")
    assert second.exit_code == 0
    assert sum(line.startswith("│") for line in second.stdout.splitlines()) == len(MODELS)
    assert len(json.loads(cli("runs", "list", "-e", "demo", "--json").stdout)) == 2 * len(MODELS)
