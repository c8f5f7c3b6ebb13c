"""Prediction-logging overhead: one serving app, request logging on vs off, single-row requests.

In a fresh temp project: trains a small logistic regression, registers it,
then builds two in-process prediction services of it (``log_requests`` on
and off) and times many single-row ``POST /predict`` calls to each,
alternating request by request so that machine noise hits both alike. The
time the request path spends in the logging call itself is timed too.

    python bench/monitoring/logging_worker.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracking"))

from _common import guard_network, network_attempts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    guard_network()
    folder = Path(tempfile.mkdtemp(prefix="mlstage-logbench-"))
    os.chdir(folder)
    (folder / ".mlstage").mkdir()
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mlstage
    from mlstage.serving.app import create_serving_app
    from mlstage.serving.options import ServingOptions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    rng = np.random.default_rng(0)
    X = pd.DataFrame({f"f{i}": rng.normal(size=500) for i in range(8)})
    y = (X.f0 + X.f1 > 0).astype(int)
    with mlstage.start_run():
        uri = mlstage.log_model(LogisticRegression().fit(X, y), "model", input_example=X).model_uri
    mlstage.register_model(uri, "bench")
    bodies = [{"records": [X.iloc[i % 500].to_dict()]} for i in range(args.requests)]
    clients = {}
    apps = {}
    for label, on in (("on", True), ("off", False)):
        app = create_serving_app("bench/1", options=ServingOptions(log_requests=on))
        client = TestClient(app)
        client.__enter__()
        clients[label], apps[label] = client, app
    samples: dict[str, list[float]] = {"on": [], "off": []}
    in_path: list[float] = []
    service = apps["on"].state.service
    original = service._log

    def timed_log(*a: object, **k: object) -> None:
        start = time.perf_counter()
        original(*a, **k)
        in_path.append((time.perf_counter() - start) * 1000)

    service._log = timed_log  # the request path's own cost of logging
    for label in ("on", "off"):  # warm up both
        for body in bodies[:200]:
            clients[label].post("/predict", json=body)
    in_path.clear()
    for i, body in enumerate(bodies):  # alternate request by request: noise hits both alike
        for label in ("on", "off") if i % 2 == 0 else ("off", "on"):
            start = time.perf_counter()
            response = clients[label].post("/predict", json=body)
            samples[label].append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200
    logger = apps["on"].state.service.logger
    logger.flush()
    written = logger.written
    for label in ("on", "off"):
        clients[label].__exit__(None, None, None)
        apps[label].state.service.close()
    p50 = {k: statistics.median(v) for k, v in samples.items()}
    result = {
        "requests": len(samples["on"]),
        "p50_on_ms": p50["on"],
        "p50_off_ms": p50["off"],
        "overhead_p50_ms": p50["on"] - p50["off"],
        "log_call_p50_ms": statistics.median(in_path),
        "log_call_p99_ms": statistics.quantiles(in_path, n=100)[98],
        "logged": written,
        "network_attempts": network_attempts,
    }
    sys.stdout.write("BENCH_RESULT " + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
