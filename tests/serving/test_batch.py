"""Batch scoring: files in, the same rows with predictions out, in chunks, atomically."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlstage.errors import InvalidInput
from mlstage.models.loading import load_model
from mlstage.serving.batch import prediction_columns, score_chunk, score_file

ROWS = 100_000
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
PROBABILITIES = ["probability_0", "probability_1", "probability_2"]
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def synthetic(rows: int, seed: int = 7) -> pd.DataFrame:
    """Iris-like rows with an id column the model does not use (it must pass through)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(rows, dtype=np.int64),
            "sepal_length": rng.uniform(4.3, 7.9, rows).round(3),
            "sepal_width": rng.uniform(2.0, 4.4, rows).round(3),
            "petal_length": rng.uniform(1.0, 6.9, rows).round(3),
            "petal_width": rng.uniform(0.1, 2.5, rows).round(3),
        }
    )
    return frame


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return synthetic(ROWS)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def check_scored(scored: pd.DataFrame, data: pd.DataFrame, uri: str) -> None:
    model = load_model(uri)
    assert list(scored.columns) == [*data.columns, "prediction", *PROBABILITIES]
    pd.testing.assert_frame_equal(scored[list(data.columns)], data, check_dtype=False)
    np.testing.assert_array_equal(scored["prediction"], model.predict(data))
    np.testing.assert_allclose(scored[PROBABILITIES], model.predict_proba(data), rtol=1e-12)


