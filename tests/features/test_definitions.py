"""Definitions check themselves, and a definitions file is checked against its source's columns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlstage.errors import InvalidInput
from mlstage.features import Entity, FeatureView, Field, Float64, Int64
from mlstage.features.repo import load_definitions
from tests.features.conftest import customer_stats, write_repo


def view(**overrides: object) -> FeatureView:
    values: dict[str, object] = {
        "name": "stats",
        "entities": [Entity("customer", join_keys=["customer_id"])],
        "source": "data/customer_stats.parquet",
        "schema": [Field("spend", Float64)],
    }
    values.update(overrides)
    return FeatureView(**values)  # type: ignore[arg-type]


def test_objects_refuse_bad_values_naming_the_field() -> None:
    with pytest.raises(InvalidInput, match="field 'spend': dtype must be one of int32, int64"):
        Field("spend", "decimal")
    with pytest.raises(InvalidInput, match="entity name must be an identifier"):
        Entity("bad name")
    with pytest.raises(InvalidInput, match="join_keys must be a list"):
        Entity("customer", join_keys="customer_id")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="feature view 'stats': duplicate feature 'spend'"):
        view(schema=[Field("spend", Float64), Field("spend", Int64)])
    with pytest.raises(InvalidInput, match="ttl must be a non-negative timedelta"):
        view(ttl=timedelta(days=-1))
    with pytest.raises(InvalidInput, match="entities must be a non-empty list"):
        view(entities=[])
    with pytest.raises(InvalidInput, match="timestamp field 'spend' cannot also be a feature"):
        view(timestamp_field="spend")
    assert Field("x", "Float64").dtype == "float64"  # Feast's spelling reads too
    assert Entity("customer").join_keys == ["customer"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'FeatureView("v", entities=["shop"], source="data/customer_stats.parquet", '
            'schema=[Field("spend", Float64)])',
            "feature view 'v': unknown entity 'shop'; entities defined in features.py: customer",
        ),
        (
            'FeatureView("v", entities=[customer], source="data/customer_stats.parquet", '
            'schema=[Field("spend", Float64)], timestamp_field="ts")',
            "feature view 'v': source has no timestamp column 'ts' \\(columns: customer_id, "
            "event_timestamp, spend, orders, tier\\)",
        ),
        (
            'FeatureView("v", entities=[customer], source="data/customer_stats.parquet", '
            'schema=[Field("spend", Float64), Field("gone", Float64)])',
            "feature view 'v': source has no column for feature 'gone'",
        ),
        (
            'FeatureView("v", entities=[customer], source="data/customer_stats.parquet", '
            'schema=[Field("tier", Float64)])',
            "feature view 'v': feature 'tier' is declared float64 but the source column is",
        ),
        (
            'FeatureView("v", entities=[customer], source="data/missing.parquet", '
            'schema=[Field("spend", Float64)])',
            "feature view 'v': source 'data/missing.parquet' does not exist",
        ),
        (
            'FeatureView("v", entities=[Entity("c", join_keys=["cid"])], '
            'source="data/customer_stats.parquet", schema=[Field("spend", Float64)])',
            "feature view 'v': source has no join key column 'cid'",
        ),
        (
            'FeatureView("v", entities=[customer], source="data/customer_stats.parquet", '
            'schema=[Field("spend", Float64)])\n'
            'w = FeatureView("v", entities=[customer], source="data/customer_stats.parquet", '
            'schema=[Field("orders", Int64)])',
            "features.py: two feature views are named 'v'",
        ),
        (
            'FeatureView("v", entities=[customer], source="data/customer_stats.parquet", '
            'schema=[Field("event_timestamp", Float64)])',
            "timestamp field 'event_timestamp' cannot also be a feature",
        ),
    ],
)
def test_a_definitions_file_is_checked_against_its_source(
    project: Path, text: str, message: str
) -> None:
    header = (
        "from mlstage.features import Entity, FeatureView, Field, Float64, Int64\n"
        'customer = Entity("customer", join_keys=["customer_id"])\n'
        "v = "
    )
    path = write_repo(project, customer_stats(), text=header + text + "\n")
    with pytest.raises(InvalidInput, match=message):
        load_definitions(path)


def test_a_timestamp_column_must_hold_timestamps(project: Path) -> None:
    frame = customer_stats().assign(event_timestamp="2026-01-01")
    path = write_repo(project, frame)
    with pytest.raises(
        InvalidInput, match="timestamp column 'event_timestamp' must hold timestamps"
    ):
        load_definitions(path)


def test_folders_of_parquet_files_are_sources(project: Path) -> None:
    path = write_repo(project, customer_stats())
    folder = project / "data" / "parts"
    folder.mkdir()
    frame = pd.read_parquet(project / "data" / "customer_stats.parquet")
    frame.iloc[:20].to_parquet(folder / "a.parquet")
    frame.iloc[20:].to_parquet(folder / "b.parquet")
    path.write_text(path.read_text().replace("data/customer_stats.parquet", "data/parts"))
    loaded = load_definitions(path)
    assert loaded.views[0].source == str(folder.resolve())
    assert [e.name for e in loaded.entities] == ["customer"]
    assert loaded.views[0].key_dtypes == ("int64",)


def test_a_registered_dataset_version_is_a_source(make_store: Any, project: Path) -> None:
    import mlstage

    frame = customer_stats()
    path = write_repo(project, frame)
    first = mlstage.datasets.register("stats", project / "data" / "customer_stats.parquet")
    path.write_text(path.read_text().replace('"data/customer_stats.parquet"', '"stats@latest"'))
    store = make_store()
    store.apply(path)
    view = store.get_feature_view("customer_stats")
    assert view.source == f"dataset:stats@1#{first.snapshot_sha256}"
    entities = frame[["customer_id", "event_timestamp"]].head(10)
    got = store.get_historical_features(entities, ["customer_stats:orders"])
    assert got["orders"].tolist() == frame["orders"].head(10).tolist()  # each row finds itself

    changed = frame.assign(orders=frame["orders"] + 1000)
    mlstage.datasets.register("stats", changed)
    update = store.apply(path)  # @latest now pins version 2: a changed source
    assert update[1].action == "updated" and "source changed" in update[1].detail
    again = store.get_historical_features(entities, ["customer_stats:orders"])
    assert again["orders"].min() >= 1000

    path.write_text(path.read_text().replace('"stats@latest"', '"nope@latest"'))
    with pytest.raises(
        InvalidInput, match="feature view 'customer_stats': source dataset 'nope@latest'"
    ):
        load_definitions(path)
