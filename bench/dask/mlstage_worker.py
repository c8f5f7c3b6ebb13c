"""mlstage side of the Dask benchmark: one measurement per fresh process.

    python bench/dask/mlstage_worker.py gen --dir D --rows 10000000 --parts 20
    python bench/dask/mlstage_worker.py setup --dir D       # the model, registered as bench/1
    python bench/dask/mlstage_worker.py stats --dir D --data DATA --executor local|dask|tcp://...

Prints one line ``BENCH_RESULT {json}``. Scoring is measured through the CLI
(``mlstage predict``) by ``bench/run_dask.py``, not here.
"""

from __future__ import annotations

import time

T_START = time.monotonic()

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

FEATURES = [f"f{i:02d}" for i in range(10)]
MODEL_FEATURES = FEATURES[:8]
"""The model's inputs; the last two features have 1% missing values and are not used."""
SEGMENTS = [f"segment_{j}" for j in range(8)]
SEED = 20261126
CHUNK = 500_000


def emit(result: dict) -> None:
    print("BENCH_RESULT " + json.dumps(result), flush=True)


def chunk_table(rng, n: int):
    """``n`` rows: 10 float features (the last two 1% missing), a count, a categorical segment."""
    import numpy as np
    import pyarrow as pa

    columns = {}
    for i, name in enumerate(FEATURES):
        values = rng.normal(i * 0.1, 1.0 + i * 0.2, n)
        missing = rng.random(n) < 0.01 if name not in MODEL_FEATURES else None
        columns[name] = pa.array(values, mask=missing)
    columns["visits"] = pa.array(rng.poisson(3.0, n).astype(np.int64))
    codes = rng.integers(0, len(SEGMENTS), n).astype(np.int32)
    columns["segment"] = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(SEGMENTS))
    return pa.table(columns)


def gen(folder: Path, rows: int, parts: int) -> dict:
    """``parts/part-NNN.parquet`` (``parts`` files) and ``all.parquet``: the same rows, twice."""
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    (folder / "parts").mkdir(parents=True, exist_ok=True)
    per_part = -(-rows // parts)
    whole = None
    done = 0
    for p in range(parts):
        n_part = min(per_part, rows - done)
        writer = None
        for start in range(0, n_part, CHUNK):
            table = chunk_table(rng, min(CHUNK, n_part - start))
            if writer is None:
                writer = pq.ParquetWriter(folder / "parts" / f"part-{p:03d}.parquet", table.schema)
            if whole is None:
                whole = pq.ParquetWriter(folder / "all.tmp", table.schema)
            writer.write_table(table)
            whole.write_table(table)
        if writer is not None:
            writer.close()
        done += n_part
    assert whole is not None
    whole.close()
    (folder / "all.tmp").rename(folder / "all.parquet")
    return {"rows": rows, "parts": parts, "seconds": time.monotonic() - T_START}


def setup(folder: Path) -> dict:
    """A logistic regression on the 8 complete features (20,000 rows), registered as ``bench``."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mlstage

    rng = np.random.default_rng(SEED + 1)
    X = pd.DataFrame({name: rng.normal(i * 0.1, 1.0 + i * 0.2, 20_000) for i, name in
                      enumerate(MODEL_FEATURES)})  # fmt: skip
    y = (X.f00 - X.f03 + rng.normal(size=len(X))) > 0
    with mlstage.start_run():
        model = LogisticRegression(max_iter=500).fit(X, y)
        uri = mlstage.log_model(model, "model", input_example=X.head(5)).model_uri
    version = mlstage.register_model(uri, "bench").version
    return {"model": f"bench/{version}"}


def stats(folder: Path, executor: str) -> dict:
    t_import = time.monotonic()
    if executor == "local":
        from mlstage.data.statistics import compute_statistics

        target = folder / "all.parquet"
        result = compute_statistics(target)
    else:
        from mlstage.data.statistics_dask import statistics_on_dask

        target = folder / "parts"
        result = statistics_on_dask(target, executor=executor)
    seconds = time.monotonic() - t_import
    return {
        "executor": executor,
        "rows": result.num_rows,
        "columns": len(result.features),
        "seconds": seconds,
        "rows_per_second": result.num_rows / seconds,
        "import_s": t_import - T_START,
        "summary": {
            name: {k: f.get(k) for k in ("count", "missing", "min", "max", "mean", "unique")}
            for name, f in result.to_dict()["features"].items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["gen", "setup", "stats"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--executor", default="local")
    parser.add_argument("--data", default="", help="the generated data (stats; default --dir)")
    args = parser.parse_args()
    folder = Path(args.dir)
    if args.scenario == "gen":
        emit(gen(folder, args.rows, args.parts))
    elif args.scenario == "setup":
        emit(setup(folder))
    else:
        emit(stats(Path(args.data) if args.data else folder, args.executor))


if __name__ == "__main__":
    main()
