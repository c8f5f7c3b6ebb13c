"""One mlstage registry measurement in this (fresh) process; see bench/run_registry.py.

The runner sets MLSTAGE_TRACKING_URI=sqlite:///<dir>/mlstage.db and
MLSTAGE_ARTIFACT_ROOT=<dir>/artifacts, and runs this with mlstage's venv.
Scenarios: info, train (writes the shared model file; no mlstage), register,
populate, load, floor (skops + numpy alone, no tool: the floor of any loader
that builds the scikit-learn object from this file with skops), floor_pickle
(numpy + pickle.loads of the same model, no tool and no checks: the floor of
any loader at all).
"""

from __future__ import annotations

import time

T_START = time.monotonic()  # the load figure is timed from the runner's spawn; this splits it

import os  # noqa: E402
import sys  # noqa: E402

import _registry as r  # noqa: E402

c = r.load_common()
c.guard_network()


def scenario_info(args: dict) -> dict:
    import platform
    import sqlite3

    import numpy
    import sklearn
    import skops
    import sqlalchemy

    import mlstage

    return {
        "mlstage": mlstage.__version__,
        "sklearn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": numpy.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
    }


def scenario_train(args: dict) -> dict:
    return r.train(args["dir"])


def _log_model(shared: str) -> str:
    """Untimed set-up: database, experiment, one run logging the shared model. Its runs:/ URI."""
    import mlstage

    model, example, _ = r.shared_model(shared)
    mlstage.set_experiment("bench")
    with mlstage.start_run(name="model"):
        info = mlstage.log_model(model, r.ARTIFACT, input_example=example)
    return f"runs:/{info.run_id}/{r.ARTIFACT}"


def scenario_register(args: dict) -> dict:
    import mlstage
    from mlstage.models.api import get_registry_store

    n, moves = int(args["n"]), int(args["moves"])
    uri = _log_model(args["shared"])
    times = []
    with c.maybe_profile(args.get("profile", "")):
        t0 = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            mlstage.register_model(uri, r.MODEL_NAME)
            times.append(time.perf_counter() - t)
        seconds = time.perf_counter() - t0
    store = get_registry_store()
    numbers = [v.version for v in store.list_model_versions(r.MODEL_NAME)]
    assert numbers == list(range(1, n + 1)), f"versions {numbers[:5]}... ({len(numbers)})"

    mlstage.set_alias(r.MODEL_NAME, r.ALIAS, 1)  # creates the alias: not a move, not timed
    move_times = []
    target = 1
    with c.maybe_profile(args.get("profile_alias", "")):
        t0 = time.perf_counter()
        for i in range(moves):
            target = 2 + i % (n - 1)
            t = time.perf_counter()
            mlstage.set_alias(r.MODEL_NAME, r.ALIAS, target)
            move_times.append(time.perf_counter() - t)
        alias_seconds = time.perf_counter() - t0
    points_at = store.get_registered_model(r.MODEL_NAME).aliases[r.ALIAS]
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
    import mlstage
    from mlstage.models.api import get_registry_store

    t0 = time.perf_counter()
    version = mlstage.register_model(_log_model(args["shared"]), r.MODEL_NAME)
    mlstage.set_alias(r.MODEL_NAME, r.ALIAS, version.version)
    seconds = time.perf_counter() - t0
    stored = get_registry_store().read_version_file(r.MODEL_NAME, version.version, r.MODEL_FILE)
    return {"seconds": seconds, "version": version.version, "model_bytes": len(stored)}


def scenario_load(args: dict) -> dict:
    shared = r.read_shared(args["shared"])
    uri = f"models:/{r.MODEL_NAME}@{r.ALIAS}"
    with c.maybe_profile(args.get("profile", "")):
        import mlstage

        t_import = time.monotonic()
        model = mlstage.load_model(uri)
        t_loaded = time.monotonic()
        import numpy as np

        prediction = model.predict(np.asarray([shared["row"]], dtype=np.float64))
        t_predicted = time.monotonic()
        # A forest predicts from its logged flat arrays; the scikit-learn object is rebuilt
        # from the checked skops file on first use: timed too, reported beside the goal.
        assert type(model.model).__name__ == "RandomForestClassifier"
        t_object = time.monotonic()
    t = time.perf_counter()
    again = mlstage.load_model(uri)
    warm = time.perf_counter() - t
    example_predictions = again.predict(np.asarray(shared["example"], dtype=np.float64))
    return {
        "t_start": T_START,
        "t_import": t_import,
        "t_loaded": t_loaded,
        "t_predicted": t_predicted,
        "t_object": t_object,
        "warm_load": warm,
        "prediction": int(prediction[0]),
        "example_predictions": [int(v) for v in example_predictions],
        "modules": len(sys.modules),
    }


def scenario_floor(args: dict) -> dict:
    """No tool: numpy + skops, load the same skops file, predict. What any such loader pays."""
    shared = r.read_shared(args["shared"])
    path = os.path.join(args["shared"], r.MODEL_FILE)
    with c.maybe_profile(args.get("profile", "")):
        import numpy as np
        import skops.io

        t_import = time.monotonic()
        model = skops.io.load(path, trusted=shared["trusted"])
        t_loaded = time.monotonic()
        prediction = model.predict(np.asarray([shared["row"]], dtype=np.float64))
        t_predicted = time.monotonic()
    t = time.perf_counter()
    again = skops.io.load(path, trusted=shared["trusted"])
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


def scenario_floor_pickle(args: dict) -> dict:
    """No tool, no checks: numpy + ``pickle.loads`` of the same model (the runner's own file).

    Rebuilding the object needs its modules imported (scikit-learn's forest, and all that
    scikit-learn imports with it) and nothing else: the floor of any loader at all.
    """
    shared = r.read_shared(args["shared"])
    path = os.path.join(args["shared"], r.PICKLE_FILE)
    with c.maybe_profile(args.get("profile", "")):
        import pickle

        import numpy as np

        t_import = time.monotonic()
        with open(path, "rb") as handle:
            model = pickle.load(handle)  # the runner's own file, written by train
        t_loaded = time.monotonic()
        prediction = model.predict(np.asarray([shared["row"]], dtype=np.float64))
        t_predicted = time.monotonic()
    t = time.perf_counter()
    with open(path, "rb") as handle:
        again = pickle.load(handle)
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
