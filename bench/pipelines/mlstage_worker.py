"""mlstage side of the pipelines benchmark: one measurement per fresh process.

    python mlstage_worker.py chain --steps 20 --repeat 3     # trivial steps on the local executor
    python mlstage_worker.py parallel --executor processes --steps 8 --seconds 0.5

Prints one line ``BENCH_RESULT {json}``. MLSTAGE_TRACKING_URI / MLSTAGE_ARTIFACT_ROOT
point at the measurement's own folder (set by bench/run_pipelines.py).
"""

from __future__ import annotations

import time

T_START = time.monotonic()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

from mlstage.pipelines import pipeline, step  # noqa: E402

STEPS = int(os.environ.get("BENCH_STEPS", "20"))
PARALLEL = int(os.environ.get("BENCH_PARALLEL", "8"))


@step(cache=False)
def inc(x: int) -> int:
    return x + 1


@pipeline
def chain(n: int = 0):
    x = n
    for _ in range(STEPS):
        x = inc(x)
    return x


@step(cache=False)
def burn(i: int, seconds: float) -> int:
    """Busy one CPU for ``seconds`` of CPU time."""
    end = time.process_time() + seconds
    count = 0
    while time.process_time() < end:
        count += 1
    return i


@pipeline
def fan_out(seconds: float = 0.5):
    return [burn(i, seconds) for i in range(PARALLEL)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["chain", "parallel"])
    parser.add_argument("--dir", default="")
    parser.add_argument(
        "--repeat", type=int, default=0, help="extra in-process runs after the first"
    )
    parser.add_argument("--executor", default="local")
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    t_defined = time.monotonic()
    if args.scenario == "chain":
        first = chain.run(n=0)
        t_first = time.monotonic()
        assert first.status.value == "SUCCEEDED", first.error
        assert first.result == STEPS, first.result
        assert len(first.steps) == STEPS and not any(s.cached for s in first.steps)
        again, again_cpu = [], []
        for i in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            run = chain.run(n=i + 1)
            again.append(time.perf_counter() - t0)
            again_cpu.append(time.process_time() - c0)
            assert run.status.value == "SUCCEEDED" and run.result == STEPS + i + 1
        result = {
            "steps": STEPS,
            "t_start": T_START,
            "import_s": t_defined - T_START,
            "first_run_s": t_first - t_defined,
            "t_first_done": t_first,
            "again_s": again,
            "again_cpu_s": again_cpu,
            "recorded_steps": len(first.steps),
        }
    else:
        t0 = time.perf_counter()
        run = fan_out.run(executor=args.executor, seconds=args.seconds)
        seconds = time.perf_counter() - t0
        assert run.status.value == "SUCCEEDED", run.error
        assert run.result == list(range(PARALLEL))
        result = {"executor": args.executor, "steps": PARALLEL, "run_s": seconds}
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
