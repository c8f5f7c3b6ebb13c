"""Helpers shared by the serving workers (each runs in its own venv; see bench/run_serving.py).

The model both services serve: a scikit-learn RandomForestClassifier (100
trees, 20 features ``f0`` ... ``f19``) trained once on ``make_classification``
with a fixed seed, written to one skops file by the mlstage venv's ``train``
step; each tool then logs the object read back from that file. The request
bodies are written next to it, so both services get the same row values.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

MODEL_NAME = "bench"
ALIAS = "champion"
ARTIFACT = "model"
MODEL_FILE = "model.skops"
DATA_FILE = "data.json"
N_FEATURES = 20
N_TREES = 100
N_SAMPLES = 2000
BATCH_ROWS = 1000
SEED = 20240601
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]

# Request bodies written by ``train``; the runner hands their paths to wrk.
BODIES = {
    "mlstage_row": "mlstage-row.json",  # {"records": [{...one row...}]}
    "mlstage_batch": "mlstage-batch.json",  # {"columns": [...], "data": [[...] x 1000]}
    "mlstage_batch_records": "mlstage-batch-records.json",  # {"records": [{...} x 1000]}
    "mlflow_row": "mlflow-row.json",  # {"dataframe_split": {"columns": [...], "data": [[...]]}}
    "mlflow_batch": "mlflow-batch.json",  # the same with 1000 rows
}


def parse_args(argv: list[str] | None = None) -> dict[str, str]:
    """``scenario --key value ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = {"scenario": argv.pop(0) if argv else ""}
    while argv:
        key = argv.pop(0)
        if not key.startswith("--") or not argv:
            raise SystemExit(f"bad argument {key!r}: expected --key value pairs")
        args[key[2:].replace("-", "_")] = argv.pop(0)
    return args


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def _dump(path: Path, content: Any) -> None:
    path.write_text(json.dumps(content, separators=(",", ":")), encoding="utf-8")


def train(folder: str) -> dict[str, Any]:
    """Train the forest, write it (skops) and the request bodies; the expected answers."""
    import hashlib

    import pandas as pd
    import skops.io
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(
        n_samples=N_SAMPLES, n_features=N_FEATURES, n_informative=10, random_state=SEED
    )
    frame = pd.DataFrame(x, columns=COLUMNS)
    model = RandomForestClassifier(n_estimators=N_TREES, random_state=SEED, n_jobs=None)
    model.fit(frame, y)
    data = skops.io.dumps(model)
    out = Path(folder)
    (out / MODEL_FILE).write_bytes(data)
    # Rows the model was not trained on: a second draw of the same generator.
    fresh, _ = make_classification(
        n_samples=BATCH_ROWS, n_features=N_FEATURES, n_informative=10, random_state=SEED + 1
    )
    rows = [[float(v) for v in r] for r in fresh]
    row = rows[0]
    batch_frame = pd.DataFrame(rows, columns=COLUMNS)
    expected = [int(v) for v in model.predict(batch_frame)]
    proba_row = [float(p) for p in model.predict_proba(batch_frame.iloc[:1])[0]]
    record = dict(zip(COLUMNS, row, strict=True))
    _dump(out / BODIES["mlstage_row"], {"records": [record]})
    _dump(out / BODIES["mlstage_batch"], {"columns": COLUMNS, "data": rows})
    _dump(
        out / BODIES["mlstage_batch_records"],
        {"records": [dict(zip(COLUMNS, r, strict=True)) for r in rows]},
    )
    _dump(out / BODIES["mlflow_row"], {"dataframe_split": {"columns": COLUMNS, "data": [row]}})
    _dump(out / BODIES["mlflow_batch"], {"dataframe_split": {"columns": COLUMNS, "data": rows}})
    trusted = sorted(skops.io.get_untrusted_types(data=data))
    _dump(
        out / DATA_FILE,
        {
            "row": row,
            "example": [[float(v) for v in r] for r in x[:5]],
            "expected": expected,
            "proba_row": proba_row,
            "classes": [int(c) for c in model.classes_],
            "trusted": trusted,
        },
    )
    return {
        "model_bytes": len(data),
        "model_sha256": hashlib.sha256(data).hexdigest(),
        "nodes": int(sum(t.tree_.node_count for t in model.estimators_)),
        "trusted": trusted,
        "body_bytes": {k: os.path.getsize(out / v) for k, v in BODIES.items()},
        "expected_first": expected[:5],
    }


def read_data(folder: str) -> dict[str, Any]:
    return json.loads(Path(folder, DATA_FILE).read_text(encoding="utf-8"))


def shared_model(folder: str) -> tuple[Any, Any, list[str]]:
    """The trained forest (read back from the skops file), a 5-row example DataFrame, and
    the types skops needs trusted to load it."""
    import pandas as pd
    import skops.io

    data = read_data(folder)
    model = skops.io.load(os.path.join(folder, MODEL_FILE), trusted=data["trusted"])
    return model, pd.DataFrame(data["example"], columns=COLUMNS), data["trusted"]
