"""One ``mlstage monitor check`` (feature drift) over the prepared window, in a fresh process.

    python bench/monitoring/mlstage_worker.py DATA_DIR
Prints ``BENCH_RESULT {"seconds": check, "process_seconds": ..., "drifted": [...]}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracking"))

from _common import guard_network, network_attempts  # noqa: E402


def main() -> int:
    guard_network()
    data = Path(sys.argv[1])
    meta = json.loads((data / "meta.json").read_text())
    os.environ["MLSTAGE_TRACKING_URI"] = f"sqlite:///{data / 'project' / 'mlstage.db'}"
    os.environ["MLSTAGE_ARTIFACT_ROOT"] = str(data / "project" / "artifacts")
    from mlstage.monitoring.check import run_check
    from mlstage.monitoring.definitions import FeatureDrift, Monitoring

    monitoring = Monitoring(
        model="bench", monitors=[FeatureDrift(reference=str(data / "reference.parquet"))]
    )
    start = time.perf_counter()
    report = run_check(
        "bench", monitoring=monitoring, window="1d", now_ms=meta["until_ms"], alerts=False
    )
    seconds = time.perf_counter() - start
    share = next(r for r in report.results if r.metric == "drift_share")
    result = {
        "seconds": seconds,
        "process_seconds": time.perf_counter() - STARTED,
        "rows": report.predictions,
        "drifted": share.details.get("drifted", []),
        "network_attempts": network_attempts,
    }
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
