"""Feast side of the feature store benchmark (runs in bench/.venvs/feast, FEAST_USAGE=False).

    python feast_worker.py pit --dir D --shared SHARED --repeat 5
    python feast_worker.py online --dir D --shared SHARED
    python feast_worker.py serve-setup --dir D --shared SHARED   (then `feast -c D/repo serve`)

The repository: DuckDB offline store (the ``feast[duckdb]`` extra), SQLite
online store, one FileSource over the shared Parquet file, the same TTL and
features as mlstage's view.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _bench as b

CONFIG = """project: bench
registry: {registry}
provider: local
offline_store:
  type: duckdb
online_store:
  type: sqlite
  path: {online}
entity_key_serialization_version: 3
"""


def store(folder: Path, shared: Path):  # type: ignore[no-untyped-def]
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    repo = folder / "repo"
    repo.mkdir(exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        CONFIG.format(registry=repo / "registry.db", online=repo / "online.db"), encoding="utf-8"
    )
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    source = FileSource(path=str(shared / b.FEATURES_FILE), timestamp_field="event_timestamp")
    view = FeatureView(
        name=b.VIEW,
        entities=[customer],
        ttl=timedelta(days=b.TTL_DAYS),
        schema=[Field(name=f, dtype=Float64) for f in b.FEATURES],
        source=source,
        online=True,
    )
    fs = FeatureStore(repo_path=str(repo))
    fs.apply([customer, view])
    return fs


def materialize(fs) -> float:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    t0 = time.perf_counter()
    fs.materialize(datetime(2025, 12, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    return time.perf_counter() - t0


def main() -> None:
    args = b.parse_args()
    scenario = args["scenario"]
    folder = Path(args.get("dir", "."))
    if scenario == "info":
        import duckdb
        import feast
        import pandas
        import pyarrow

        b.emit(
            {
                "feast": feast.__version__,
                "duckdb": duckdb.__version__,
                "pandas": pandas.__version__,
                "pyarrow": pyarrow.__version__,
                **b.environment(),
            }
        )
        return
    shared = Path(args["shared"])
    t0 = time.perf_counter()
    fs = store(folder, shared)
    setup = time.perf_counter() - t0
    if scenario == "pit":
        entities = b.entity_frame(shared)
        result = b.timed_joins(
            lambda: fs.get_historical_features(entity_df=entities, features=b.REFS).to_df(),
            int(args.get("repeat", "5")),
        )
        b.emit({**result, "setup": setup})
        return
    if scenario == "online":
        materialized = materialize(fs)
        keys = json.loads((shared / b.KEYS_FILE).read_text(encoding="utf-8"))
        timed = b.online_lookups(
            lambda k: fs.get_online_features(
                features=b.REFS, entity_rows=[{"customer_id": k}]
            ).to_dict(),
            lambda k: fs.get_online_features(
                features=b.REFS, entity_rows=[{"customer_id": x} for x in k]
            ).to_dict(),
            keys,
        )
        sample = fs.get_online_features(
            features=b.REFS, entity_rows=[{"customer_id": k} for k in keys["one"][:3]]
        ).to_dict()
        b.emit({**timed, "materialize": materialized, "sample": sample})
        return
    if scenario == "serve-setup":
        b.emit({"materialize": materialize(fs), "repo": str(folder / "repo")})
        return
    raise SystemExit(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    main()
