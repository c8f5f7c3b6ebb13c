"""Materialisation into SQLite and Redis: latest values, incremental, idempotent; online lookups."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlstage.errors import InvalidInput
from tests.features.conftest import BASE, customer_stats, write_repo

FEATURES = ["customer_stats:spend", "customer_stats:orders", "customer_stats:tier"]


@pytest.fixture(params=["sqlite", "redis"])
def online_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path / 'online' / 'online.db'}"


def latest(
    frame: pd.DataFrame, end: pd.Timestamp, start: pd.Timestamp | None = None
) -> dict[int, Any]:
    """Each customer's last row (source order breaks ties) at or before ``end``."""
    window = frame[frame["event_timestamp"] <= end]
    if start is not None:
        window = window[window["event_timestamp"] >= start]
    ordered = window.reset_index().sort_values(["event_timestamp", "index"], kind="stable")
    return {
        int(k): row
        for k, row in ordered.groupby("customer_id").tail(1).set_index("customer_id").iterrows()
    }


def test_materialize_incremental_is_incremental_and_idempotent(
    make_store: Any, project: Path, online_uri: str
) -> None:
    frame = customer_stats(rows=60, customers=6, seed=3)
    path = write_repo(project, frame, ttl_days=30)
    store = make_store(online_store=online_uri)
    store.apply(path)
    ids = list(range(1, 8))  # 7 has no rows at all

    middle = BASE + pd.Timedelta(days=8)
    first = store.materialize_incremental(middle.to_pydatetime())
    assert first[0].start == (middle - pd.Timedelta(days=30)).to_pydatetime()  # end - ttl
    want = latest(frame, middle)
    assert first[0].entities == len(want) == first[0].written
    got = store.get_online_features({"customer_id": ids}, FEATURES)
    assert got["customer_id"] == ids
    for i, cid in enumerate(ids):
        row = want.get(cid)
        assert got["spend"][i] == (None if row is None else row["spend"])
        assert got["orders"][i] == (None if row is None else row["orders"])
        assert got["tier"][i] == (None if row is None else row["tier"])

    again = store.materialize_incremental(middle.to_pydatetime())
    assert again[0].written == 0  # the same window again changes nothing
    assert store.get_online_features({"customer_id": ids}, FEATURES) == got

    end = BASE + pd.Timedelta(days=25)
    second = store.materialize_incremental(end.to_pydatetime())
    assert second[0].start == middle.to_pydatetime()  # from the watermark
    assert second[0].entities == len(latest(frame, end, middle))
    final = store.get_online_features([{"customer_id": c} for c in ids], FEATURES)
    everything = latest(frame, end)
    assert final["spend"] == [everything[c]["spend"] if c in everything else None for c in ids]
    marks = store.registry.materializations("customer_stats")
    assert [m.online_store for m in marks] == [store.online.store_id]
    assert marks[0].watermark == int(end.timestamp() * 1000)

    # an older window never replaces newer values
    old = store.materialize(BASE.to_pydatetime(), (BASE + pd.Timedelta(days=2)).to_pydatetime())
    assert old[0].written == 0
    assert store.get_online_features({"customer_id": ids}, FEATURES) == final


def test_a_corrected_source_rewrites_only_what_changed(
    make_store: Any, project: Path, online_uri: str
) -> None:
    frame = customer_stats(rows=30, customers=4, seed=5)
    path = write_repo(project, frame, ttl_days=30)
    store = make_store(online_store=online_uri)
    store.apply(path)
    end = (BASE + pd.Timedelta(days=30)).to_pydatetime()
    assert store.materialize(BASE.to_pydatetime(), end)[0].written == 4
    target = latest(frame, pd.Timestamp(end))[2]
    fixed = frame.copy()
    fixed.loc[target["index"], "spend"] = 12345.0
    fixed.to_parquet(project / "data" / "customer_stats.parquet", index=False)
    assert store.materialize(BASE.to_pydatetime(), end)[0].written == 1
    got = store.get_online_features({"customer_id": [2]}, ["customer_stats:spend"])
    assert got == {"customer_id": [2], "spend": [12345.0]}


