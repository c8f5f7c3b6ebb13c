"""Helpers shared by the tracking workers (standard library only: each runs in its own venv).

A worker runs one measurement in a fresh process and prints one line,
``BENCH_RESULT {json}``, that ``bench/run_tracking.py`` reads.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

# argparse, cProfile, pstats and random are imported where they are used: a worker that
# times its own start-up (bench/registry, fresh-process loads) pays only for what it needs.

N_PARAMS = 5
N_METRICS = 5
SEARCH_EXPERIMENT = "search"
HISTORY_EXPERIMENT = "history"
HISTORY_KEY = "loss"
SEARCH_FILTER = "metrics.m0 > 0.5"
SEARCH_ORDER = ["metrics.m1 DESC"]
SEED = 20240601

network_attempts: list[str] = []


def guard_network() -> None:
    """Refuse (and record) every connection or name look-up outside a Unix socket.

    Neither tool needs the network to track on SQLite; a worker that tried
    is reported by the runner, whatever the tool's telemetry settings say.
    """
    if getattr(socket.socket.connect, "bench_guard", False):
        return  # already on (bench/registry/netguard/sitecustomize.py installs it at start-up)
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        network_attempts.append(f"connect {address!r}")
        raise OSError(f"bench: network disabled (connect {address!r})")

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX:
            return real_connect_ex(self, address)
        network_attempts.append(f"connect_ex {address!r}")
        return 111  # ECONNREFUSED

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        network_attempts.append(f"getaddrinfo {host!r}")
        raise socket.gaierror(f"bench: network disabled (lookup {host!r})")

    connect.bench_guard = True  # type: ignore[attr-defined]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


def parse_args() -> argparse.Namespace:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--dir", default="", help="the fresh temp folder of this measurement")
    parser.add_argument("--n", type=int, default=0, help="calls or runs")
    parser.add_argument("--history", type=int, default=10_000, help="points of the history run")
    parser.add_argument("--mode", default="page", choices=["page", "all"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--run-id", default="")
    parser.add_argument(
        "--profile", default="", help="write a cProfile summary of the timed part here"
    )
    return parser.parse_args()


@contextmanager
def maybe_profile(path: str) -> Iterator[None]:
    if not path:
        yield
        return
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats(45)
        out.write("\n--- by internal time ---\n")
        stats.sort_stats("tottime").print_stats(30)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(out.getvalue())


def timed_calls(call: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """One untimed warm-up call, then ``repeat`` timed ones; the seconds of each."""
    result = call()
    times = []
    for _ in range(repeat):
        result = None  # free the previous result outside the timed part
        t0 = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - t0)
    return times, result


def run_params(i: int) -> dict[str, str]:
    return {
        "p0": str(i),
        "p1": ("adam", "sgd", "rmsprop")[i % 3],
        "p2": str(10 ** (i % 4)),
        "p3": f"{0.1 * (i % 7):.1f}",
        "p4": "true" if i % 2 else "false",
    }


def search_dataset(n_runs: int) -> list[tuple[str, dict[str, str], dict[str, float]]]:
    """The same runs for both tools: name, 5 params, 5 uniform random metrics."""
    import random

    rng = random.Random(SEED)
    out = []
    for i in range(n_runs):
        metrics = {f"m{j}": rng.random() for j in range(N_METRICS)}
        out.append((f"run-{i:05d}", run_params(i), metrics))
    return out


def emit(result: dict[str, Any]) -> None:
    result["network_attempts"] = network_attempts
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
