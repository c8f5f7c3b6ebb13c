"""Evidently side of the drift benchmark (runs in bench/.venvs/evidently): one run per process.

    bench/.venvs/evidently/bin/python bench/data/evidently_worker.py drift --dir D [--html]

The same pandas frames as mlstage's worker (categorical columns as ``category``),
the column types declared, ``Report([DataDriftPreset()]).run(current, reference)``
and the result as a dict: the same work as ``compare(...).to_dict()``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _spec import CATEGORICAL, NUMERIC, finish, guard_network, rss_kb


def drift(folder: Path, html: bool) -> dict:
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    t_import = time.perf_counter()
    frames = []
    for part in ("reference", "current"):
        df = pd.read_parquet(folder / f"{part}.parquet")
        frames.append(df.astype({c: "category" for c in CATEGORICAL}))
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    ref = Dataset.from_pandas(frames[0], data_definition=definition)
    cur = Dataset.from_pandas(frames[1], data_definition=definition)
    loaded_rss = rss_kb()
    warm = [Dataset.from_pandas(f.head(1000), data_definition=definition) for f in frames]
    Report([DataDriftPreset()]).run(warm[1], warm[0])  # first-use costs, as mlstage's warm-up
    del warm
    t0 = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    summary = snapshot.dict()
    seconds = time.perf_counter() - t0
    html_seconds = None
    if html:
        t1 = time.perf_counter()
        snapshot.save_html(str(folder / "evidently-report.html"))
        html_seconds = time.perf_counter() - t1
    drifted = []
    methods = set()
    for metric in summary.get("metrics", []):
        config = metric.get("config", {})
        column = config.get("column")
        value = metric.get("value")
        if column and isinstance(value, (int, float)) and "method" in config:
            methods.add(str(config.get("method")))
            threshold = config.get("threshold")
            if threshold is not None and _drifted(config.get("method"), value, threshold):
                drifted.append(column)
    return {
        "tool": "evidently",
        "version": evidently.__version__,
        "pandas": pd.__version__,
        "seconds": seconds,
        "html_seconds": html_seconds,
        "load_seconds": t0 - t_import,
        "loaded_rss_kb": loaded_rss,
        "drifted": sorted(drifted),
        "methods": sorted(methods),
    }


def _drifted(method: object, value: float, threshold: float) -> bool:
    text = str(method).lower()
    if "p_value" in text or "test" in text or text in ("ks", "chisquare", "z"):
        return value < threshold
    return value >= threshold


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["drift"])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--html", action="store_true")
    args = parser.parse_args()
    guard_network()
    finish(drift(Path(args.dir), args.html))


if __name__ == "__main__":
    main()
