"""Schema inference follows TFDV's conservative heuristics; the YAML is stable and readable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mlstage.data import Schema, compute_statistics, infer_schema, load_schema, save_schema
from mlstage.data.schema import MAX_DOMAIN_SIZE
from mlstage.errors import InvalidInput, NotFound

pytestmark = pytest.mark.usefixtures("fresh_settings")


def test_infers_types_domains_ranges_and_comparators(frame: pd.DataFrame) -> None:
    schema = infer_schema(frame)
    assert list(schema.features) == list(frame.columns)
    age, income, city, member = (schema.features[n] for n in ("age", "income", "city", "member"))
    assert (age.type, income.type, city.type, member.type) == ("int", "float", "string", "bool")
    assert (age.min, age.max) == (frame["age"].min(), frame["age"].max())  # limits seen often
    assert (income.min, income.max) == (0, None)  # non-negative; the top is a sample's tail
    assert (schema.features["score"].min, schema.features["score"].max) == (None, None)
    assert city.domain == ["east", "north", "south"]
    assert income.allow_nan is False and income.allow_inf is False
    assert age.allow_nan is None  # only floats carry the flags
    assert city.drift is not None and (city.drift.method, city.drift.threshold) == ("linf", 0.05)
    assert income.skew is not None and income.skew.method == "jsd"
    assert all(f.min_fraction == 1.0 for f in schema.features.values())
    assert schema.min_rows is None and schema.max_rows is None


def test_presence_nan_and_row_bounds() -> None:
    values = [1.0, float("nan"), float("inf")] + [2.0] * 7 + [None] * 2  # 10 of 12 present
    schema = infer_schema(pa.table({"v": values}), row_bounds=True)
    v = schema.features["v"]
    assert v.min_fraction == pytest.approx(0.75)  # 0.833 -> 0.80 -> five points under
    assert v.allow_nan is True and v.allow_inf is True
    assert (schema.min_rows, schema.max_rows) == (6, 24)


def test_no_domain_for_ids_and_free_text() -> None:
    ids = pd.DataFrame({"id": [f"u{i}" for i in range(MAX_DOMAIN_SIZE + 1)]})
    assert infer_schema(ids).features["id"].domain is None
    few = pd.DataFrame({"c": [f"v{i % 40}" for i in range(400)]})  # more than the top-20 values
    assert infer_schema(few).features["c"].domain == sorted(f"v{i}" for i in range(40))


def test_infers_from_statistics_too(frame: pd.DataFrame) -> None:
    from_stats = infer_schema(compute_statistics(frame))
    assert from_stats == infer_schema(frame, detect_pii=False)


def test_yaml_round_trip_is_stable_and_readable(frame: pd.DataFrame, tmp_path: Path) -> None:
    schema = infer_schema(frame)
    text = schema.to_yaml()
    assert text.startswith("# mlstage data schema")
    assert Schema.from_yaml(text) == schema
    assert Schema.from_yaml(text).to_yaml() == text
    lines = text.splitlines()
    assert lines.index("  age:") < lines.index("  income:") < lines.index("  city:")
    assert f"    max: {frame['age'].max()}" in lines  # whole numbers without ".0"
    assert "domain: [east, north, south]" in text
    assert "min_domain_mass" in text.split("  city:")[1].split("  member:")[0]
    assert "min_domain_mass" not in text.split("  age:")[1].split("  income:")[0]
    path = save_schema(schema, tmp_path / "schema.yaml")
    assert load_schema(path) == schema


def test_bad_schema_files_name_the_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"missing\.yaml: no such schema file"):
        load_schema(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("features:\n  a:\n    type: int\n    colour: red\n")
    with pytest.raises(InvalidInput, match=r"bad\.yaml: not a valid schema: features\.a\.colour"):
        load_schema(bad)
    bad.write_text("features:\n  a:\n    type: integer\n")
    with pytest.raises(InvalidInput, match=r"features\.a\.type"):
        load_schema(bad)
    bad.write_text("features: [unclosed\n")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_schema(bad)
    bad.write_text("version: 9\nfeatures: {}\n")
    with pytest.raises(InvalidInput, match="schema version 1, got 9"):
        load_schema(bad)
    with pytest.raises(InvalidInput, match="does not exist"):
        save_schema(Schema(), tmp_path / "no" / "schema.yaml")


def test_thresholds_follow_the_settings(frame: pd.DataFrame) -> None:
    from mlstage import config

    config.set_settings(config.Settings(drift_linf_threshold=0.2, drift_jsd_threshold=0.3))
    schema = infer_schema(frame.head(50))
    assert schema.features["city"].drift.threshold == 0.2  # type: ignore[union-attr]
    assert schema.features["score"].drift.threshold == 0.3  # type: ignore[union-attr]
