"""Dataset statistics on a real local Dask cluster: the same numbers as the in-memory statistics."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mlstage.cli.main import app
from mlstage.data.statistics import compute_statistics
from mlstage.data.statistics_dask import footer_ranges, parquet_files, statistics_on_dask
from mlstage.errors import InvalidInput
from tests.pipelines import conftest as pipeline_fixtures

pytestmark = pytest.mark.dask

dask_cluster = pipeline_fixtures.dask_cluster  # two worker processes, one per module

ROUNDED = ("mean", "std")
"""Merged with Chan's formulas: equal up to floating-point rounding."""


def write_parts(folder: Path, table: pa.Table, parts: int, statistics: bool = True) -> Path:
    folder.mkdir()
    size = math.ceil(table.num_rows / parts)
    for i in range(parts):
        piece = table.slice(i * size, size)
        pq.write_table(piece, folder / f"part-{i}.parquet", write_statistics=statistics)
    return folder


def mixed_table(n: int, seed: int = 0) -> pa.Table:
    """Every feature type, with nulls, NaN, infinities, a constant and an all-null column."""
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    score[rng.random(n) < 0.05] = np.nan
    score[:3] = np.inf
    score[3] = -np.inf
    start = np.datetime64("2024-01-01T00:00:00", "us")
    seen = start + rng.integers(0, 10**9, n).astype("timedelta64[s]")
    return pa.table(
        {
            "score": pa.array(score, mask=rng.random(n) < 0.03),
            "age": pa.array(rng.integers(18, 90, n), mask=rng.random(n) < 0.1),
            "city": pa.array(rng.choice(["north", "south", "east", "west"], n)).dictionary_encode(),
            "member": pa.array(rng.random(n) < 0.3),
            "seen": pa.array(seen),
            "constant": pa.array(np.full(n, 2.5)),
            "empty": pa.array([None] * n, type=pa.float64()),
            "note": pa.array([None] * n, type=pa.string()),
        }
    )


def assert_same_statistics(here: dict[str, Any], there: dict[str, Any], approx: set[str]) -> None:
    """Field by field; ``approx`` names the (feature, field) pairs that are estimates."""
    assert there["num_rows"] == here["num_rows"]
    assert list(there["features"]) == list(here["features"])
    for name, expected in here["features"].items():
        got = there["features"][name]
        assert set(got) == set(expected)
        for key, value in expected.items():
            if f"{name}.{key}" in approx:
                continue
            if key in ROUNDED and value is not None:
                assert got[key] == pytest.approx(value, rel=1e-12), (name, key)
            else:
                assert got[key] == value, (name, key)


def test_dask_statistics_equal_in_memory_statistics(tmp_path: Path, dask_cluster: Any) -> None:
    table = mixed_table(8000)
    folder = write_parts(tmp_path / "parts", table, parts=4)
    here = compute_statistics(folder).to_dict()
    there = statistics_on_dask(folder, executor=dask_cluster.scheduler_address).to_dict()
    # Datetime distinct counts are estimates on both sides (DuckDB's and ours).
    assert_same_statistics(here, there, approx={"seen.unique"})
    seen = there["features"]["seen"]
    true_unique = len(set(table.column("seen").to_pylist()))
    assert seen["unique_exact"] is False
    assert abs(seen["unique"] - true_unique) <= 0.04 * true_unique
    # The cases that matter, spelled out.
    score = there["features"]["score"]
    assert score["inf_count"] == 4 and score["nan_count"] > 0 and score["missing"] > 0
    assert sum(score["histogram"]["counts"]) == score["count"] - 4 - score["nan_count"]
    assert there["features"]["constant"]["histogram"] == {"edges": [2.5, 2.5], "counts": [8000]}
    assert there["features"]["city"]["unique"] == 4
    assert there["features"]["empty"]["missing"] == 8000
    assert there["features"]["seen"]["min"] == min(table.column("seen").to_pylist()).isoformat()


