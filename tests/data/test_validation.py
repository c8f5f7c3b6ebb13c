"""Each TFDV anomaly category, its severity, and the schema updates that accept the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlstage.data import Schema, infer_schema, save_schema, validate
from mlstage.data.validation import CATEGORIES, ValidationReport

pytestmark = pytest.mark.usefixtures("fresh_settings")


@pytest.fixture
def schema(frame: pd.DataFrame) -> Schema:
    return infer_schema(frame)


def only(report: ValidationReport, category: str) -> list:
    return [a for a in report.anomalies if a.category == category]


def test_data_like_the_training_data_has_no_anomaly(schema: Schema, frame: pd.DataFrame) -> None:
    report = validate(frame, schema)
    assert report.anomalies == []
    assert report.ok and report.updates == []
    assert report.to_dict()["ok"] is True


def test_missing_and_unexpected_columns(schema: Schema, frame: pd.DataFrame) -> None:
    data = frame.drop(columns=["income"]).assign(extra=1.5)
    report = validate(data, schema)
    [missing] = only(report, "missing_column")
    assert (missing.feature, missing.severity, missing.actual) == ("income", "error", "absent")
    [new] = only(report, "unexpected_column")
    assert (new.feature, new.severity, new.actual) == ("extra", "warning", "float")
    assert not report.ok
    suggested = report.suggested_schema()
    assert "income" not in suggested.features and suggested.features["extra"].type == "float"
    assert validate(data, suggested).ok


def test_type_mismatch_and_whole_floats(schema: Schema, frame: pd.DataFrame) -> None:
    data = frame.assign(age=frame["age"].astype(str))
    [mismatch] = only(validate(data, schema), "type_mismatch")
    assert (mismatch.feature, mismatch.expected, mismatch.actual) == ("age", "int", "string")
    assert mismatch.severity == "error"
    # ints with a missing value are floats in pandas: accepted while they are whole numbers
    holes = frame.assign(age=frame["age"].astype(float))
    holes.loc[0, "age"] = np.nan
    report = validate(holes, schema)
    assert only(report, "type_mismatch") == []
    assert [a.feature for a in only(report, "low_presence")] == ["age"]
    holes.loc[1, "age"] = 30.5
    [fractional] = only(validate(holes, schema), "type_mismatch")
    assert "1 values are not whole numbers" in fractional.description


def test_values_out_of_domain(schema: Schema, frame: pd.DataFrame) -> None:
    data = frame.copy()
    data.loc[:9, "city"] = "atlantis"
    data.loc[10, "city"] = "<b>x</b>"
    report = validate(data, schema)
    [anomaly] = only(report, "out_of_domain")
    assert anomaly.feature == "city" and anomaly.severity == "error"
    assert "11 values" in anomaly.description and "'atlantis'" in anomaly.description
    assert report.suggested_schema().features["city"].domain == [
        "<b>x</b>",
        "atlantis",
        "east",
        "north",
        "south",
    ]
    schema.features["city"].min_domain_mass = 0.99  # up to 1% outside is tolerated
    assert only(validate(data, schema), "out_of_domain") == []


def test_values_out_of_range(schema: Schema, frame: pd.DataFrame) -> None:
    data = frame.copy()
    data.loc[0, "age"] = 150
    data.loc[1, "age"] = -1
    report = validate(data, schema)
    [anomaly] = only(report, "out_of_range")
    assert anomaly.feature == "age" and "2 values" in anomaly.description
    assert anomaly.actual == "values in [-1, 150]"
    fixed = report.suggested_schema().features["age"]
    assert (fixed.min, fixed.max) == (-1, 150)


def test_presence_below_minimum(schema: Schema, frame: pd.DataFrame) -> None:
    data = frame.astype({"income": float})
    data.loc[: len(data) // 2, "income"] = np.nan
    report = validate(data, schema)
    [anomaly] = only(report, "low_presence")
    assert anomaly.feature == "income" and anomaly.expected == "at least 1 present"
    assert report.suggested_schema().features["income"].min_fraction == pytest.approx(
        0.40
    )  # 0.4995 -> 0.45 -> 0.40


def test_nan_and_infinity_where_disallowed() -> None:
    clean = pa.table({"v": [1.0, 2.0, 3.0]})
    schema = infer_schema(clean)
    dirty = pa.table({"v": [1.0, float("nan"), float("inf")]})
    report = validate(dirty, schema)
    assert [a.category for a in report.anomalies] == ["nan_not_allowed", "inf_not_allowed"]
    assert all(a.severity == "error" for a in report.anomalies)
    accepted = report.suggested_schema().features["v"]
    assert accepted.allow_nan and accepted.allow_inf
    assert validate(dirty, report.suggested_schema()).ok


def test_row_count_out_of_bounds(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame, row_bounds=True)  # 1000 to 4000 rows
    [few] = only(validate(frame.head(10), schema), "row_count")
    assert (few.feature, few.actual, few.severity) == (None, "10", "error")
    many = pd.concat([frame] * 3)
    report = validate(many, schema)
    assert [a.actual for a in only(report, "row_count")] == ["6000"]
    assert report.suggested_schema().max_rows == 6000
    assert only(validate(frame.head(0), infer_schema(frame)), "row_count")


def test_personal_data_is_a_warning(schema: Schema, frame: pd.DataFrame) -> None:
    data = frame.assign(contact=[f"person{i}@example.org" for i in range(len(frame))])
    report = validate(data, schema)
    [pii] = only(report, "pii")
    assert (pii.feature, pii.actual, pii.severity) == ("contact", "email", "warning")
    assert only(validate(data, schema, detect_pii=False), "pii") == []


def test_validates_files_against_a_schema_path(frame: pd.DataFrame, tmp_path: Path) -> None:
    frame.to_parquet(tmp_path / "train.parquet")
    path = save_schema(infer_schema(tmp_path / "train.parquet"), tmp_path / "schema.yaml")
    assert validate(tmp_path / "train.parquet", path).ok
    assert validate(frame, str(path)).ok


def test_every_category_has_a_severity() -> None:
    assert set(CATEGORIES.values()) == {"error", "warning"}
    assert {
        "missing_column",
        "unexpected_column",
        "type_mismatch",
        "out_of_domain",
        "out_of_range",
        "low_presence",
        "nan_not_allowed",
        "inf_not_allowed",
        "row_count",
        "pii",
    } == set(CATEGORIES)
