"""Helpers shared by the feature store workers (each in its own venv; see bench/run_features.py).

The data both tools read: one Parquet file of 1,000,000 feature rows (10,000
customers, 30 days of event timestamps at second resolution, ten float
features ``f0`` ... ``f9``) and 100,000 entity rows (random customers, some
without any feature row, at random times of the same 30 days), written once
with a fixed seed by the mlstage venv's ``data`` step.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

FEATURE_ROWS = 1_000_000
ENTITY_ROWS = 100_000
CUSTOMERS = 10_000
N_FEATURES = 10
TTL_DAYS = 2
SEED = 20261126
START = "2026-01-01T00:00:00"
DAYS = 30
VIEW = "customer_stats"
FEATURES = [f"f{i}" for i in range(N_FEATURES)]
REFS = [f"{VIEW}:{f}" for f in FEATURES]
FEATURES_FILE = "features.parquet"
ENTITIES_FILE = "entities.parquet"
KEYS_FILE = "keys.json"


def parse_args(argv: list[str] | None = None) -> dict[str, str]:
    """``scenario --key value ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = {"scenario": argv.pop(0) if argv else ""}
    while argv:
        key = argv.pop(0)
        if not key.startswith("--") or not argv:
            raise SystemExit(f"bad argument {key!r}: expected --key value pairs")
        args[key[2:].replace("-", "_")] = argv.pop(0)
    return args


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def write_data(shared: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    base = np.datetime64(START, "us")
    seconds = DAYS * 86_400
    # Microsecond timestamps: no two rows of one customer share one (ties would let the
    # tools pick different rows, and the checksums could not be compared).
    micros = rng.choice(seconds * 1_000_000, FEATURE_ROWS, replace=False)
    columns: dict[str, Any] = {
        "customer_id": rng.integers(0, CUSTOMERS, FEATURE_ROWS).astype(np.int64),
        "event_timestamp": pa.array(
            base + micros.astype("timedelta64[us]"), pa.timestamp("us", tz="UTC")
        ),
    }
    for name in FEATURES:
        columns[name] = rng.random(FEATURE_ROWS)
    pq.write_table(pa.table(columns), shared / FEATURES_FILE)
    entities = pd.DataFrame(
        {
            "customer_id": rng.integers(0, CUSTOMERS + 500, ENTITY_ROWS).astype(np.int64),
            "event_timestamp": pd.to_datetime(
                base + rng.integers(0, seconds, ENTITY_ROWS).astype("timedelta64[s]"), utc=True
            ).as_unit("us"),
        }
    )
    entities.to_parquet(shared / ENTITIES_FILE, index=False)
    keys = {
        "one": [int(k) for k in rng.integers(0, CUSTOMERS, 5_000)],
        "hundred": [[int(k) for k in rng.integers(0, CUSTOMERS, 100)] for _ in range(500)],
    }
    (shared / KEYS_FILE).write_text(json.dumps(keys), encoding="utf-8")
    return {
        "feature_rows": FEATURE_ROWS,
        "entity_rows": ENTITY_ROWS,
        "feature_bytes": (shared / FEATURES_FILE).stat().st_size,
    }


def entity_frame(shared: Path) -> Any:
    import pandas as pd

    return pd.read_parquet(shared / ENTITIES_FILE)


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> None:
    """Reset the process's peak RSS (VmHWM) to the current RSS (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w", encoding="utf-8") as fh:
        fh.write("5")


def peak_bytes() -> int:
    with open("/proc/self/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def timed_joins(join: Any, repeat: int) -> dict[str, Any]:
    """``join()`` once untimed, then ``repeat`` times: seconds, peak RSS, its rise."""
    import gc

    result = join()
    summary = checksum(result)
    del result
    times, cpus, peaks, rises = [], [], [], []
    for _ in range(repeat):
        gc.collect()
        before = rss_bytes()
        reset_peak()
        c0 = cpu_seconds()
        t0 = time.perf_counter()
        result = join()
        times.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
        peak = peak_bytes()
        peaks.append(peak)
        rises.append(peak - before)
        del result
    return {"times": times, "cpu": cpus, "peaks": peaks, "rises": rises, "checksum": summary}


def cpu_seconds() -> float:
    """User + system CPU time of the whole process, every thread included."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def checksum(frame: Any) -> dict[str, Any]:
    """What both tools must agree on: rows, matched rows, and sums of two features."""
    return {
        "rows": len(frame),
        "matched": int(frame["f0"].notna().sum()),
        "sum_f0": round(float(frame["f0"].sum()), 6),
        "sum_f9": round(float(frame["f9"].sum()), 6),
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "p50": at(0.50),
        "p99": at(0.99),
        "mean": sum(ordered) / len(ordered),
        "n": len(ordered),
    }


def timed_lookups(call: Any, batches: list[Any]) -> dict[str, float]:
    """One untimed pass over 100 batches, then every batch timed alone; CPU per call too."""
    for keys in batches[:100]:
        call(keys)
    samples, cpu_samples = [], []
    c0 = cpu_seconds()
    for keys in batches:
        t0, u0 = time.perf_counter(), time.thread_time()
        call(keys)
        u1, t1 = time.thread_time(), time.perf_counter()
        samples.append(t1 - t0)
        cpu_samples.append(u1 - u0)  # this thread's CPU time: not counting time preempted
    cpu = (cpu_seconds() - c0) / len(batches)
    on_cpu = percentiles(cpu_samples)
    return {**percentiles(samples), "cpu": cpu, "cpu_p50": on_cpu["p50"], "cpu_p99": on_cpu["p99"]}


REALTIME_ENV = "BENCH_REALTIME"
"""Set to a priority (1-99) by the runner: the lookups are timed again at real-time priority."""


def set_realtime(tid: int, priority: int) -> bool:
    """``SCHED_FIFO`` at ``priority`` for thread ``tid`` (0: the caller), or back to normal (0).

    Linux only, and it needs root (or CAP_SYS_NICE); False when refused. The
    kernel still leaves other tasks 5% of each CPU (``sched_rt_runtime_us``).
    """
    policy = os.SCHED_FIFO if priority else os.SCHED_OTHER
    try:
        os.sched_setscheduler(tid, policy, os.sched_param(priority))
    except (AttributeError, OSError):
        return False
    return True


def online_lookups(one: Any, hundred: Any, keys: dict[str, Any]) -> dict[str, Any]:
    """Figure 2's timings: 1-entity and 100-entity calls; again at real-time priority if asked.

    The real-time pass shows the tool without other users' jobs: at normal
    priority, however nice, a busy machine preempts the calling thread for
    milliseconds in a few percent of the calls, and p99 then measures that.
    """
    out: dict[str, Any] = {
        "one": timed_lookups(one, keys["one"]),
        "hundred": timed_lookups(hundred, keys["hundred"]),
    }
    priority = int(os.environ.get(REALTIME_ENV, "0") or 0)
    if priority and set_realtime(0, priority):
        try:
            out["one_rt"] = timed_lookups(one, keys["one"])
            out["hundred_rt"] = timed_lookups(hundred, keys["hundred"])
        finally:
            set_realtime(0, 0)
    return out


def environment() -> dict[str, str]:
    return {"python": sys.version.split()[0], "pid": str(os.getpid())}


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in process group ``pgid`` (a server)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick
