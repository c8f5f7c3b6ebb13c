"""Writes the benchmark's data: a training reference and 1,000,000 logged predictions.

The predictions are stored as the request log stores them: Parquet files of
10,000 rows (the logger's batch), with the request log's columns, checked by
``check_log_file`` and indexed in ``prediction_logs`` of a fresh project's
SQLite database. The same inputs are also written as one plain Parquet file
(``current.parquet``), the DataFrame Evidently is given.

    python bench/monitoring/prepare.py OUT_DIR [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

N_NUMERIC = 20
N_CATEGORICAL = 5
BATCH = 10_000
DAY0 = 1_780_000_000_000 - 1_780_000_000_000 % 86_400_000  # a UTC midnight
CATEGORIES = [f"c{i}" for i in range(8)]


def frame(rng: np.random.Generator, rows: int, shifted: bool) -> dict[str, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    for i in range(N_NUMERIC):
        shift = 0.3 if shifted and i % 4 == 0 else 0.0
        data[f"num_{i}"] = rng.normal(shift, 1.0 + 0.05 * i, rows)
    for i in range(N_CATEGORICAL):
        p = np.full(len(CATEGORIES), 1 / len(CATEGORIES))
        if shifted and i == 0:
            p = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
        data[f"cat_{i}"] = rng.choice(CATEGORIES, rows, p=p)
    return data


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261126)
    pq.write_table(pa.table(frame(rng, args.rows, shifted=False)), out / "reference.parquet")
    current = frame(rng, args.rows, shifted=True)
    pq.write_table(pa.table(current), out / "current.parquet")

    import os

    os.environ["MLSTAGE_TRACKING_URI"] = f"sqlite:///{out / 'project' / 'mlstage.db'}"
    os.environ["MLSTAGE_ARTIFACT_ROOT"] = str(out / "project" / "artifacts")
    (out / "project").mkdir(exist_ok=True)
    from mlstage.artifacts.store import ArtifactStore
    from mlstage.serving.request_log_store import (
        SqlPredictionLogStore,
        check_log_file,
        parquet_bytes,
    )
    from mlstage.store.database import Database

    store = SqlPredictionLogStore(
        Database(os.environ["MLSTAGE_TRACKING_URI"]),
        ArtifactStore(os.environ["MLSTAGE_ARTIFACT_ROOT"]),
    )
    stamps = DAY0 + np.sort(rng.integers(0, 86_400_000, args.rows))
    outputs = rng.integers(0, 2, args.rows)
    for start in range(0, args.rows, BATCH):
        end = min(start + BATCH, args.rows)
        n = end - start
        p1 = rng.random(n)
        columns: dict[str, pa.Array] = {
            "prediction_id": pa.array([uuid.uuid4().hex for _ in range(n)], pa.string()),
            "timestamp": pa.array(stamps[start:end], pa.int64()),
            "model": pa.array(["bench"] * n, pa.string()),
            "version": pa.array([1] * n, pa.int64()),
            "deployment": pa.array([None] * n, pa.string()),
            "route": pa.array(["primary"] * n, pa.string()),
            "request_key": pa.array([None] * n, pa.string()),
        }
        for name, values in current.items():
            columns[f"input.{name}"] = pa.array(values[start:end])
        columns["output"] = pa.array(outputs[start:end], pa.int64())
        columns["probabilities"] = pa.array(
            [[1 - p, p] for p in p1.tolist()], pa.list_(pa.float64())
        )
        columns["latency_ms"] = pa.array(rng.gamma(2.0, 0.5, n), pa.float64())
        store.write_file(check_log_file("bench", parquet_bytes(pa.table(columns))))
    meta = {
        "rows": args.rows,
        "features": N_NUMERIC + N_CATEGORICAL,
        "files": (args.rows + BATCH - 1) // BATCH,
        "since_ms": DAY0,
        "until_ms": DAY0 + 86_400_000,
    }
    (out / "meta.json").write_text(json.dumps(meta))
    sys.stdout.write(json.dumps(meta) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