def test_online_lookups_check_their_input(make_store: Any, repo: Path) -> None:
    store = make_store()
    store.apply(repo)
    store.materialize(BASE.to_pydatetime(), (BASE + pd.Timedelta(days=30)).to_pydatetime())
    keys = store.get_online_features({"customer_id": [1.0, "2", 3]}, ["customer_stats:orders"])
    assert all(isinstance(v, int) for v in keys["orders"])  # 1.0, "2" and 3 are ids 1, 2, 3
    import numpy as np

    array = store.get_online_features(
        {"customer_id": np.array([1, 2, 3])}, ["customer_stats:orders"]
    )
    assert array["orders"] == keys["orders"]
    named = store.get_online_features(
        {"customer_id": [1]}, ["customer_stats:spend"], full_feature_names=True
    )
    assert list(named) == ["customer_id", "customer_stats__spend"]
    with pytest.raises(InvalidInput, match="missing join key 'customer_id' of feature view"):
        store.get_online_features({"id": [1]}, ["customer_stats:spend"])
    with pytest.raises(InvalidInput, match="entity key 'customer_id' must be an integer, got 'x'"):
        store.get_online_features({"customer_id": ["x"]}, ["customer_stats:spend"])
    with pytest.raises(InvalidInput, match="every join key needs the same number of values"):
        store.get_online_features({"customer_id": [1], "b": [1, 2]}, ["customer_stats:spend"])
    with pytest.raises(InvalidInput, match="give at least one entity"):
        store.get_online_features([], ["customer_stats:spend"])
    with pytest.raises(InvalidInput, match="unknown feature view 'nope'"):
        store.get_online_features({"customer_id": [1]}, ["nope:spend"])
    with pytest.raises(InvalidInput, match="start 2026-01-02T00:00:00\\+00:00 is after end"):
        store.materialize("2026-01-02", "2026-01-01")
    with pytest.raises(InvalidInput, match="must be an ISO 8601 time"):
        store.materialize("yesterday", "2026-01-01")


def test_views_applied_elsewhere_are_seen_without_a_restart(make_store: Any, project: Path) -> None:
    path = write_repo(project, customer_stats())
    reader = make_store()
    with pytest.raises(InvalidInput, match="unknown feature view 'customer_stats'"):
        reader.get_online_features({"customer_id": [1]}, ["customer_stats:spend"])
    make_store().apply(path)
    got = reader.get_online_features({"customer_id": [1]}, ["customer_stats:spend"])
    assert got["spend"] == [None]  # registered, not materialised yet


def test_unknown_online_store_schemes_list_the_known_ones(make_store: Any) -> None:
    store = make_store(online_store="memcached://127.0.0.1")
    with pytest.raises(InvalidInput, match="unknown scheme; use one of sqlite://, redis://"):
        _ = store.online


def test_nan_and_missing_values_read_back_as_they_were(make_store: Any, project: Path) -> None:
    frame = customer_stats(rows=4, customers=4).assign(customer_id=[1, 2, 3, 4])
    frame["spend"] = [float("nan"), 1.5, None, 2.5]
    path = write_repo(project, frame)
    store = make_store()
    store.apply(path)
    store.materialize(BASE.to_pydatetime(), (BASE + pd.Timedelta(days=30)).to_pydatetime())
    got = store.get_online_features({"customer_id": [1, 2, 3]}, ["customer_stats:spend"])["spend"]
    assert got[1] == 1.5 and got[2] is None and (got[0] is None or math.isnan(got[0]))


def test_numeric_views_read_back_exactly_with_nulls(
    make_store: Any, project: Path, online_uri: str
) -> None:
    """All-numeric views use the fixed-width codec: values, nulls and bools survive it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (project / "data").mkdir()
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 2, 3], pa.int64()),
                "event_timestamp": pa.array([BASE.to_pydatetime()] * 3, pa.timestamp("us", "UTC")),
                "score": pa.array([0.1, None, float("inf")], pa.float64()),
                "small": pa.array([1.5, 2.5, None], pa.float32()),
                "count": pa.array([None, -(2**40), 7], pa.int64()),
                "flag": pa.array([True, None, False], pa.bool_()),
            }
        ),
        project / "data" / "numbers.parquet",
    )
    (project / "numbers.py").write_text(
        "from mlstage.features import Entity, FeatureView, Field\n"
        "c = Entity('customer', join_keys=['customer_id'])\n"
        "v = FeatureView('numbers', entities=[c], source='data/numbers.parquet', schema=["
        "Field('score', 'float64'), Field('small', 'float32'), Field('count', 'int64'), "
        "Field('flag', 'bool')])\n"
    )
    store = make_store(online_store=online_uri)
    store.apply(project / "numbers.py")
    store.materialize(BASE.to_pydatetime(), (BASE + pd.Timedelta(days=1)).to_pydatetime())
    refs = ["numbers:flag", "numbers:count", "numbers:small", "numbers:score"]
    got = store.get_online_features({"customer_id": [3, 1, 9, 2]}, refs)
    assert got == {
        "customer_id": [3, 1, 9, 2],
        "flag": [False, True, None, None],
        "count": [7, None, None, -(2**40)],
        "small": [None, 1.5, None, 2.5],
        "score": [float("inf"), 0.1, None, None],
    }
    one = store.get_online_features({"customer_id": [2]}, ["numbers:count"])
    assert one == {"customer_id": [2], "count": [-(2**40)]}
