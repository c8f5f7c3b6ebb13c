"""mlstage's side of the UI benchmark, one scenario per fresh process; see bench/run_ui.py.

``populate`` runs with ``MLSTAGE_TRACKING_URI=sqlite:///<dir>/mlstage.db``;
``search`` with ``MLSTAGE_TRACKING_URI=http://127.0.0.1:<port>`` (the server
under test). The runner puts ``bench/serving/netguard`` on ``PYTHONPATH``:
loopback connections only.
"""

from __future__ import annotations

import time

import _ui as u


def scenario_info(args) -> dict:
    import platform
    import sqlite3

    import fastapi
    import jinja2
    import pandas
    import sqlalchemy
    import uvicorn

    import mlstage

    return {
        "mlstage": mlstage.__version__,
        "python": platform.python_version(),
        "sqlalchemy": sqlalchemy.__version__,
        "pandas": pandas.__version__,
        "sqlite": sqlite3.sqlite_version,
        "fastapi": fastapi.__version__,
        "uvicorn": uvicorn.__version__,
        "jinja2": jinja2.__version__,
    }


def scenario_populate(args) -> dict:
    """The bulk path of mlstage's store: ``create_run`` (with tags), one ``log_batch``, ``end_run``.

    Three transactions a run, the same calls the fluent API makes for a run
    that logs everything at once (``log_params`` + ``log_metrics`` in one batch).
    """
    from mlstage.tracking.context import collect_context
    from mlstage.tracking.entities import Metric, RunStatus
    from mlstage.tracking.store import get_tracking_store

    store = get_tracking_store()
    context = collect_context()
    t0 = time.perf_counter()
    exp = store.create_experiment(u.EXPERIMENT)
    now = time.time_ns() // 1_000_000
    for i, (name, params, metrics, tags) in enumerate(u.runs(args.runs, args.metrics)):
        run = store.create_run(exp.experiment_id, name, context, tags)
        points = [Metric(key=k, value=x, step=0, timestamp=now + i) for k, x in metrics.items()]
        store.log_batch(run.run_id, metrics=points, params=params)
        store.end_run(run.run_id, RunStatus.FINISHED)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "runs": args.runs, "experiment_id": exp.experiment_id}


def scenario_search(args) -> dict:
    """``mlstage.search_runs`` against the server: every run as a DataFrame, or a page of 100.

    pandas and pyarrow are imported before the timed calls, as ``import mlflow``
    imports pandas on the other side before its own.
    """
    import pandas  # noqa: F401
    import pyarrow
    import pyarrow.compute  # noqa: F401

    import mlstage

    kwargs: dict = {"order_by": [f"metrics.{u.ORDER_METRIC} DESC"]}
    if args.mode == "page":
        kwargs["max_results"] = u.PAGE_SIZE

    def call():
        return mlstage.search_runs(u.EXPERIMENT, **kwargs)

    times, frame = u.timed_calls(call, args.repeat, warm=not args.no_warm)
    return {
        "times": times,
        "rows": len(frame),
        "columns": len(frame.columns),
        "first_names": list(frame["run_name"][:5]),
    }


if __name__ == "__main__":
    arguments = u.parse_args()
    u.emit(globals()[f"scenario_{arguments.scenario}"](arguments))
