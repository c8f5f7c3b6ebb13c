"""One MLflow registry measurement in this (fresh) process; see bench/run_registry.py.

Runs with the benchmark's MLflow venv (bench/.venvs/mlflow), on
``sqlite:///<dir>/mlflow.db`` (the runner sets MLFLOW_TRACKING_URI; the
registry follows the tracking URI), artifacts in ``<dir>/mlruns`` (MLflow's
default for a SQLite store), MLflow's defaults otherwise. The runner sets
MLFLOW_DISABLE_TELEMETRY=true and DO_NOT_TRACK=true, and the network guard
of ``_common`` refuses (and reports) any connection all the same.
"""

from __future__ import annotations

import time

T_START = time.monotonic()  # the load figure is timed from the runner's spawn; this splits it

import os  # noqa: E402
import sys  # noqa: E402

import _registry as r  # noqa: E402

c = r.load_common()
c.guard_network()


def _uri(args: dict) -> str:
    return f"sqlite:///{os.path.join(args['dir'], 'mlflow.db')}"


def scenario_info(args: dict) -> dict:
    import platform
    import sqlite3

    import mlflow
    import numpy
    import sklearn
    import skops
    import sqlalchemy

    return {
        "mlflow": mlflow.__version__,
        "sklearn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": numpy.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
    }


def _log_model(args: dict) -> str:
    """Untimed set-up: database, experiment, one run logging the shared model. Its runs:/ URI.

    MLflow 3.x saves scikit-learn models with skops; a forest needs its tree type
    trusted at ``log_model`` (``skops_trusted_types``). Requirements are inferred
    as by default (~2.6 s, untimed).
    """
    import mlflow

    model, example, trusted = r.shared_model(args["shared"])
    mlflow.set_tracking_uri(_uri(args))
    mlflow.set_experiment("bench")
    with mlflow.start_run(run_name="model") as run:
        mlflow.sklearn.log_model(
            model, name=r.ARTIFACT, input_example=example, skops_trusted_types=trusted
        )
    return f"runs:/{run.info.run_id}/{r.ARTIFACT}"


def scenario_register(args: dict) -> dict:
    import mlflow

    n, moves = int(args["n"]), int(args["moves"])
    uri = _log_model(args)
    times = []
    with c.maybe_profile(args.get("profile", "")):
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            mlflow.register_model(uri, r.MODEL_NAME)
            times.append(time.perf_counter() - t)
        seconds = time.perf_counter() - t0
    client = mlflow.MlflowClient()
    numbers = sorted(int(v.version) for v in client.search_model_versions(f"name='{r.MODEL_NAME}'"))
    assert numbers == list(range(1, n + 1)), f"versions {numbers[:5]}... ({len(numbers)})"

    client.set_registered_model_alias(r.MODEL_NAME, r.ALIAS, "1")  # creates it: not timed
    move_times = []
    target = 1
    with c.maybe_profile(args.get("profile_alias", "")):
        t0 = time.perf_counter()
        for i in range(moves):
            target = 2 + i % (n - 1)
            t = time.perf_counter()
            client.set_registered_model_alias(r.MODEL_NAME, r.ALIAS, str(target))
            move_times.append(time.perf_counter() - t)
        alias_seconds = time.perf_counter() - t0
    points_at = int(client.get_model_version_by_alias(r.MODEL_NAME, r.ALIAS).version)
    assert points_at == target, f"{r.ALIAS} points at {points_at}, expected {target}"
    return {
        "n": n,
        "seconds": seconds,
        "times": times,
        "versions": len(numbers),
        "moves": moves,
        "alias_seconds": alias_seconds,
        "move_times": move_times,
    }


def scenario_populate(args: dict) -> dict:
    """Untimed set-up of the load figure: the model logged, registered, and aliased."""
    import mlflow

    t0 = time.perf_counter()
    version = mlflow.register_model(_log_model(args), r.MODEL_NAME)
    mlflow.MlflowClient().set_registered_model_alias(r.MODEL_NAME, r.ALIAS, version.version)
    seconds = time.perf_counter() - t0
    local = mlflow.artifacts.download_artifacts(
        f"models:/{r.MODEL_NAME}@{r.ALIAS}", dst_path=os.path.join(args["dir"], "check")
    )
    return {
        "seconds": seconds,
        "version": int(version.version),
        "model_bytes": os.path.getsize(os.path.join(local, r.MODEL_FILE)),
    }


def scenario_load(args: dict) -> dict:
    shared = r.read_shared(args["shared"])
    uri = f"models:/{r.MODEL_NAME}@{r.ALIAS}"
    with c.maybe_profile(args.get("profile", "")):
        import mlflow

        t_import = time.monotonic()
        model = mlflow.pyfunc.load_model(uri)
        t_loaded = time.monotonic()
        import numpy as np

        prediction = model.predict(np.asarray([shared["row"]], dtype=np.float64))
        t_predicted = time.monotonic()
    t = time.perf_counter()
    again = mlflow.pyfunc.load_model(uri)
    warm = time.perf_counter() - t
    example_predictions = again.predict(np.asarray(shared["example"], dtype=np.float64))
    return {
        "t_start": T_START,
        "t_import": t_import,
        "t_loaded": t_loaded,
        "t_predicted": t_predicted,
        "warm_load": warm,
        "prediction": int(prediction[0]),
        "example_predictions": [int(v) for v in example_predictions],
        "modules": len(sys.modules),
    }


if __name__ == "__main__":
    arguments = r.parse_args()
    c.emit(globals()[f"scenario_{arguments['scenario']}"](arguments))
