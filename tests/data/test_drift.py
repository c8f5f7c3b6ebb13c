"""Drift and skew: a constructed drift is found, no drift is not (fixed seeds), every method."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from mlstage.data import compare, infer_schema, skew
from mlstage.data.distances import chi2, jsd, ks, linf, psi
from mlstage.errors import InvalidInput

from .conftest import make_frame

pytestmark = pytest.mark.usefixtures("fresh_settings")

METHODS = [None, "linf", "jsd", "psi", "ks", "chi2"]


@pytest.mark.parametrize("method", METHODS)
def test_same_distribution_does_not_drift(method: str | None) -> None:
    # tests call one feature in twenty drifted at p < 0.05 by chance (score does, here): use 1%
    threshold = 0.01 if method in ("ks", "chi2") else None
    report = compare(make_frame(seed=1), make_frame(seed=2), method=method, threshold=threshold)
    assert report.drifted_features == []
    assert not report.drifted and report.share == 0.0
    assert set(report.features) == {"age", "income", "score", "city", "member"}


@pytest.mark.parametrize("method", METHODS)
def test_constructed_drift_is_detected(method: str | None) -> None:
    current = make_frame(seed=2, shift=1.0, cities=(0.2, 0.3, 0.5))
    report = compare(make_frame(seed=1), current, method=method)
    assert set(report.drifted_features) == {"income", "score", "city"}
    assert report.drifted and report.share == pytest.approx(0.6)
    income = report.features["income"]
    assert income.method == (method or "jsd") and income.score > 0
    city = report.features["city"]
    assert city.method == ("chi2" if method == "ks" else method or "linf")
    if method is None:
        assert city.score == pytest.approx(0.3, abs=0.04)  # the share of 'east'/'north' moved 0.3


def test_default_comparators_and_thresholds() -> None:
    report = compare(make_frame(seed=1), make_frame(seed=2))
    assert report.features["city"].method == "linf" and report.features["member"].method == "linf"
    assert report.features["score"].method == "jsd" and report.features["age"].method == "jsd"
    assert {f.threshold for f in report.features.values()} == {0.05, 0.02}
    assert report.features["city"].threshold == 0.05 and report.features["score"].threshold == 0.02


def test_schema_thresholds_and_methods_per_feature() -> None:
    reference = make_frame(seed=1)
    current = make_frame(seed=2, shift=0.1)  # a small shift: under the default threshold
    assert "score" not in compare(reference, current).drifted_features
    schema = infer_schema(reference)
    schema.features["score"].drift.threshold = 0.001  # type: ignore[union-attr]
    schema.features["income"].drift.method = "psi"  # type: ignore[union-attr]
    schema.features["income"].drift.threshold = 10.0  # type: ignore[union-attr]
    report = compare(reference, current, schema=schema)
    assert "score" in report.drifted_features
    assert report.features["income"].method == "psi" and report.features["income"].threshold == 10
    # the method given per call wins; the threshold falls back to the method's default
    assert (
        compare(reference, current, schema=schema, method="ks").features["income"].threshold == 0.05
    )


def test_skew_uses_the_schema_skew_comparators() -> None:
    training = make_frame(seed=1)
    serving = make_frame(seed=5, n=500, shift=0.2)
    schema = infer_schema(training)
    schema.features["score"].skew.threshold = 0.001  # type: ignore[union-attr]
    schema.features["score"].drift.threshold = 0.1  # type: ignore[union-attr]
    report = skew(training, serving, schema=schema)
    assert report.kind == "skew"
    assert "score" in report.drifted_features
    assert "score" not in compare(training, serving, schema=schema).drifted_features
    assert report.to_dict()["kind"] == "skew"


def test_columns_on_one_side_or_of_another_type_are_skipped() -> None:
    reference = make_frame(seed=1).assign(only_ref=1.0)
    current = make_frame(seed=2).assign(only_cur="x", age=lambda d: d["age"].astype(str))
    report = compare(reference, current)
    assert report.skipped == {
        "age": "not comparable (type int vs string)",
        "only_ref": "not in the current data",
        "only_cur": "not in the reference data",
    }


def test_missing_values_and_empty_sides() -> None:
    reference = pd.DataFrame({"x": [1.0, 2.0, None, 4.0]})
    current = pd.DataFrame({"x": [None, None, None, None]}, dtype="float64")
    result = compare(reference, current).features["x"]
    assert (result.reference_missing, result.current_missing) == (1, 4)
    assert not result.drifted and "no values in the current data" in result.note


def test_distances_against_known_values_and_scipy() -> None:
    a, b = np.array([50.0, 30, 20]), np.array([30.0, 30, 40])
    assert linf(a, b)[0] == pytest.approx(0.2)
    assert jsd(a, a)[0] == 0 and jsd(np.array([1.0, 0]), np.array([0.0, 1]))[0] == pytest.approx(1)
    p, q = a / 100, b / 100
    assert psi(a, b)[0] == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    stat, p_value = chi2(a, b)
    expected = sps.chi2_contingency(np.vstack([a, b]), correction=False)
    assert (stat, p_value) == (pytest.approx(expected[0]), pytest.approx(expected[1]))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=4000), rng.normal(0.1, 1, size=3000)
    edges = np.quantile(np.concatenate([x, y]), np.linspace(0, 1, 401))
    d, _ = ks(np.histogram(x, edges)[0].astype(float), np.histogram(y, edges)[0].astype(float))
    assert d == pytest.approx(sps.ks_2samp(x, y).statistic, abs=0.005)


def test_reads_files_and_renders_json(tmp_path: Path) -> None:
    make_frame(seed=1).to_parquet(tmp_path / "ref.parquet")
    make_frame(seed=2, shift=1.0).to_csv(tmp_path / "cur.csv", index=False)
    report = compare(tmp_path / "ref.parquet", tmp_path / "cur.csv")
    data = json.loads(report.to_json())
    assert data["drifted_features"] == report.drifted_features
    assert data["features"]["score"]["drifted"] is True
    assert len(data["features"]["score"]["bins"]) == len(
        data["features"]["score"]["current_shares"]
    )


def test_bad_arguments() -> None:
    with pytest.raises(
        InvalidInput, match="method must be one of linf, jsd, psi, ks, chi2; got 'wasserstein'"
    ):
        compare(make_frame(n=10), make_frame(n=10), method="wasserstein")
    with pytest.raises(InvalidInput, match="threshold must be a finite number"):
        compare(make_frame(n=10), make_frame(n=10), threshold=-1)


def test_html_report_is_self_contained_and_escapes_names() -> None:
    evil = "<script>alert('x')</script>"
    reference = make_frame(seed=1).rename(columns={"city": evil})
    current = make_frame(seed=2, cities=(0.2, 0.3, 0.5)).rename(columns={"city": evil})
    current.loc[0, evil] = "<img src=x onerror=alert(1)>"
    page = compare(reference, current).to_html()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 5
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", page)  # nothing fetched
    assert "<link" not in page and "@import" not in page


def test_skew_against_the_logged_serving_inputs(project: Path) -> None:
    import time
    import uuid

    from mlstage import config
    from mlstage.data import serving_inputs
    from mlstage.errors import NotFound
    from mlstage.serving.request_log import PredictionRecord, RequestLogger

    training = make_frame(seed=1)
    serving = make_frame(seed=7, n=600, shift=1.0)
    logger = RequestLogger(config.load_settings(start=project), model="churn")
    now = int(time.time() * 1000)
    for i, row in enumerate(serving.to_dict(orient="records")):
        for route in ("primary", "shadow"):  # a shadow repeats the row: not counted twice
            logger.log(
                PredictionRecord(
                    prediction_id=uuid.uuid4().hex,
                    timestamp_ms=now + i,
                    model="churn",
                    version=1,
                    deployment=None,
                    route=route,
                    request_key=None,
                    inputs={k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()},
                    output=0,
                    probabilities=None,
                    latency_ms=1.0,
                )
            )
    logger.close()
    inputs = serving_inputs("churn")
    assert len(inputs) == 600 and list(inputs.columns) == list(training.columns)
    report = skew(training, inputs)
    assert report.kind == "skew" and {"income", "score"} <= set(report.drifted_features)
    with pytest.raises(NotFound, match="no logged serving inputs for model 'other'"):
        serving_inputs("other")