def test_parquet_round_trip_equals_direct_predictions(
    churn_versions: list[int], data: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "customers.parquet"
    data.to_parquet(source, row_group_size=25_000)
    target = tmp_path / "scored.parquet"

    summary = score_file("churn/2", str(source), str(target), chunk_rows=30_000)

    assert (summary.rows, summary.model_version) == (ROWS, 2)
    assert summary.model_uri == "models:/churn/2"
    assert summary.chunks >= math.ceil(ROWS / 30_000)
    assert summary.rows_per_second > 0
    check_scored(pd.read_parquet(target), data, "models:/churn/2")
    assert leftovers(tmp_path) == []


@sqlite_only
def test_csv_round_trip_and_csv_to_parquet(
    churn_versions: list[int], data: pd.DataFrame, tmp_path: Path
) -> None:
    import mlstage

    mlstage.set_alias("churn", "champion", 3)
    source = tmp_path / "customers.csv"
    data.to_csv(source, index=False)

    summary = score_file("churn@champion", str(source), str(tmp_path / "scored.csv"))
    assert (summary.rows, summary.chunks, summary.model_version) == (ROWS, 2, 3)
    check_scored(pd.read_csv(tmp_path / "scored.csv"), data, "churn/3")

    score_file("churn@champion", str(source), str(tmp_path / "scored.parquet"), chunk_rows=40_000)
    check_scored(pd.read_parquet(tmp_path / "scored.parquet"), data, "churn/3")
    assert leftovers(tmp_path) == []


@sqlite_only
def test_chunk_size_changes_nothing_but_the_chunk_count(
    churn_versions: list[int], tmp_path: Path
) -> None:
    small = synthetic(100, seed=1)
    small.loc[[3, 77], "sepal_width"] = np.nan  # a float column with gaps in some chunks only
    small["sepal_width"] = small["sepal_width"].fillna(3.0)
    small.to_csv(tmp_path / "in.csv", index=False)
    outputs = []
    for chunk_rows in (7, 100, 1000):
        target = tmp_path / f"out-{chunk_rows}.parquet"
        summary = score_file(
            "churn/1", str(tmp_path / "in.csv"), str(target), chunk_rows=chunk_rows
        )
        assert summary.chunks == math.ceil(100 / chunk_rows)
        outputs.append(pd.read_parquet(target))
    pd.testing.assert_frame_equal(outputs[0], outputs[1])
    pd.testing.assert_frame_equal(outputs[0], outputs[2])


@sqlite_only
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_bad_value_names_row_and_column_and_writes_nothing(
    churn_versions: list[int], data: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    bad = data.astype({"petal_width": object})
    bad.loc[73_412, "petal_width"] = "wide"
    source = tmp_path / f"bad{suffix}"
    if suffix == ".csv":
        bad.to_csv(source, index=False)
    else:
        bad.astype({"petal_width": str}).to_parquet(source)
    target = tmp_path / "scored.parquet"
    target.write_bytes(b"the previous output")

    with pytest.raises(InvalidInput) as caught:
        score_file("churn/1", str(source), str(target), chunk_rows=20_000)

    message = caught.value.message
    assert "row 73412" in message
    assert "'petal_width'" in message
    assert "'wide'" in message or suffix == ".parquet"
    assert "scored.parquet was not written" in message
    assert target.read_bytes() == b"the previous output"  # untouched, not half replaced
    assert leftovers(tmp_path) == []


@sqlite_only
def test_missing_columns_and_clashing_names_are_refused(
    churn_versions: list[int], tmp_path: Path
) -> None:
    synthetic(10).drop(columns=["petal_length"]).to_parquet(tmp_path / "short.parquet")
    with pytest.raises(InvalidInput, match="missing column.*'petal_length'"):
        score_file("churn/1", str(tmp_path / "short.parquet"), str(tmp_path / "out.parquet"))
    synthetic(10).assign(prediction=1).to_parquet(tmp_path / "scored-before.parquet")
    with pytest.raises(InvalidInput, match="already has column.*'prediction'"):
        score_file("churn/1", str(tmp_path / "scored-before.parquet"), str(tmp_path / "o.parquet"))
    assert not (tmp_path / "out.parquet").exists()
    assert not (tmp_path / "o.parquet").exists()
    assert leftovers(tmp_path) == []


@sqlite_only
def test_paths_are_checked_before_the_model_loads(
    churn_versions: list[int], tmp_path: Path
) -> None:
    synthetic(5).to_csv(tmp_path / "in.csv", index=False)
    cases = {
        ("in.txt", "out.csv"): "unknown format '.txt'",
        ("in.csv", "out.json"): "unknown format '.json'",
        ("missing.csv", "out.csv"): "does not exist",
        ("in.csv", "no/such/folder/out.csv"): "output folder",
        ("in.csv", "in.csv"): "is the input file",
    }
    for (source, target), expected in cases.items():
        with pytest.raises(InvalidInput, match=expected):
            score_file("churn/1", str(tmp_path / source), str(tmp_path / target))
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        score_file("churn/1", str(tmp_path / "broken.parquet"), str(tmp_path / "out.csv"))
    with pytest.raises(InvalidInput, match="chunk_rows"):
        score_file("churn/1", str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), chunk_rows=0)


@sqlite_only
def test_an_empty_file_gives_an_empty_scored_file(
    churn_versions: list[int], tmp_path: Path
) -> None:
    synthetic(0).to_parquet(tmp_path / "empty.parquet")
    summary = score_file("churn/1", str(tmp_path / "empty.parquet"), str(tmp_path / "out.csv"))
    assert summary.rows == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == [*synthetic(0).columns, "prediction", *PROBABILITIES]
    assert out.empty


@sqlite_only
def test_progress_shows_on_a_terminal_and_stays_quiet_in_a_pipe(
    churn_versions: list[int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    synthetic(1000).to_csv(tmp_path / "in.csv", index=False)
    score_file("churn/1", str(tmp_path / "in.csv"), str(tmp_path / "a.parquet"), chunk_rows=100)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    score_file("churn/1", str(tmp_path / "in.csv"), str(tmp_path / "b.parquet"), chunk_rows=100)
    assert "Scoring in.csv" in terminal.getvalue()

    terminal.truncate(0)
    score_file("churn/1", str(tmp_path / "in.csv"), str(tmp_path / "c.parquet"), progress=False)
    assert terminal.getvalue() == ""


@sqlite_only
def test_score_chunk_is_pure_so_chunks_can_be_scored_anywhere(
    churn_versions: list[int], data: pd.DataFrame
) -> None:
    model = load_model("churn/1")
    piece = data.iloc[:5_000]
    whole = score_chunk(model, piece)
    parts = pd.concat(
        [score_chunk(model, piece.iloc[i : i + 1_000], offset=i) for i in range(0, 5_000, 1_000)]
    )
    pd.testing.assert_frame_equal(whole, parts)
    pd.testing.assert_frame_equal(piece, data.iloc[:5_000])  # the input is not modified
    assert prediction_columns(model) == ["prediction", *PROBABILITIES]
    with pytest.raises(InvalidInput, match="row 1003:"):
        score_chunk(
            model, piece.iloc[1000:1010].assign(sepal_length=[1.0] * 3 + [None] * 7), offset=1000
        )