def test_estimates_stay_within_their_stated_errors(tmp_path: Path, dask_cluster: Any) -> None:
    """Above 200,000 values quantiles come from a sample, distinct counts from a sketch."""
    n = 240_000
    rng = np.random.default_rng(7)
    values = rng.lognormal(0, 1, n)
    table = pa.table({"amount": values, "code": rng.integers(0, 500, n)})
    folder = write_parts(tmp_path / "big", table, parts=3)
    here = compute_statistics(folder).to_dict()
    there = statistics_on_dask(folder, executor=dask_cluster.scheduler_address).to_dict()
    approx = {f"{c}.{k}" for c in ("amount", "code") for k in ("quantiles", "unique")}
    assert_same_statistics(here, there, approx)  # counts, range, moments, histograms: the same
    ordered = np.sort(values)
    for key, value in there["features"]["amount"]["quantiles"].items():
        rank = np.searchsorted(ordered, value) / n
        assert abs(rank - int(key[1:]) / 100) < 0.01, key  # a rank error well under 1%
    for name, truth in (("amount", n), ("code", 500)):
        got = there["features"][name]
        assert got["unique_exact"] is False
        assert abs(got["unique"] - truth) <= 0.04 * truth, (name, got["unique"])


def test_histograms_are_exact_with_or_without_parquet_statistics(
    tmp_path: Path, dask_cluster: Any
) -> None:
    """With footers, histograms come from the first pass; without, from a second one."""
    table = mixed_table(5000, seed=3)
    numeric = ["score", "age", "constant"]
    with_stats = write_parts(tmp_path / "with", table, parts=3)
    without = write_parts(tmp_path / "without", table, parts=3, statistics=False)
    assert set(footer_ranges(parquet_files(with_stats), numeric)) == {"age"}  # score has inf
    assert footer_ranges(parquet_files(without), numeric) == {}
    here = compute_statistics(with_stats).to_dict()["features"]
    for folder in (with_stats, without):
        there = statistics_on_dask(folder, executor=dask_cluster.scheduler_address).to_dict()
        for name in numeric:
            assert there["features"][name]["histogram"] == here[name]["histogram"], name


def test_cli_prints_the_same_statistics_on_dask(tmp_path: Path) -> None:
    """``--executor dask`` starts its own local cluster; the output has the same shape."""
    table = mixed_table(3000, seed=1).drop_columns(["seen"])
    folder = write_parts(tmp_path / "parts", table, parts=3)
    runner = CliRunner()
    local = runner.invoke(app, ["data", "stats", str(folder), "--json"])
    on_dask = runner.invoke(app, ["data", "stats", str(folder), "--json", "--executor", "dask"])
    assert local.exit_code == 0, local.output
    assert on_dask.exit_code == 0, on_dask.output
    assert_same_statistics(json.loads(local.stdout), json.loads(on_dask.stdout), approx=set())


def test_cli_table_on_a_running_cluster(tmp_path: Path, dask_cluster: Any) -> None:
    folder = write_parts(tmp_path / "parts", mixed_table(2000, seed=2), parts=2)
    address = dask_cluster.scheduler_address
    result = CliRunner().invoke(app, ["data", "stats", str(folder), "--executor", address])
    assert result.exit_code == 0, result.output
    assert "2,000 rows" in result.stdout
    assert "city" in result.stdout and "north" in result.stdout


def test_refused_inputs_name_the_problem(tmp_path: Path) -> None:
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="read Parquet"):
        statistics_on_dask(csv)
    folder = tmp_path / "mixed"
    folder.mkdir()
    pq.write_table(pa.table({"a": [1, 2]}), folder / "one.parquet")
    pq.write_table(pa.table({"b": [datetime(2024, 1, 1)]}), folder / "two.parquet")
    with pytest.raises(InvalidInput, match="two.parquet has columns"):
        statistics_on_dask(folder)
    with pytest.raises(InvalidInput, match="executor 'spark'"):
        statistics_on_dask(folder / "one.parquet", executor="spark")
