"""One MLflow tracking measurement in this (fresh) process; see bench/run_tracking.py.

Runs with the benchmark's MLflow venv (bench/.venvs/mlflow), on
``sqlite:///<dir>/mlflow.db``, MLflow's defaults otherwise. The runner sets
MLFLOW_DISABLE_TELEMETRY=true and DO_NOT_TRACK=true, and the network guard
of ``_common`` refuses (and reports) any connection all the same.
"""

from __future__ import annotations

import os
import time

import _common as c

c.guard_network()


def _uri(args) -> str:
    return f"sqlite:///{os.path.join(args.dir, 'mlflow.db')}"


def scenario_info(args) -> dict:
    import platform
    import sqlite3

    import mlflow
    import pandas
    import sqlalchemy

    return {
        "mlflow": mlflow.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "pandas": pandas.__version__,
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
    }


def _warm_up(args) -> None:
    """Create (and migrate) the database, the experiment and one small run: not timed."""
    import mlflow

    mlflow.set_tracking_uri(_uri(args))
    mlflow.set_experiment("bench")
    with mlflow.start_run(run_name="warm-up"):
        mlflow.log_params({"warm": 1})
        mlflow.log_metric("warm", 1.0)


def scenario_log_metric(args) -> dict:
    import mlflow

    _warm_up(args)
    run = mlflow.start_run(run_name="log-metric")
    with c.maybe_profile(args.profile):
        t0 = time.perf_counter()
        for i in range(args.n):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        mlflow.end_run()
        seconds = time.perf_counter() - t0
    stored = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    assert stored == args.n, f"{stored} points stored, {args.n} logged"
    return {"seconds": seconds, "n": args.n, "stored": stored, **_pragmas()}


def _pragmas() -> dict:
    """The SQLite settings in force on MLflow's own connections."""
    from mlflow.tracking._tracking_service.utils import _get_store
    from sqlalchemy import text

    with _get_store().ManagedSessionMaker() as session:
        return {
            "journal_mode": session.execute(text("PRAGMA journal_mode")).scalar(),
            "synchronous": session.execute(text("PRAGMA synchronous")).scalar(),
        }


def scenario_runs(args) -> dict:
    import mlflow

    _warm_up(args)
    data = c.search_dataset(args.n)
    with c.maybe_profile(args.profile):
        t0 = time.perf_counter()
        for name, params, metrics in data:
            mlflow.start_run(run_name=name)
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.end_run()
        seconds = time.perf_counter() - t0
    frame = mlflow.search_runs(experiment_names=["bench"])
    frame = frame[frame["tags.mlflow.runName"] != "warm-up"]
    stored = int(
        frame[[f"params.p{j}" for j in range(5)] + [f"metrics.m{j}" for j in range(5)]]
        .notna()
        .all(axis=1)
        .sum()
    )
    assert stored == args.n, f"{stored} complete runs stored, {args.n} logged"
    return {"seconds": seconds, "n": args.n, "stored": stored}


def scenario_populate(args) -> dict:
    """Untimed set-up: 10,000 runs to search, and one run with a long history.

    MLflow's own ``log_batch`` manages ~75 runs/s here, so the 10,000 runs go
    in through MLflow's own SQLAlchemy models, in one transaction, as its
    store would write them (run row, the tags its fluent API sets, params,
    metrics and latest_metrics). The history run goes through the public
    client's ``log_batch``, 1,000 points a call.
    """
    import getpass

    import mlflow
    from mlflow.entities import Metric
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.tracking._tracking_service.utils import _get_store
    from sqlalchemy import insert

    t0 = time.perf_counter()
    mlflow.set_tracking_uri(_uri(args))
    client = mlflow.MlflowClient()
    exp_id = client.create_experiment(c.SEARCH_EXPERIMENT)
    artifact_root = client.get_experiment(exp_id).artifact_location
    store = _get_store()
    user = getpass.getuser()
    now = time.time_ns() // 1_000_000
    runs, tags, params, metrics = [], [], [], []
    for i, (name, run_params, run_metrics) in enumerate(c.search_dataset(args.n)):
        run_id = f"{i:032x}"
        runs.append(
            {
                "run_uuid": run_id,
                "name": name,
                "source_type": "LOCAL",
                "source_name": "bench",
                "entry_point_name": "",
                "user_id": user,
                "status": "FINISHED",
                "start_time": now + i,
                "end_time": now + i + 1,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": f"{artifact_root}/{run_id}/artifacts",
                "experiment_id": int(exp_id),
            }
        )
        for key, value in (
            ("mlflow.runName", name),
            ("mlflow.user", user),
            ("mlflow.source.name", "bench"),
            ("mlflow.source.type", "LOCAL"),
        ):
            tags.append({"run_uuid": run_id, "key": key, "value": value})
        for key, value in run_params.items():
            params.append({"run_uuid": run_id, "key": key, "value": value})
        for key, value in run_metrics.items():
            metrics.append(
                {
                    "run_uuid": run_id,
                    "key": key,
                    "value": value,
                    "timestamp": now + i,
                    "step": 0,
                    "is_nan": False,
                }
            )
    with store.ManagedSessionMaker(read_only=False) as session:
        session.execute(insert(SqlRun.__table__), runs)
        session.execute(insert(SqlTag.__table__), tags)
        session.execute(insert(SqlParam.__table__), params)
        session.execute(insert(SqlMetric.__table__), metrics)
        session.execute(insert(SqlLatestMetric.__table__), metrics)

    hist_exp = client.create_experiment(c.HISTORY_EXPERIMENT)
    run = client.create_run(hist_exp, run_name="history")
    points = [Metric(c.HISTORY_KEY, 1.0 / (i + 1), now + i, i) for i in range(args.history)]
    for start in range(0, len(points), 1000):
        client.log_batch(run.info.run_id, metrics=points[start : start + 1000])
    client.set_terminated(run.info.run_id)
    return {"seconds": time.perf_counter() - t0, "runs": args.n, "history_run_id": run.info.run_id}


def scenario_search(args) -> dict:
    import mlflow

    mlflow.set_tracking_uri(_uri(args))
    kwargs = {"filter_string": c.SEARCH_FILTER, "order_by": c.SEARCH_ORDER}
    if args.mode == "page":
        kwargs["max_results"] = 100

    def call():
        return mlflow.search_runs(experiment_names=[c.SEARCH_EXPERIMENT], **kwargs)

    with c.maybe_profile(args.profile):
        times, frame = c.timed_calls(call, args.repeat)
    return {
        "times": times,
        "rows": len(frame),
        "columns": len(frame.columns),
        "first_names": list(frame["tags.mlflow.runName"][:5]),
    }


def scenario_history(args) -> dict:
    import mlflow

    mlflow.set_tracking_uri(_uri(args))
    client = mlflow.MlflowClient()

    def call():
        return client.get_metric_history(args.run_id, c.HISTORY_KEY)

    with c.maybe_profile(args.profile):
        times, points = c.timed_calls(call, args.repeat)
    return {"times": times, "points": len(points)}


if __name__ == "__main__":
    arguments = c.parse_args()
    c.emit(globals()[f"scenario_{arguments.scenario}"](arguments))
