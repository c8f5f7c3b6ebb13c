"""Batch scoring on a real local Dask cluster: the same answers as scoring in chunks here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlstage
from mlstage.errors import InvalidInput
from mlstage.serving.batch import score_file
from mlstage.serving.batch_dask import score_parquet_on_dask
from tests.conftest import missing

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    try:
        from distributed import LocalCluster
    except ImportError:
        missing("dask.distributed is not installed (pip install 'mlstage[dask]')")
    found = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    yield found
    found.close()


@pytest.fixture
def scored_input(project: Path) -> Path:
    """Model 'churn' v1 and a folder of 4 Parquet files of its inputs (4,000 rows)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"tenure": rng.normal(size=4000), "spend": rng.normal(size=4000)})
    y = X.tenure + rng.normal(size=4000) > 0
    with mlstage.start_run():
        uri = mlstage.log_model(LogisticRegression().fit(X, y), "model", input_example=X).model_uri
    mlstage.register_model(uri, "churn")
    folder = project / "inputs"
    folder.mkdir()
    for i in range(4):
        X.iloc[i * 1000 : (i + 1) * 1000].to_parquet(folder / f"part-{i}.parquet", index=False)
    X.to_parquet(project / "all.parquet", index=False)
    return folder


def test_dask_scoring_matches_local_scoring(
    project: Path, scored_input: Path, cluster: Any
) -> None:
    summary = score_parquet_on_dask(
        "models:/churn/1",
        str(scored_input),
        str(project / "scored"),
        executor=cluster.scheduler_address,
    )
    assert summary.rows == 4000 and summary.chunks == 4
    on_dask = pd.read_parquet(project / "scored")
    score_file("models:/churn/1", str(project / "all.parquet"), str(project / "local.parquet"),
               progress=False)  # fmt: skip
    here = pd.read_parquet(project / "local.parquet")
    assert list(on_dask.columns) == list(here.columns)
    pd.testing.assert_frame_equal(on_dask.reset_index(drop=True), here, check_dtype=False)


def test_a_bad_row_names_its_row_and_leaves_no_output(
    project: Path, scored_input: Path, cluster: Any
) -> None:
    bad = pd.read_parquet(scored_input / "part-2.parquet")
    bad.loc[5, "spend"] = np.nan  # a missing value where the model was trained on none
    bad.to_parquet(scored_input / "part-2.parquet", index=False)
    with pytest.raises(InvalidInput) as caught:
        score_parquet_on_dask(
            "models:/churn/1", str(scored_input), str(project / "out"),
            executor=cluster.scheduler_address,
        )  # fmt: skip
    assert (
        "out' was not written" in caught.value.message or "was not written" in caught.value.message
    )
    assert not (project / "out").exists()
    assert not [p for p in project.iterdir() if p.name.startswith(".out.")]


def test_paths_are_checked_before_any_cluster_starts(project: Path, scored_input: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        score_parquet_on_dask("models:/churn/1", str(project / "nope"), str(project / "o"))
    (project / "taken").mkdir()
    with pytest.raises(InvalidInput, match="exists; give a new folder"):
        score_parquet_on_dask("models:/churn/1", str(scored_input), str(project / "taken"))
    with pytest.raises(InvalidInput, match="use 'dask' or 'tcp://"):
        score_parquet_on_dask(
            "models:/churn/1", str(scored_input), str(project / "o"), executor="ray"
        )
