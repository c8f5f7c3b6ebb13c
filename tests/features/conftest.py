"""A project with a feature source, a definitions file, and the store on each metadata database."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlstage import config
from mlstage.features.store import FeatureStore
from tests.conftest import missing, port_open

BASE = pd.Timestamp("2026-01-01", tz="UTC")

DEFINITIONS = """
from datetime import timedelta
from mlstage.features import Entity, FeatureView, Field, Float64, Int64, String

customer = Entity("customer", join_keys=["customer_id"])
stats = FeatureView(
    "customer_stats",
    entities=[customer],
    source="data/customer_stats.parquet",
    schema=[Field("spend", Float64), Field("orders", Int64), Field("tier", String)],
    ttl=timedelta(days={ttl_days}),
)
"""


def customer_stats(rows: int = 40, customers: int = 5, seed: int = 0) -> pd.DataFrame:
    """Feature rows: customer ``i`` at day ``d``; distinct values so a wrong pick shows."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": rng.integers(1, customers + 1, rows),
            "event_timestamp": BASE + pd.to_timedelta(rng.integers(0, 20 * 24, rows), unit="h"),
            "spend": np.round(rng.random(rows) * 100, 3),
            "orders": rng.integers(0, 50, rows),
            "tier": rng.choice(["gold", "silver", "bronze"], rows),
        }
    )


def write_repo(root: Path, frame: pd.DataFrame, ttl_days: int = 3, text: str | None = None) -> Path:
    (root / "data").mkdir(exist_ok=True)
    frame.to_parquet(root / "data" / "customer_stats.parquet", index=False)
    path = root / "features.py"
    path.write_text(textwrap.dedent(text or DEFINITIONS.replace("{ttl_days}", str(ttl_days))))
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def metadata_url(request: pytest.FixtureRequest) -> str:
    return str(
        request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    )


@pytest.fixture
def make_store(project: Path) -> Iterator[Callable[..., FeatureStore]]:
    """``make_store(tracking_uri=..., online_store=...)``: stores closed after the test."""
    made: list[FeatureStore] = []

    def make(**overrides: Any) -> FeatureStore:
        settings = config.load_settings(start=project, **overrides)
        store = FeatureStore(settings)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def repo(project: Path) -> Path:
    """The project's definitions file over 40 random feature rows (TTL 3 days)."""
    return write_repo(project, customer_stats())


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The local Redis with a key prefix of its own; its keys are deleted afterwards."""
    if not port_open("127.0.0.1", 6379):
        missing("Redis is not running on 127.0.0.1:6379")
    import redis

    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield f"redis://127.0.0.1:6379/0?key_prefix={prefix}"
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
