"""The feature store: definitions in Python, point-in-time joins, online stores.

    from datetime import timedelta
    from mlstage.features import Entity, FeatureView, Field, Float64, Int64

    customer = Entity("customer", join_keys=["customer_id"])
    stats = FeatureView(
        "customer_stats", entities=[customer], source="data/customer_stats.parquet",
        schema=[Field("spend_7d", Float64), Field("orders_7d", Int64)], ttl=timedelta(days=7),
    )

``mlstage features apply features.py`` registers them; ``mlstage.feature_store()``
joins them to training rows (``get_historical_features``), materialises them
(``materialize``) and serves them (``get_online_features``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlstage.features.definitions import (
    Bool,
    Entity,
    FeatureView,
    Field,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    UnixTimestamp,
)

__all__ = [
    "Bool",
    "Entity",
    "FeatureStore",
    "FeatureView",
    "Field",
    "Float32",
    "Float64",
    "Int32",
    "Int64",
    "String",
    "UnixTimestamp",
    "feature_store",
]

if TYPE_CHECKING:
    from mlstage.features.store import FeatureStore as FeatureStore
    from mlstage.features.store import feature_store as feature_store


def __getattr__(name: str) -> Any:
    if name in ("FeatureStore", "feature_store"):
        from mlstage.features import store

        return getattr(store, name)
    raise AttributeError(f"module 'mlstage.features' has no attribute {name!r}")
