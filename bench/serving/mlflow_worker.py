"""One MLflow set-up step of the serving benchmark, in this (fresh) process.

Runs with the benchmark's MLflow venv (bench/.venvs/mlflow); the runner sets
MLFLOW_TRACKING_URI=sqlite:///<dir>/mlflow.db (the registry follows it),
MLFLOW_DISABLE_TELEMETRY=true and DO_NOT_TRACK=true. Scenarios: info; setup
(sklearn.log_model with the forest's tree type trusted by skops,
register_model, alias champion); model_time (the pyfunc's predict on one row,
what ``/invocations`` calls, in-process; for reference).
"""

from __future__ import annotations

import time

import _serving as s


def scenario_info(args: dict) -> dict:
    import platform

    import fastapi
    import mlflow
    import numpy
    import pandas
    import sklearn
    import skops
    import starlette
    import uvicorn

    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:
        http = "h11"
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    return {
        "mlflow": mlflow.__version__,
        "sklearn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "fastapi": fastapi.__version__,
        "starlette": starlette.__version__,
        "uvicorn": uvicorn.__version__,
        "http": http,
        "loop": loop,
        "python": platform.python_version(),
    }


def scenario_setup(args: dict) -> dict:
    """Untimed: MLflow 3.x saves the forest with skops; its tree type must be trusted."""
    import mlflow

    model, example, trusted = s.shared_model(args["shared"])
    t0 = time.perf_counter()
    mlflow.set_experiment("bench")
    with mlflow.start_run(run_name="model") as run:
        mlflow.sklearn.log_model(
            model, name=s.ARTIFACT, input_example=example, skops_trusted_types=trusted
        )
    version = mlflow.register_model(f"runs:/{run.info.run_id}/{s.ARTIFACT}", s.MODEL_NAME)
    mlflow.MlflowClient().set_registered_model_alias(s.MODEL_NAME, s.ALIAS, version.version)
    return {"seconds": time.perf_counter() - t0, "version": int(version.version)}


def scenario_model_time(args: dict) -> dict:
    import statistics

    import mlflow
    import pandas as pd

    n = int(args.get("n", 300))
    data = s.read_data(args["shared"])
    model = mlflow.pyfunc.load_model(f"models:/{s.MODEL_NAME}@{s.ALIAS}")
    frame = pd.DataFrame([data["row"]], columns=s.COLUMNS)
    for _ in range(20):
        model.predict(frame)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        model.predict(frame)
        times.append(time.perf_counter() - t)
    return {"n": n, "median": {"pyfunc_predict": statistics.median(times)}}


if __name__ == "__main__":
    arguments = s.parse_args()
    s.emit(globals()[f"scenario_{arguments['scenario']}"](arguments))
