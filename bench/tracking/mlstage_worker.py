"""One mlstage tracking measurement in this (fresh) process; see bench/run_tracking.py.

The runner sets MLSTAGE_TRACKING_URI=sqlite:///<dir>/mlstage.db and
MLSTAGE_ARTIFACT_ROOT=<dir>/artifacts, and runs this with mlstage's venv.
"""

from __future__ import annotations

import time

import _common as c

c.guard_network()


def scenario_info(args) -> dict:
    import platform
    import sqlite3

    import pandas
    import sqlalchemy

    import mlstage

    return {
        "mlstage": mlstage.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "pandas": pandas.__version__,
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
    }


def _warm_up() -> None:
    """Create the database, the experiment and one small run: not timed."""
    import mlstage

    mlstage.set_experiment("bench")
    with mlstage.start_run(name="warm-up"):
        mlstage.log_params({"warm": 1})
        mlstage.log_metric("warm", 1.0)


def scenario_log_metric(args) -> dict:
    import mlstage

    _warm_up()
    run = mlstage.start_run(name="log-metric")
    with c.maybe_profile(args.profile):
        t0 = time.perf_counter()
        for i in range(args.n):
            mlstage.log_metric("loss", 1.0 / (i + 1), step=i)
        mlstage.end_run()  # returns once every point is written
        seconds = time.perf_counter() - t0
    stored = len(mlstage.get_metric_history(run.run_id, "loss"))
    assert stored == args.n, f"{stored} points stored, {args.n} logged"
    return {"seconds": seconds, "n": args.n, "stored": stored, **_pragmas()}


def _pragmas() -> dict:
    """The SQLite settings in force on mlstage's own connections."""
    from mlstage.tracking.store import get_tracking_store

    with get_tracking_store().db.engine.connect() as conn:
        return {
            "journal_mode": conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
            "synchronous": conn.exec_driver_sql("PRAGMA synchronous").scalar(),
        }


def scenario_runs(args) -> dict:
    import mlstage

    _warm_up()
    data = c.search_dataset(args.n)
    with c.maybe_profile(args.profile):
        t0 = time.perf_counter()
        for name, params, metrics in data:
            mlstage.start_run(name=name)
            mlstage.log_params(params)
            mlstage.log_metrics(metrics)
            mlstage.end_run()
        seconds = time.perf_counter() - t0
    found = mlstage.search_runs("bench", output="list")
    stored = sum(1 for r in found if len(r.params) == 5 and len(r.metrics) == 5)
    assert stored == args.n, f"{stored} complete runs stored, {args.n} logged"
    return {"seconds": seconds, "n": args.n, "stored": stored}


def scenario_populate(args) -> dict:
    """Untimed set-up: 10,000 runs to search, and one run with a long history.

    The bulk path of mlstage's own store: one ``create_run``, one
    ``log_batch`` (5 params, 5 metrics) and one ``end_run`` per run.
    """
    from mlstage.tracking.context import collect_context
    from mlstage.tracking.entities import Metric, RunStatus
    from mlstage.tracking.store import get_tracking_store

    t0 = time.perf_counter()
    store = get_tracking_store()
    context = collect_context()
    exp = store.create_experiment(c.SEARCH_EXPERIMENT)
    now = time.time_ns() // 1_000_000
    for name, params, metrics in c.search_dataset(args.n):
        run = store.create_run(exp.experiment_id, name, context)
        points = [Metric(key=k, value=x, step=0, timestamp=now) for k, x in metrics.items()]
        store.log_batch(run.run_id, metrics=points, params=params)
        store.end_run(run.run_id, RunStatus.FINISHED)
    hist = store.create_experiment(c.HISTORY_EXPERIMENT)
    run = store.create_run(hist.experiment_id, "history", context)
    points = [
        Metric(key=c.HISTORY_KEY, value=1.0 / (i + 1), step=i, timestamp=now + i)
        for i in range(args.history)
    ]
    for start in range(0, len(points), 1000):
        store.log_batch(run.run_id, metrics=points[start : start + 1000])
    store.end_run(run.run_id, RunStatus.FINISHED)
    return {"seconds": time.perf_counter() - t0, "runs": args.n, "history_run_id": run.run_id}


def scenario_search(args) -> dict:
    import mlstage

    kwargs = {"filter": c.SEARCH_FILTER, "order_by": c.SEARCH_ORDER}
    if args.mode == "page":
        kwargs["max_results"] = 100

    def call():
        return mlstage.search_runs(c.SEARCH_EXPERIMENT, **kwargs)

    with c.maybe_profile(args.profile):
        times, frame = c.timed_calls(call, args.repeat)
    return {
        "times": times,
        "rows": len(frame),
        "columns": len(frame.columns),
        "first_names": list(frame["run_name"][:5]),
    }


def scenario_history(args) -> dict:
    import mlstage

    def call():
        return mlstage.get_metric_history(args.run_id, c.HISTORY_KEY)

    with c.maybe_profile(args.profile):
        times, points = c.timed_calls(call, args.repeat)
    return {"times": times, "points": len(points)}


if __name__ == "__main__":
    arguments = c.parse_args()
    c.emit(globals()[f"scenario_{arguments.scenario}"](arguments))
