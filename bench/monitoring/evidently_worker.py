"""Evidently 0.7's DataDriftPreset on the same reference and the same 1,000,000 inputs.

Runs in ``bench/.venvs/evidently``. Only ``Report.run`` is timed: reading the
two Parquet files into pandas is not counted against Evidently.

    python bench/monitoring/evidently_worker.py DATA_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracking"))

from _common import guard_network, network_attempts


def main() -> int:
    guard_network()
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    data = Path(sys.argv[1])
    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    seconds = time.perf_counter() - start
    drifted = []
    for metric in snapshot.dict().get("metrics", []):
        config = metric.get("config", {})
        value = metric.get("value")
        column = config.get("column")
        threshold = config.get("threshold")
        if column and isinstance(value, int | float) and threshold is not None:
            method = str(config.get("method", ""))
            is_test = "p_value" in method or method in ("ks", "chisquare", "z")
            if (value < threshold) if is_test else (value >= threshold):
                drifted.append(column)
    result = {
        "seconds": seconds,
        "rows": len(current),
        "drifted": sorted(drifted),
        "network_attempts": network_attempts,
    }
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
