"""The benchmark data, shared by both workers (standard library only: each runs in its own venv).

Drift: 25 columns, 20 numeric (float64) and 5 categorical (strings with 5 to
100 values), reference and current at the same size; in the current data 4
numeric columns are shifted and 1 categorical column is re-weighted, so both
tools have something to find. Statistics: 10,000,000 rows x 20 columns,
15 numeric (12 float64, 3 int64) and 5 categorical.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tracking"))

from _common import emit, guard_network

NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
CARDINALITY = [5, 10, 20, 50, 100]
SHIFTED = ["num_00", "num_05", "num_10", "num_15"]
REWEIGHTED = ["cat_1"]
SEED = 20261126


def rss_kb() -> int:
    """Resident set size now, in KiB."""
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_rss_kb() -> int:
    """ru_maxrss of this process: its peak resident set size, in KiB (Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def finish(result: dict[str, Any]) -> None:
    result["peak_rss_kb"] = peak_rss_kb()
    emit(result)


__all__ = [
    "CATEGORICAL",
    "NUMERIC",
    "emit",
    "finish",
    "guard_network",
    "json",
    "rss_kb",
]
