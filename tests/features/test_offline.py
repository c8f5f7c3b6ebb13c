"""Point-in-time joins, checked row by row against a brute-force reference on random data."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlstage.errors import InvalidInput
from mlstage.features import Entity, FeatureView, Field, Float64, Int64, String
from mlstage.features.repo import collect
from tests.features.conftest import BASE, customer_stats


def reference(
    entities: pd.DataFrame, features: pd.DataFrame, keys: list[str], names: list[str], ttl: Any
) -> list[dict[str, Any]]:
    """For each entity row: the last source row of its entity at or before it, within the TTL."""
    out = []
    for _, row in entities.iterrows():
        ts = row["event_timestamp"]
        hit = (features["event_timestamp"] <= ts).to_numpy().copy()
        for k in keys:
            hit &= (features[k] == row[k]).to_numpy()
        if ttl is not None:
            hit &= (features["event_timestamp"] >= ts - ttl).to_numpy()
        candidates = features[hit]
        best: Any = None
        for i, feature in candidates.iterrows():
            if best is None or feature["event_timestamp"] >= features.loc[best, "event_timestamp"]:
                best = i  # ties: the later row of the source wins
        out.append({n: None if best is None else features.loc[best, n] for n in names})
    return out


def same(a: Any, b: Any) -> bool:
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None or (isinstance(a, float) and math.isnan(a)) or a is pd.NA
    return bool(a == b)


def entity_rows(seed: int, rows: int, customers: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 100)
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(0, customers + 2, rows),  # ids 0 and n+1 have no features
            "event_timestamp": BASE + pd.to_timedelta(rng.integers(-24, 24 * 24, rows), unit="h"),
            "label": rng.integers(0, 2, rows),
        }
    )
    return pd.concat([frame, frame.iloc[:5]], ignore_index=True)  # duplicate entity rows


def register(project: Path, features: pd.DataFrame, ttl: timedelta | None) -> Any:
    (project / "data").mkdir(exist_ok=True)
    features.to_parquet(project / "data" / "stats.parquet", index=False)
    customer = Entity("customer", join_keys=["customer_id"])
    view = FeatureView(
        "stats",
        entities=[customer],
        source="data/stats.parquet",
        schema=[Field("spend", Float64), Field("orders", Int64), Field("tier", String)],
        ttl=ttl,
    )
    return collect([customer], [view], base=project)


@pytest.mark.parametrize("engine", ["arrow", "arrow-in-parts", "duckdb"])
@pytest.mark.parametrize(("seed", "ttl_hours"), [(1, 72), (2, None), (3, 6), (4, 0)])
def test_point_in_time_join_matches_brute_force(
    make_store: Any,
    project: Path,
    engine: str,
    seed: int,
    ttl_hours: int | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if engine == "arrow-in-parts":  # the source sorted in 3 parts, as big ones are
        import os

        from mlstage.features import offline

        monkeypatch.setattr(offline, "PARALLEL_FROM", 1)
        monkeypatch.setattr(os, "cpu_count", lambda: 3)
        engine = "arrow"
    features = customer_stats(rows=120, customers=8, seed=seed)
    # equal (entity, timestamp) pairs with different values: the later source row must win
    features = pd.concat([features, features.iloc[:6].assign(spend=-1.0)], ignore_index=True)
    ttl = None if ttl_hours is None else timedelta(hours=ttl_hours)
    store = make_store()
    store.apply(register(project, features, ttl))
    entities = entity_rows(seed, rows=80, customers=8)
    entities.index = entities.index * 10 + 7  # a non-default index is kept

    got = store.get_historical_features(
        entities, ["stats:spend", "stats:orders", "stats:tier"], engine=engine
    )

    assert list(got.columns) == [
        "customer_id",
        "event_timestamp",
        "label",
        "spend",
        "orders",
        "tier",
    ]
    assert got.index.equals(entities.index)
    pd.testing.assert_frame_equal(got[entities.columns], entities)
    ttl_bound = None if not ttl else pd.Timedelta(ttl)
    expected = reference(
        entities, features, ["customer_id"], ["spend", "orders", "tier"], ttl_bound
    )
    matched = 0
    for (_, row), want in zip(got.iterrows(), expected, strict=True):
        for name in ("spend", "orders", "tier"):
            assert same(row[name], want[name]), (row.to_dict(), want)
        matched += want["spend"] is not None
    assert 0 < matched < len(entities)  # both matches and misses were exercised
    if ttl_hours is None or ttl_hours > 24:
        assert any(w["spend"] == -1.0 for w in expected)  # some ties were there to break


def test_no_value_from_the_future_leaks(make_store: Any, project: Path) -> None:
    features = pd.DataFrame(
        {
            "customer_id": [1, 1, 1],
            "event_timestamp": [BASE, BASE + pd.Timedelta(hours=1), BASE + pd.Timedelta(hours=2)],
            "spend": [1.0, 2.0, 3.0],
            "orders": [1, 2, 3],
            "tier": ["a", "b", "c"],
        }
    )
    store = make_store()
    store.apply(register(project, features, None))
    times = [
        BASE - pd.Timedelta(seconds=1),
        BASE,
        BASE + pd.Timedelta(minutes=119),
        BASE + pd.Timedelta(hours=2),
    ]
    entities = pd.DataFrame({"customer_id": [1] * 4, "event_timestamp": times})
    got = store.get_historical_features(entities, ["stats:spend"])
    assert got["spend"].tolist()[1:] == [1.0, 2.0, 3.0]
    assert math.isnan(got["spend"].iloc[0])


def test_naive_entity_timestamps_are_utc_and_composite_keys_join(
    make_store: Any, project: Path
) -> None:
    (project / "data").mkdir()
    pd.DataFrame(
        {
            "store_id": ["a", "a", "b", None],
            "item_id": [1, 2, 1, 1],
            "event_timestamp": [BASE] * 4,
            "price": [1.5, 2.5, 3.5, 9.9],
        }
    ).to_parquet(project / "data" / "prices.parquet")
    store_entity = Entity("store", join_keys=["store_id"])
    item = Entity("item", join_keys=["item_id"])
    view = FeatureView(
        "prices",
        entities=[store_entity, item],
        source="data/prices.parquet",
        schema=[Field("price", Float64)],
    )
    fs = make_store()
    fs.apply(collect([store_entity, item], [view], base=project))
    entities = pd.DataFrame(
        {
            "store_id": ["b", "a", "a", "c", None],
            "item_id": [1, 2, 1, 1, 1],
            "event_timestamp": pd.to_datetime(["2026-01-01 00:00:00"] * 5),  # naive
        }
    )
    for engine in ("arrow", "duckdb"):
        got = fs.get_historical_features(entities, ["prices:price"], engine=engine)
        values = got["price"].tolist()
        assert values[:3] == [3.5, 2.5, 1.5], engine
        assert all(math.isnan(v) for v in values[3:]), engine


def test_timestamps_far_apart_still_join(make_store: Any, project: Path) -> None:
    """Decades between rows: the packed sort key would overflow, so timestamps are ranked."""
    stamps = pd.to_datetime(["1900-01-01", "2000-01-01", "2100-01-01"], utc=True)
    features = pd.DataFrame(
        {
            "customer_id": np.arange(3) % 2 + 1,
            "event_timestamp": stamps,
            "spend": [1.0, 2.0, 3.0],
            "orders": [1, 2, 3],
            "tier": ["a", "b", "c"],
        }
    )
    store = make_store()
    store.apply(register(project, features, None))
    entities = pd.DataFrame(
        {
            "customer_id": [1, 2, 1, 1],
            "event_timestamp": pd.to_datetime(
                ["1950-01-01", "2050-01-01", "2150-01-01", "1800-01-01"], utc=True
            ),
        }
    )
    got = store.get_historical_features(entities, ["stats:spend"])
    assert got["spend"].tolist()[:3] == [1.0, 2.0, 3.0]
    assert math.isnan(got["spend"].iloc[3])


def test_bad_requests_name_the_problem(make_store: Any, project: Path) -> None:
    store = make_store()
    store.apply(register(project, customer_stats(), None))
    entities = pd.DataFrame({"customer_id": [1], "event_timestamp": [BASE]})
    with pytest.raises(InvalidInput, match="unknown feature view 'nope'"):
        store.get_historical_features(entities, ["nope:spend"])
    with pytest.raises(
        InvalidInput, match="has no feature 'nope'; its features: spend, orders, tier"
    ):
        store.get_historical_features(entities, ["stats:nope"])
    with pytest.raises(InvalidInput, match='not a feature reference of the form "view:feature"'):
        store.get_historical_features(entities, ["spend"])
    with pytest.raises(InvalidInput, match="no timestamp column 'ts'"):
        store.get_historical_features(entities, ["stats:spend"], timestamp_column="ts")
    with pytest.raises(
        InvalidInput, match="no column 'customer_id', the join key of feature view 'stats'"
    ):
        store.get_historical_features(
            entities.rename(columns={"customer_id": "c"}), ["stats:spend"]
        )
    with pytest.raises(InvalidInput, match="must hold integers"):
        store.get_historical_features(entities.assign(customer_id=["x"]), ["stats:spend"])
    named = store.get_historical_features(entities, ["stats:spend"], full_feature_names=True)
    assert "stats__spend" in named.columns
