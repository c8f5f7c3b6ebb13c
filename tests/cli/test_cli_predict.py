"""``mlstage predict``: score a file from the command line, as a user in a pipe would."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import Result

import mlstage

Cli = Callable[..., Result]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture
def churn(project: Path) -> pd.DataFrame:
    """Model 'churn' version 1 (alias champion) and 1,000 rows to score in ``customers.csv``."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = FEATURES
    with mlstage.start_run():
        model = LogisticRegression(max_iter=500).fit(X, y)
        uri = mlstage.log_model(model, "model", input_example=X).model_uri
    mlstage.register_model(uri, "churn")
    mlstage.set_alias("churn", "champion", 1)
    rows = X.sample(1000, replace=True, random_state=0).reset_index(drop=True).round(2)
    rows.insert(0, "customer", [f"c{i}" for i in range(1000)])
    rows.to_csv(project / "customers.csv", index=False)
    return rows


def test_predict_scores_a_file_and_reports_rows_time_and_speed(
    cli: Cli, churn: pd.DataFrame, project: Path
) -> None:
    result = cli(
        "predict", "churn@champion", "--input", "customers.csv", "--output", "scored.parquet"
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress bar in a pipe
    assert result.stdout.startswith("Scored 1,000 rows with models:/churn@champion (version 1) in ")
    assert "rows/s): scored.parquet" in result.stdout
    scored = pd.read_parquet(project / "scored.parquet")
    model = mlstage.load_model("churn/1")
    assert list(scored.columns) == [
        *churn.columns,
        "prediction",
        "probability_0",
        "probability_1",
        "probability_2",
    ]
    np.testing.assert_array_equal(scored["prediction"], model.predict(churn))


def test_json_output_and_chunk_rows(cli: Cli, churn: pd.DataFrame, project: Path) -> None:
    result = cli(
        "predict",
        "models:/churn/1",
        "-i",
        "customers.csv",
        "-o",
        "scored.csv",
        "--chunk-rows",
        "300",
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 1000
    assert summary["chunks"] == 4
    assert summary["model_version"] == 1
    assert summary["rows_per_second"] > 0
    assert len(pd.read_csv(project / "scored.csv")) == 1000


def test_a_bad_row_is_one_error_line_and_no_output(
    cli: Cli, churn: pd.DataFrame, project: Path
) -> None:
    bad = churn.astype({"petal_width": object})
    bad.loc[537, "petal_width"] = "n/a?"
    bad.to_csv(project / "bad.csv", index=False)
    result = cli("predict", "churn/1", "--input", "bad.csv", "--output", "scored.parquet")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: bad.csv: row 537: column 'petal_width' must be float")
    assert "scored.parquet was not written" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "scored.parquet").exists()
    assert not list(project.glob(".scored.parquet.*"))


def test_model_addresses_are_checked(cli: Cli, churn: pd.DataFrame) -> None:
    result = cli("predict", "churn", "--input", "customers.csv", "--output", "o.csv")
    assert result.exit_code == 2
    assert "names no version: use churn/<version> or churn@<alias>" in result.stderr
    result = cli("predict", "churn/9", "--input", "customers.csv", "--output", "o.csv")
    assert result.exit_code == 1
    assert "error:" in result.stderr
    result = cli("predict", "churn/1", "--input", "customers.csv", "--output", "o.json")
    assert result.exit_code == 2
    assert "unknown format '.json'" in result.stderr
    result = cli("predict", "churn/1", "-i", "customers.csv", "-o", "o.csv", "--chunk-rows", "0")
    assert result.exit_code == 2


def test_help_lists_predict_and_build_without_loading_them() -> None:
    mlstage_bin = Path(sys.executable).parent / "mlstage"
    out = subprocess.run([str(mlstage_bin), "--help"], capture_output=True, text=True, check=True)
    assert "predict" in out.stdout
    assert "build" in out.stdout
    code = (
        "import sys, mlstage.cli.main; "
        "print([m for m in ('pandas', 'pyarrow', 'yaml', 'mlstage.serving.batch') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
