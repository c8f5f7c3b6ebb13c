"""Helpers shared by the registry workers (each runs in its own venv, with numpy and skops).

It reuses the tracking harness, ``bench/tracking/_common.py`` (network guard,
cProfile wrapper, ``BENCH_RESULT`` output), loaded here by file path, so the
workers can live in ``bench/registry``. When the runner sets ``PYTHONPATH`` to
``bench/registry/netguard``, that module has already been loaded by
``sitecustomize`` and the guard is on from the first line of every Python
process, the tools' own subprocesses included.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
COMMON = HERE.parent / "tracking" / "_common.py"

MODEL_NAME = "bench"
ALIAS = "champion"
ARTIFACT = "model"
MODEL_FILE = "model.skops"  # the scikit-learn model, written once by the runner's "train" step
PICKLE_FILE = "model.pkl"  # the same model pickled, for the no-checks floor only (never a tool's)
ROW_FILE = "row.json"
N_FEATURES = 20
N_TREES = 100
SEED = 20240601


def load_common() -> Any:
    module = sys.modules.get("_common")
    if module is None:
        spec = importlib.util.spec_from_file_location("_common", COMMON)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["_common"] = module
        spec.loader.exec_module(module)
    return module


def parse_args(argv: list[str] | None = None) -> dict[str, str]:
    """``scenario --key value ...``: a few lines, not argparse, for the start-up timings."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = {"scenario": argv.pop(0) if argv else ""}
    while argv:
        key = argv.pop(0)
        if not key.startswith("--") or not argv:
            raise SystemExit(f"bad argument {key!r}: expected --key value pairs")
        args[key[2:].replace("-", "_")] = argv.pop(0)
    return args


def train(folder: str) -> dict[str, Any]:
    """The model both tools save: a random forest of 100 trees on 20 features, skops file."""
    import hashlib
    import json
    import pickle

    import skops.io
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(
        n_samples=2000, n_features=N_FEATURES, n_informative=10, random_state=SEED
    )
    model = RandomForestClassifier(n_estimators=N_TREES, random_state=SEED, n_jobs=1).fit(x, y)
    data = skops.io.dumps(model)
    Path(folder, MODEL_FILE).write_bytes(data)
    Path(folder, PICKLE_FILE).write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    row = [float(v) for v in x[0]]
    example = [[float(v) for v in r] for r in x[:5]]
    expected = int(model.predict(x[:1])[0])
    expected_example = [int(v) for v in model.predict(x[:5])]
    trusted = sorted(skops.io.get_untrusted_types(data=data))
    Path(folder, ROW_FILE).write_text(
        json.dumps(
            {
                "row": row,
                "example": example,
                "expected": expected,
                "expected_example": expected_example,
                "trusted": trusted,
            }
        ),
        encoding="utf-8",
    )
    return {
        "model_bytes": len(data),
        "model_sha256": hashlib.sha256(data).hexdigest(),
        "expected": expected,
        "expected_example": expected_example,
        "nodes": int(sum(t.tree_.node_count for t in model.estimators_)),
        "trusted": trusted,
    }


def shared_model(folder: str) -> tuple[Any, Any, list[str]]:
    """The trained model object (read back from the one skops file), a 5-row input example,
    and the types skops needs trusted to load it."""
    import numpy as np
    import skops.io

    data = read_shared(folder)
    model = skops.io.load(os.path.join(folder, MODEL_FILE), trusted=data["trusted"])
    return model, np.asarray(data["example"], dtype=np.float64), data["trusted"]


def read_shared(folder: str) -> dict[str, Any]:
    import json

    return json.loads(Path(folder, ROW_FILE).read_text(encoding="utf-8"))
