"""mlstage side of the feature store benchmark: one scenario per fresh process.

    python mlstage_worker.py data --dir SHARED
    python mlstage_worker.py pit --dir D --shared SHARED --repeat 5
    python mlstage_worker.py online --dir D --shared SHARED
    python mlstage_worker.py serve-setup --dir D --shared SHARED   (then `mlstage serve scorer/1`)

``--dir`` is this measurement's project folder (cwd); the runner points
``MLSTAGE_TRACKING_URI`` and ``MLSTAGE_ONLINE_STORE`` into it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import _bench as b

DEFINITIONS = """
from datetime import timedelta
from mlstage.features import Entity, FeatureView, Field, Float64

customer = Entity("customer", join_keys=["customer_id"])
customer_stats = FeatureView(
    "{view}",
    entities=[customer],
    source={source!r},
    schema=[{fields}],
    ttl=timedelta(days={ttl}),
)
"""


def store(folder: Path, shared: Path):  # type: ignore[no-untyped-def]
    import mlstage

    path = folder / "features.py"
    path.write_text(
        DEFINITIONS.format(
            view=b.VIEW,
            source=str(shared / b.FEATURES_FILE),
            fields=", ".join(f'Field("{f}", Float64)' for f in b.FEATURES),
            ttl=b.TTL_DAYS,
        ),
        encoding="utf-8",
    )
    fs = mlstage.feature_store()
    fs.apply(path)
    return fs


def materialize(fs) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fs.materialize("2025-12-01T00:00:00", "2026-02-01T00:00:00")
    return time.perf_counter() - t0


def main() -> None:
    args = b.parse_args()
    scenario = args["scenario"]
    folder = Path(args.get("dir", "."))
    if scenario == "data":
        b.emit(b.write_data(folder))
        return
    if scenario == "info":
        import duckdb
        import pandas
        import pyarrow

        import mlstage

        b.emit(
            {
                "mlstage": mlstage.__version__,
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
            lambda: fs.get_historical_features(entities, b.REFS), int(args.get("repeat", "5"))
        )
        b.emit({**result, "setup": setup})
        return
    if scenario == "online":
        materialized = materialize(fs)
        keys = json.loads((shared / b.KEYS_FILE).read_text(encoding="utf-8"))
        timed = b.online_lookups(
            lambda k: fs.get_online_features({"customer_id": [k]}, b.REFS),
            lambda k: fs.get_online_features({"customer_id": k}, b.REFS),
            keys,
        )
        sample = fs.get_online_features({"customer_id": keys["one"][:3]}, b.REFS)
        b.emit({**timed, "materialize": materialized, "sample": sample})
        return
    if scenario == "serve-setup":
        import numpy as np
        import pandas as pd
        from sklearn.linear_model import LinearRegression

        import mlstage

        materialized = materialize(fs)
        X = pd.DataFrame({f: np.arange(20.0) for f in b.FEATURES})
        with mlstage.start_run():
            uri = mlstage.log_model(LinearRegression().fit(X, X.f0), "model", input_example=X)
        mlstage.register_model(uri.model_uri, "scorer")
        b.emit({"materialize": materialized, "target": "scorer/1"})
        return
    raise SystemExit(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    main()
