"""Where mlstage's time for a single-row request goes (diagnosis; see bench/run_serving.py).

Runs the prediction service as ``mlstage serve bench@champion`` does (the same app
factory, the same uvicorn config), with one part swapped out, and measures each
variant with ``wrk -t1 -c1`` (the variants alternate, --rounds runs each):

- ``real``: the service as it ships (the baseline; figure 1 of run_serving.py).
- ``timed``: as shipped, with the model step and the model's ``predict_proba``
  timed inside the service (``perf_counter`` around each call); the medians go
  to ``$BENCH_TIMING_LOG.timed`` every second.
- ``nolog``: request log off (``ServingOptions(log_requests=False)``).
- ``inline``: the model step runs on the event-loop thread instead of the
  predict thread pool (no hand-off between threads).
- ``threads1``: one model thread per version (``ServingOptions(predict_threads=1)``,
  mlstage's default since the overhead fix; the variant pins it for older trees).
- ``pool4``: the service as it was before the overhead fix: every model call handed to a
  pool of four threads (``predict_threads=4``, short calls not run on the event loop), whose
  idle threads take the calls in turn, so the model runs on a different thread from one
  request to the next; ``pool4-timed``: the same with the model calls timed, as ``timed``.
- ``noinline``: every model call on the version's own thread (mlstage runs calls known to
  be short on the event loop itself).
- ``nogc``: Python's cyclic garbage collector off once the app is built
  (``gc.freeze()`` + ``gc.disable()``; a diagnosis, not a setting to ship);
  ``nolog-nogc``: both.
- ``gcfreeze``: ``gc.freeze()`` once the app and the model are loaded: the
  collector keeps running, but its full collections no longer walk the
  ~220,000 objects of start-up (imports, the app, the model).
- ``nofreeze``: mlstage's own ``freeze_heap`` (if this version has it) made a
  no-op, to compare with the service as shipped.
- ``stub``: ``LoadedVersion.score`` answers with a precomputed result: no
  model at all, so the latency is the service's own cost (HTTP, routing,
  validation, JSON, ids, metrics, request log) plus wrk and loopback.
- ``stub-nolog``: ``stub`` with the request log off.
- ``stub-inline``: ``stub`` without the thread hand-off.

Usage (from the repository root; needs a store where ``bench@champion`` is
registered, e.g. one made by ``bench/serving/mlstage_worker.py setup``)::

    MLSTAGE_TRACKING_URI=sqlite:///$d/mlstage.db MLSTAGE_ARTIFACT_ROOT=$d/artifacts \\
      .venv/bin/python bench/serving/overhead_probe.py drive --body $s/mlstage-row.json

``serve --variant V --port P`` runs one variant (``drive`` starts them).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VARIANTS = [
    "real", "timed", "nolog", "inline", "threads1", "pool4", "pool4-timed", "noinline",
    "gcfreeze", "nofreeze", "nogc", "nolog-nogc", "stub", "stub-nolog", "stub-inline",
]  # fmt: skip


class InlineExecutor(Executor):
    """Runs the function at once on the calling thread (the event loop's)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def serve(variant: str, port: int) -> None:
    import uvicorn

    import mlstage.serving.service as service_module
    from mlstage.config import get_settings
    from mlstage.server.serve import build_config
    from mlstage.serving.app import create_serving_app
    from mlstage.serving.batcher import Scored
    from mlstage.serving.options import ServingOptions
    from mlstage.serving.pool import LoadedVersion

    if variant.endswith("timed"):
        time_model_steps(os.environ.get("BENCH_TIMING_LOG", "timing") + f".{variant}")
    if "nofreeze" in variant:
        import mlstage.serving.app as app_module
        import mlstage.serving.pool as pool_module

        for module in (app_module, pool_module):
            if hasattr(module, "freeze_heap"):
                module.freeze_heap = lambda: None  # type: ignore[attr-defined]
    if "pool4" in variant or "noinline" in variant:
        import mlstage.serving.pool as pool_module

        if hasattr(pool_module, "INLINE_BELOW"):
            pool_module.INLINE_BELOW = 0.0  # type: ignore[attr-defined]
    if "inline" in variant and "noinline" not in variant:
        import mlstage.serving.pool as pool_module

        for module in (service_module, pool_module):  # where the model threads are made
            if hasattr(module, "ThreadPoolExecutor"):
                module.ThreadPoolExecutor = lambda *a, **k: InlineExecutor()  # type: ignore
    if variant.startswith("stub"):
        real_score = LoadedVersion.score
        cache: dict[int, Scored] = {}

        def stub_score(self: LoadedVersion, rows: list[Any]) -> Scored:
            one = cache.get(id(self))
            if one is None:
                one = cache[id(self)] = real_score(self, rows[:1])
            assert one.probabilities is not None
            return Scored(one.predictions * len(rows), one.probabilities * len(rows))

        LoadedVersion.score = stub_score  # type: ignore[method-assign]
    settings = get_settings()
    options = ServingOptions.from_settings(
        settings,
        log_requests="nolog" not in variant,
        predict_threads=1 if "threads1" in variant else 4 if "pool4" in variant else None,
    )
    app = create_serving_app("bench@champion", settings, options)
    if variant.endswith("timed"):
        time_model_calls(app)
    if os.environ.get("BENCH_GC_LOG"):
        watch_gc(os.environ["BENCH_GC_LOG"] + f".{variant}")
    if "nogc" in variant or "gcfreeze" in variant:
        import gc

        gc.collect()
        gc.freeze()
        if "nogc" in variant:
            gc.disable()
    config = build_config(app, "127.0.0.1", port, log_level="warning", access_log=False)
    uvicorn.Server(config).run()


STEPS: Any = None
CALLS: Any = None


def time_model_steps(path: str) -> None:
    """Time every model step (``LoadedVersion.score``, patched before the app binds it) and,
    with ``time_model_calls``, every ``predict_proba``; the medians go to ``path``."""
    global STEPS, CALLS
    import collections
    import threading

    from mlstage.serving.pool import LoadedVersion

    steps: collections.deque[float] = collections.deque(maxlen=5000)
    calls: collections.deque[tuple[float, float]] = collections.deque(maxlen=5000)
    STEPS, CALLS = steps, calls
    real_score = LoadedVersion.score

    def score(self: LoadedVersion, rows: list[Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return real_score(self, rows)
        finally:
            steps.append(time.perf_counter() - t0)

    LoadedVersion.score = score  # type: ignore[method-assign]

    def report() -> None:
        while True:
            time.sleep(1.0)
            if steps and calls:
                Path(path).write_text(
                    json.dumps(
                        {
                            "n": len(steps),
                            "model_step": statistics.median(list(steps)),
                            "predict_proba": statistics.median(c[0] for c in list(calls)),
                            # CPU time of the model thread in the call: less sensitive to
                            # other processes than the wall clock, for comparing variants
                            "predict_proba_cpu": statistics.median(c[1] for c in list(calls)),
                        }
                    ),
                    encoding="utf-8",
                )

    threading.Thread(target=report, name="bench-timing", daemon=True).start()


def time_model_calls(app: Any) -> None:
    """Wrap each served version's model call (after the app loaded it) with a timer.

    The model call is what answers ``predict_proba`` inside the service: the
    flat walk of a forest (``mlstage.models.forest``) or the model's own.
    """
    calls = CALLS
    for version in app.state.service.pool.current.versions.values():
        real_proba = version.model_call

        def predict_proba(x: Any, _real: Any = real_proba) -> Any:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return _real(x)
            finally:
                calls.append((time.perf_counter() - t0, time.thread_time() - c0))

        version.model_call = predict_proba


def watch_gc(path: str) -> None:
    """Append one line per collection of the oldest generation: when, how long, objects."""
    import gc

    started: list[float] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started[:] = [time.perf_counter()]
            return
        if started:
            took = time.perf_counter() - started[0]
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(
                    f"{time.time():.3f} gen2 {took * 1000:.1f} ms collected {info['collected']} "
                    f"tracked {len(gc.get_objects())}\n"
                )

    gc.callbacks.append(callback)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"variant on port {port} not ready")


def busy_fraction(interval: float = 0.5) -> float:
    """Share of the machine's CPU time spent busy over ``interval`` (/proc/stat)."""

    def times() -> tuple[int, int]:
        with open("/proc/stat", encoding="utf-8") as fh:
            values = [int(x) for x in fh.readline().split()[1:]]
        return sum(values), values[3] + values[4]

    total0, idle0 = times()
    time.sleep(interval)
    total1, idle1 = times()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(threshold: float = 0.25, max_wait: float = 5.0) -> float:
    """Wait (a little) until other processes leave the CPUs mostly idle; the busy share seen."""
    deadline = time.monotonic() + max_wait
    busy = busy_fraction()
    while busy > threshold and time.monotonic() < deadline:
        busy = busy_fraction()
    return busy


def wrk(port: int, body: str, seconds: int, connections: int) -> dict[str, Any]:
    env = {**os.environ, "BENCH_BODY": body, "BENCH_MAX_REQUESTS": "0"}
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(HERE / "report.lua"),
           f"http://127.0.0.1:{port}/predict"]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_RESULT "))
    result = json.loads(line.removeprefix("WRK_RESULT "))
    if any(result["errors"].values()):
        raise RuntimeError(f"errors: {result['errors']}")
    return result


def drive(args: argparse.Namespace) -> None:
    variants = args.variants.split(",")
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    try:
        for v in variants:
            port = free_port()
            proc = subprocess.Popen(
                [sys.executable, __file__, "serve", "--variant", v, "--port", str(port)],
                start_new_session=True,
            )
            procs[v] = (proc, port)
        for _, port in procs.values():
            wait_ready(port)
        measuring_from = time.time()
        for _, port in procs.values():
            wrk(port, args.body, 1, 1)  # warm-up
        samples: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        for r in range(args.rounds):
            for v in variants if r % 2 == 0 else list(reversed(variants)):
                busy = wait_for_quiet(max_wait=args.quiet_wait)
                res = wrk(procs[v][1], args.body, args.seconds, args.connections)
                res["busy_before"] = busy
                samples[v].append(res)
                lat = res["latency_us"]
                print(
                    f"{v:12s} run {r + 1}: {res['requests'] / res['duration_us'] * 1e6:7.0f} "
                    f"req/s  p50 {lat['p50'] / 1000:6.2f} ms  p99 {lat['p99'] / 1000:6.2f} ms",
                    flush=True,
                )
        print()
        print(f"| variant (wrk -c{args.connections}) | req/s | p50 | p99 |")
        print("|---|---|---|---|")
        summary = {}
        for v in variants:
            rps = statistics.median(s["requests"] / s["duration_us"] * 1e6 for s in samples[v])
            p50 = statistics.median(s["latency_us"]["p50"] for s in samples[v]) / 1000
            p99 = statistics.median(s["latency_us"]["p99"] for s in samples[v]) / 1000
            summary[v] = {"rps": rps, "p50_ms": p50, "p99_ms": p99}
            print(f"| {v} | {rps:,.0f} | {p50:.2f} ms | {p99:.2f} ms |")
        if args.output:
            Path(args.output).write_text(
                json.dumps(
                    {"summary": summary, "samples": samples, "measuring_from": measuring_from}
                )
            )
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the group this script started
                proc.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["serve", "drive"])
    parser.add_argument("--variant", default="real", choices=VARIANTS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--body", default="")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--output", default="")
    parser.add_argument(
        "--quiet-wait", type=float, default=5.0, help="at most this long before each run"
    )
    args = parser.parse_args()
    if args.mode == "serve":
        serve(args.variant, args.port)
    else:
        drive(args)


if __name__ == "__main__":
    main()
