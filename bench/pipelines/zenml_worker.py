"""ZenML side of the pipelines benchmark (runs in bench/.venvs/zenml).

    python zenml_worker.py chain --repeat 3     # BENCH_STEPS trivial steps, cache off

The runner sets ZENML_CONFIG_PATH to the measurement's folder (its own SQLite
store and local artifact store) and ZENML_ANALYTICS_OPT_IN=false.
"""

from __future__ import annotations

import time

T_START = time.monotonic()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

from zenml import pipeline, step  # noqa: E402

STEPS = int(os.environ.get("BENCH_STEPS", "20"))


@step(enable_cache=False)
def inc(x: int) -> int:
    return x + 1


@pipeline(enable_cache=False)
def chain(n: int = 0) -> None:
    x = n
    for _ in range(STEPS):
        x = inc(x)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["chain", "setup"])
    parser.add_argument("--dir", default="")
    parser.add_argument("--repeat", type=int, default=0)
    args = parser.parse_args()
    t_defined = time.monotonic()
    if args.scenario == "setup":  # first use of a fresh store: not timed
        chain(n=0)
        print("BENCH_RESULT {}", flush=True)
        return
    run = chain(n=0)
    t_first = time.monotonic()
    assert str(run.status).lower().endswith("completed"), run.status
    assert len(run.steps) == STEPS, len(run.steps)
    again, again_cpu = [], []
    for i in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        chain(n=i + 1)
        again.append(time.perf_counter() - t0)
        again_cpu.append(time.process_time() - c0)
    result = {
        "steps": STEPS,
        "t_start": T_START,
        "import_s": t_defined - T_START,
        "first_run_s": t_first - t_defined,
        "t_first_done": t_first,
        "again_s": again,
        "again_cpu_s": again_cpu,
        "recorded_steps": len(run.steps),
    }
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
