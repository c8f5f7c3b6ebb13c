"""MLflow's side of the UI benchmark, one scenario per fresh process; see bench/run_ui.py.

Runs with the benchmark's MLflow venv (bench/.venvs/mlflow). ``populate``
writes ``sqlite:///<dir>/mlflow.db`` through MLflow's public client;
``search`` calls ``mlflow.search_runs`` against the server under test
(``--url``). The runner sets MLFLOW_DISABLE_TELEMETRY=true and
DO_NOT_TRACK=true and puts ``bench/serving/netguard`` on ``PYTHONPATH``
(loopback connections only).
"""

from __future__ import annotations

import os
import time

import _ui as u


def scenario_info(args) -> dict:
    import platform
    import sqlite3

    import mlflow
    import pandas
    import sqlalchemy

    out = {
        "mlflow": mlflow.__version__,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "pandas": pandas.__version__,
        "sqlite": sqlite3.sqlite_version,
    }
    for name in ("fastapi", "uvicorn", "flask"):
        try:
            out[name] = __import__(name).__version__
        except (ImportError, AttributeError):
            out[name] = "-"
    return out


def scenario_populate(args) -> dict:
    """MLflow's bulk path: ``create_run`` (with the tags), one ``log_batch``, ``set_terminated``.

    The tags go in with ``create_run``.
    ``MlflowClient`` on the SQLite file itself (no server in between): the
    fastest public way in; ``log_batch`` takes every metric, param and tag of
    a run in one call (MLflow's limits: 1,000 metrics, 100 params, 100 tags).
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    uri = f"sqlite:///{os.path.join(args.dir, 'mlflow.db')}"
    client = MlflowClient(tracking_uri=uri)
    t0 = time.perf_counter()
    exp_id = client.create_experiment(u.EXPERIMENT)
    now = time.time_ns() // 1_000_000
    for i, (name, params, metrics, tags) in enumerate(u.runs(args.runs, args.metrics)):
        run = client.create_run(exp_id, start_time=now + i, tags=tags, run_name=name)
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            metrics=[Metric(k, x, now + i, 0) for k, x in metrics.items()],
            params=[Param(k, x) for k, x in params.items()],
        )
        client.set_terminated(run_id, "FINISHED", end_time=now + i + 1)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "runs": args.runs, "experiment_id": exp_id}


def scenario_search(args) -> dict:
    """``mlflow.search_runs`` against the server: every run as a DataFrame, or a page of 100."""
    import mlflow

    mlflow.set_tracking_uri(args.url)
    kwargs: dict = {"order_by": [f"metrics.{u.ORDER_METRIC} DESC"]}
    if args.mode == "page":
        kwargs["max_results"] = u.PAGE_SIZE

    def call():
        return mlflow.search_runs(experiment_names=[u.EXPERIMENT], **kwargs)

    times, frame = u.timed_calls(call, args.repeat, warm=not args.no_warm)
    return {
        "times": times,
        "rows": len(frame),
        "columns": len(frame.columns),
        "first_names": list(frame["tags.mlflow.runName"][:5]),
    }


if __name__ == "__main__":
    arguments = u.parse_args()
    u.emit(globals()[f"scenario_{arguments.scenario}"](arguments))
