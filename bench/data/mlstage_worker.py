"""mlstage side of the data benchmark: one measurement per fresh process.

python bench/data/mlstage_worker.py gen-drift --dir D --rows 1000000
python bench/data/mlstage_worker.py gen-stats --dir D --rows 10000000
python bench/data/mlstage_worker.py drift --dir D [--from-files] [--html]
python bench/data/mlstage_worker.py stats --dir D
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _spec import (
    CARDINALITY,
    CATEGORICAL,
    NUMERIC,
    REWEIGHTED,
    SEED,
    SHIFTED,
    finish,
    guard_network,
    rss_kb,
)


def gen_drift(folder: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    for part, seed in (("reference", SEED), ("current", SEED + 1)):
        rng = np.random.default_rng(seed)
        columns = {}
        for i, name in enumerate(NUMERIC):
            shift = 0.5 if part == "current" and name in SHIFTED else 0.0
            kind = i % 4
            if kind == 0:
                values = rng.normal(shift, 1.0, rows)
            elif kind == 1:
                values = rng.lognormal(shift, 0.5, rows)
            elif kind == 2:
                values = rng.uniform(shift, 1 + shift, rows)
            else:
                values = rng.exponential(1 + shift, rows)
            columns[name] = pa.array(values)
        for name, k in zip(CATEGORICAL, CARDINALITY, strict=True):
            weights = np.arange(1, k + 1, dtype=float)
            if part == "current" and name in REWEIGHTED:
                weights = weights[::-1].copy()
            codes = rng.choice(k, rows, p=weights / weights.sum()).astype(np.int32)
            labels = pa.array([f"{name}_v{j:03d}" for j in range(k)])
            columns[name] = pa.DictionaryArray.from_arrays(pa.array(codes), labels)
        pq.write_table(pa.table(columns), folder / f"{part}.parquet")


def gen_stats(folder: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    chunk = 1_000_000
    writer = None
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        columns = {}
        for i in range(12):
            values = rng.normal(i, 1 + i, n)
            values[rng.random(n) < 0.01] = np.nan  # 1% missing values
            columns[f"f{i:02d}"] = pa.array(values, from_pandas=True)
        for i in range(3):
            columns[f"i{i}"] = pa.array(rng.integers(0, 10 ** (i + 2), n))
        for i, k in enumerate(CARDINALITY):
            codes = rng.integers(0, k, n).astype(np.int32)
            labels = pa.array([f"s{i}_v{j:03d}" for j in range(k)])
            columns[f"s{i}"] = pa.DictionaryArray.from_arrays(pa.array(codes), labels)
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(folder / "stats.parquet", table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def load_frames(folder: Path) -> tuple[object, object]:
    """Both frames in pandas, categorical columns as ``category`` (the same as the peer)."""
    import pandas as pd

    frames = []
    for part in ("reference", "current"):
        df = pd.read_parquet(folder / f"{part}.parquet")
        frames.append(df.astype({c: "category" for c in CATEGORICAL}))
    return frames[0], frames[1]


def drift(folder: Path, from_files: bool, html: bool) -> dict:
    import mlstage
    from mlstage.data import compare

    t_import = time.perf_counter()
    if from_files:
        ref, cur = folder / "reference.parquet", folder / "current.parquet"
    else:
        ref, cur = load_frames(folder)
    loaded_rss = rss_kb()
    import pyarrow as pa

    warm = pa.table({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    compare(warm, warm)  # first-use costs (DuckDB start-up), as the peer's warm-up run
    t0 = time.perf_counter()
    report = compare(ref, cur)
    summary = report.to_dict()
    seconds = time.perf_counter() - t0
    html_seconds = None
    if html:
        t1 = time.perf_counter()
        page = report.to_html()
        (folder / "mlstage-report.html").write_text(page, encoding="utf-8")
        html_seconds = time.perf_counter() - t1
    return {
        "tool": "mlstage",
        "version": mlstage.__version__,
        "seconds": seconds,
        "html_seconds": html_seconds,
        "load_seconds": t0 - t_import,
        "loaded_rss_kb": loaded_rss,
        "drifted": sorted(report.drifted_features),
        "dataset_drift": summary["drifted"],
        "methods": sorted({f.method for f in report.features.values()}),
    }


def stats(folder: Path) -> dict:
    import duckdb

    from mlstage.data import compute_statistics

    before = rss_kb()
    t0 = time.perf_counter()
    result = compute_statistics(folder / "stats.parquet")
    seconds = time.perf_counter() - t0
    return {
        "tool": "mlstage",
        "duckdb": duckdb.__version__,
        "seconds": seconds,
        "rows": result.num_rows,
        "columns": len(result.features),
        "rows_per_second": result.num_rows / seconds,
        "loaded_rss_kb": before,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["gen-drift", "gen-stats", "drift", "stats"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--rows", type=int, default=0)
    parser.add_argument("--from-files", action="store_true")
    parser.add_argument("--html", action="store_true")
    args = parser.parse_args()
    guard_network()
    folder = Path(args.dir)
    if args.scenario == "gen-drift":
        gen_drift(folder, args.rows)
        finish({"tool": "mlstage", "generated": str(folder)})
    elif args.scenario == "gen-stats":
        gen_stats(folder, args.rows)
        finish({"tool": "mlstage", "generated": str(folder)})
    elif args.scenario == "drift":
        finish(drift(folder, args.from_files, args.html))
    else:
        finish(stats(folder))


if __name__ == "__main__":
    main()
