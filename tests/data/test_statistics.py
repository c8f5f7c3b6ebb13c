"""Statistics match pandas and NumPy on random data, from every kind of input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlstage.data import DatasetStatistics, compute_statistics
from mlstage.data.statistics import HISTOGRAM_BINS, QUANTILES, quantile_key
from mlstage.errors import InvalidInput

pytestmark = pytest.mark.usefixtures("fresh_settings")


def random_frame(seed: int = 3, n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n)
    x[rng.random(n) < 0.1] = np.nan  # pandas: missing
    return pd.DataFrame(
        {
            "x": x,
            "k": rng.integers(-50, 50, n),
            "word": rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
            "flag": rng.random(n) < 0.25,
        }
    )


def test_numeric_statistics_match_numpy() -> None:
    df = random_frame()
    stats = compute_statistics(df)
    assert stats.num_rows == len(df)
    for name in ("x", "k"):
        values = df[name].dropna().to_numpy(dtype=float)
        s = stats.features[name]
        assert s.count == len(values)
        assert s.missing == df[name].isna().sum()
        assert s.min == pytest.approx(values.min())
        assert s.max == pytest.approx(values.max())
        assert s.mean == pytest.approx(values.mean())
        assert s.std == pytest.approx(values.std(ddof=1))
        for q in QUANTILES:
            assert s.quantiles[quantile_key(q)] == pytest.approx(np.quantile(values, q))
        assert s.unique == len(np.unique(values))
        expected, edges = np.histogram(
            values, bins=HISTOGRAM_BINS, range=(values.min(), values.max())
        )
        assert s.histogram is not None
        assert s.histogram.edges == pytest.approx(edges.tolist())
        assert sum(s.histogram.counts) == len(values)
        # NumPy's bins are closed on the left, ours on the right: only values on an edge move
        on_edges = np.isin(values, edges[1:-1]).sum()
        assert np.abs(np.array(s.histogram.counts) - expected).sum() <= 2 * on_edges
    assert stats.features["x"].type == "float"
    assert stats.features["k"].type == "int"


def test_categorical_statistics_match_pandas() -> None:
    df = random_frame()
    stats = compute_statistics(df)
    word = stats.features["word"]
    assert word.type == "string"
    counts = df["word"].value_counts()
    assert [(v.value, v.count) for v in word.top_values] == list(counts.items())
    assert word.unique == df["word"].nunique()
    assert word.unique_exact
    flag = stats.features["flag"]
    assert flag.type == "bool"
    assert {v.value: v.count for v in flag.top_values} == {
        "true": int(df["flag"].sum()),
        "false": int((~df["flag"]).sum()),
    }


def test_nan_and_infinity_are_counted_apart_in_arrow_data() -> None:
    table = pa.table({"v": [1.0, float("nan"), None, float("inf"), float("-inf"), 3.0]})
    s = compute_statistics(table).features["v"]
    assert (s.count, s.missing, s.nan_count, s.inf_count) == (5, 1, 1, 2)
    assert (s.min, s.max, s.mean) == (1.0, 3.0, 2.0)
    assert s.histogram is not None and sum(s.histogram.counts) == 2


def test_same_statistics_from_parquet_csv_and_a_folder(tmp_path: Path) -> None:
    df = random_frame(n=500)
    df.to_parquet(tmp_path / "d.parquet")
    df.to_csv(tmp_path / "d.csv", index=False)
    folder = tmp_path / "parts"
    (folder / "a").mkdir(parents=True)
    df.iloc[:200].to_parquet(folder / "a" / "1.parquet")
    df.iloc[200:].to_parquet(folder / "2.parquet")
    base = compute_statistics(df)
    for source in (tmp_path / "d.parquet", str(tmp_path / "d.csv"), folder):
        stats = compute_statistics(source)
        assert stats.num_rows == 500
        for name in ("x", "k"):
            assert stats.features[name].mean == pytest.approx(base.features[name].mean)
            assert stats.features[name].missing == base.features[name].missing
        assert stats.features["word"].top_values == base.features["word"].top_values


def test_round_trips_through_json() -> None:
    stats = compute_statistics(random_frame(n=300))
    again = DatasetStatistics.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert again == stats


def test_constant_empty_and_odd_columns() -> None:
    df = pd.DataFrame(
        {
            "const": [7, 7, 7],
            "empty": pd.Series([None, None, None], dtype="float64"),
            'we"ird name': ["x", "y", None],
            "when": pd.to_datetime(["2024-01-01", "2024-03-01", None]),
        }
    )
    stats = compute_statistics(df)
    const = stats.features["const"]
    assert const.histogram is not None and const.histogram.counts == [3]
    assert stats.features["empty"].count == 0 and stats.features["empty"].histogram is None
    assert stats.features['we"ird name'].unique == 2
    when = stats.features["when"]
    assert when.type == "datetime" and when.min == "2024-01-01T00:00:00" and when.missing == 1
    assert math.isclose(stats.features["const"].presence, 1.0)


def test_bad_inputs_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"nope\.parquet: no such file or folder"):
        compute_statistics(tmp_path / "nope.parquet")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInput, match=r"notes\.txt: unsupported file type"):
        compute_statistics(tmp_path / "notes.txt")
    with pytest.raises(InvalidInput, match="holds no .parquet files"):
        compute_statistics(tmp_path)
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InvalidInput, match=r"bad\.parquet: cannot be read as parquet"):
        compute_statistics(tmp_path / "bad.parquet")
    with pytest.raises(InvalidInput, match="got list"):
        compute_statistics([1, 2, 3])
