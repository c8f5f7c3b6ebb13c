"""One mlstage set-up step of the serving benchmark, in this (fresh) process.

The runner sets MLSTAGE_TRACKING_URI=sqlite:///<dir>/mlstage.db and
MLSTAGE_ARTIFACT_ROOT=<dir>/artifacts and runs this with mlstage's venv.
Scenarios: info; train (the shared model file and request bodies; no
mlstage); setup (log_model + register_model + set_alias champion);
model_time (the served model's own predict time for one row, in-process).
"""

from __future__ import annotations

import time

import _serving as s


def scenario_info(args: dict) -> dict:
    import platform

    import fastapi
    import numpy
    import pandas
    import sklearn
    import skops
    import starlette
    import uvicorn

    import mlstage

    return {
        "mlstage": mlstage.__version__,
        "sklearn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "fastapi": fastapi.__version__,
        "starlette": starlette.__version__,
        "uvicorn": uvicorn.__version__,
        "http": _http_impl(),
        "loop": _loop_impl(),
        "python": platform.python_version(),
    }


def _http_impl() -> str:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def _loop_impl() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def scenario_train(args: dict) -> dict:
    return s.train(args["dir"])


def scenario_setup(args: dict) -> dict:
    """Untimed: the model logged in a run, registered as version 1, aliased champion."""
    import mlstage

    model, example, _ = s.shared_model(args["shared"])
    t0 = time.perf_counter()
    mlstage.set_experiment("bench")
    with mlstage.start_run(name="model"):
        info = mlstage.log_model(model, s.ARTIFACT, input_example=example)
    version = mlstage.register_model(f"runs:/{info.run_id}/{s.ARTIFACT}", s.MODEL_NAME)
    mlstage.set_alias(s.MODEL_NAME, s.ALIAS, version.version)
    return {"seconds": time.perf_counter() - t0, "version": version.version}


def scenario_model_time(args: dict) -> dict:
    """The served object's own time for one row, median of n calls each, interleaved:

    - ``proba_predict``: ``predict_proba`` + ``predict`` on a one-row DataFrame (both answers
      the service returns, the model's two calls);
    - ``proba``: ``predict_proba`` alone on that DataFrame (what the service calls: for a
      forest it takes the predicted class as the argmax of the probabilities);
    - ``service_score``: the service's own model step, ``LoadedVersion.score`` on one checked
      row (the row as a matrix, the model call, argmax, lists);
    - ``model_call``: the service's model call alone on that matrix: for this forest the
      flat walk of ``mlstage.models.forest`` (bit for bit ``predict_proba``'s answer);
    - ``proba_8``: ``predict_proba`` on 8 rows (one micro-batch at concurrency 8);
    - ``pools``: ``predict_proba`` run from a thread pool of 1 thread, and of 2 threads
      taking the calls in turn.
    """
    import statistics
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    import mlstage
    from mlstage.serving.options import ServingOptions
    from mlstage.serving.pool import LoadedVersion

    n = int(args.get("n", 1000))
    data = s.read_data(args["shared"])
    loaded = mlstage.load_model(f"models:/{s.MODEL_NAME}@{s.ALIAS}")
    model = loaded.model
    frame = pd.DataFrame([data["row"]], columns=s.COLUMNS)
    frame8 = pd.DataFrame([data["row"]] * 8, columns=s.COLUMNS)
    with ThreadPoolExecutor(1) as executor:
        version = LoadedVersion(loaded, ServingOptions(), executor)
        row = version.checker.records([dict(zip(s.COLUMNS, data["row"], strict=True))])
        matrix = version.checker.matrix(row)  # type: ignore[union-attr]
        calls = {
            "proba_predict": lambda: (model.predict_proba(frame), model.predict(frame)),
            "proba": lambda: model.predict_proba(frame),
            "service_score": lambda: version.score(row),
            "model_call": lambda: version.model_call(matrix),
            "proba_8": lambda: model.predict_proba(frame8),
        }
        for call in calls.values():  # warm-up, untimed
            for _ in range(20):
                call()
        times: dict[str, list[float]] = {k: [] for k in calls}
        clock = time.perf_counter
        for _ in range(n):
            for key, call in calls.items():
                t = clock()
                call()
                times[key].append(clock() - t)
        answer = version.score(row)
    # The same call from a thread pool, as a service makes it: with one thread, and with two
    # threads that take the calls in turn (the pool's threads are all started first).
    pools: dict[str, float] = {}
    for threads in (1, 2):
        with ThreadPoolExecutor(threads) as pool:
            for started in [pool.submit(time.sleep, 0.05) for _ in range(threads)]:
                started.result()

            def in_pool() -> float:
                t = clock()
                model.predict_proba(frame)
                return clock() - t

            for _ in range(20):
                pool.submit(in_pool).result()
            pools[f"pool_{threads}"] = statistics.median(
                pool.submit(in_pool).result() for _ in range(n // 3)
            )
    return {
        "pools": pools,
        "n": n,
        "median": {k: statistics.median(v) for k, v in times.items()},
        "p90": {k: sorted(v)[int(0.9 * len(v))] for k, v in times.items()},
        "prediction": answer.predictions[0],
        "probabilities": answer.probabilities[0] if answer.probabilities else None,
    }


if __name__ == "__main__":
    arguments = s.parse_args()
    s.emit(globals()[f"scenario_{arguments['scenario']}"](arguments))
