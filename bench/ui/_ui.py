"""The data of the UI benchmark, the same for both tools (standard library only).

One experiment of ``N_RUNS`` runs, each with ``N_METRICS`` metrics (one value,
step 0, so the latest value is the value), ``N_PARAMS`` params and a few tags,
drawn from a seeded generator: both tools load exactly the same runs, and
the runner checks that both answer a search with the same run names.

A worker prints one line, ``BENCH_RESULT {json}``, that ``bench/run_ui.py`` reads.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

EXPERIMENT = "ui-bench"
N_RUNS = 10_000
N_METRICS = 50
N_PARAMS = 10
SEED = 20261126

ORDER_METRIC = "m3"
"""The metric the runs page is sorted by (descending)."""
OTHER_ORDER_METRIC = "m42"
"""The second sort: a metric at the other end of the column list."""
FILTER = "metrics.m7 > 0.5"
PAGE = 50
"""The deep page: page 50 of 100 rows, the sort by ``ORDER_METRIC``."""
PAGE_SIZE = 100


def metric_keys(n_metrics: int = N_METRICS) -> list[str]:
    return [f"m{j}" for j in range(n_metrics)]


def param_keys() -> list[str]:
    return [f"p{j}" for j in range(N_PARAMS)]


def runs(
    n_runs: int = N_RUNS, n_metrics: int = N_METRICS
) -> Iterator[tuple[str, dict[str, str], dict[str, float], dict[str, str]]]:
    """(name, params, metrics, tags) of every run, in logging order."""
    import random

    rng = random.Random(SEED)
    optimizers = ("adam", "sgd", "rmsprop", "adagrad")
    for i in range(n_runs):
        params = {
            "p0": str(i),
            "p1": optimizers[i % 4],
            "p2": str(2 ** (4 + i % 6)),
            "p3": f"{10 ** -(1 + i % 5):g}",
            "p4": "true" if i % 2 else "false",
            "p5": str(i % 13),
            "p6": f"{0.05 * (i % 9):.2f}",
            "p7": ("resnet", "vit", "mlp")[i % 3],
            "p8": str(100 + i % 400),
            "p9": f"config-{i % 50:02d}",
        }
        metrics = {f"m{j}": rng.random() for j in range(n_metrics)}
        tags = {
            "team": ("vision", "nlp", "tabular")[i % 3],
            "sweep": f"s{i // 1000}",
            "seed": str(i),
        }
        yield f"run-{i:05d}", params, metrics, tags


def parse_args() -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--dir", default="", help="the folder of this tool's database")
    parser.add_argument("--runs", type=int, default=N_RUNS)
    parser.add_argument("--metrics", type=int, default=N_METRICS)
    parser.add_argument("--url", default="", help="the tool's server, for the client scenarios")
    parser.add_argument("--experiment-id", default="")
    parser.add_argument("--mode", default="all", choices=["all", "page"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-warm", action="store_true", help="no untimed call first")
    return parser.parse_args()


def timed_calls(call: Any, repeat: int, warm: bool = True) -> tuple[list[float], Any]:
    """One untimed warm-up call (unless not ``warm``), then ``repeat`` timed ones; their seconds."""
    import time

    result = call() if warm else None
    times = []
    for _ in range(repeat):
        result = None
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    return times, result


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
