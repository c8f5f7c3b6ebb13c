"""Serving a deployment: routing, shadow traffic, and hot swaps that never drop a request."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import mlstage
from mlstage import config
from mlstage.serving.deployments import get_deployment_store
from mlstage.serving.routing import route
from tests.serving import test_service
from tests.serving.test_service import FakeLog

serve = test_service.serve  # the fixtures
live = test_service.live
Serve = test_service.Serve
ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}


def predict(client: httpx.Client, key: str | None = None, rows: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"records": [ROW] * rows}
    if key is not None:
        body["key"] = key
    answer = client.post("/predict", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def corrupt(version: int) -> None:
    """Flip a byte of the version's model file, as disk rot or tampering would."""
    from mlstage.artifacts.store import get_artifact_store
    from mlstage.models.api import get_registry_store

    sha = get_registry_store().get_model_version("churn", version).files["model.skops"]
    settings = config.get_settings()
    blob = Path(get_artifact_store(settings.artifact_root)._key(sha))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))


def test_a_failing_revision_keeps_the_old_one_serving_then_rollback(
    churn_versions: list[int], serve: Serve
) -> None:
    store = get_deployment_store()
    store.deploy("churn-prod", "churn", "prod", 1, reason="first")
    client = serve("deployment:churn-prod", poll_interval=3600)  # refreshed by hand below
    service = client.app.state.service  # type: ignore[attr-defined]
    first = predict(client)
    assert (first["version"], first["deployment"], first["route"]) == (1, "churn-prod", "primary")
    assert service.title() == "churn v1 (churn-prod)"

    store.deploy("churn-prod", "churn", "prod", 2)
    assert service.pool.refresh() is True
    assert predict(client)["version"] == 2
    assert service.pool.refresh() is False  # nothing new

    corrupt(3)
    store.deploy("churn-prod", "churn", "prod", 3)
    assert service.pool.refresh() is False
    assert predict(client)["version"] == 2  # the old version keeps serving
    deployment = store.get_deployment("churn-prod")
    assert "revision 3 could not be loaded" in deployment.error
    assert "corrupt" in deployment.error and "still serving revision 2" in deployment.error
    history = store.get_history("churn-prod")
    assert [e.action for e in history][-1] == "load_failed"
    ready = client.get("/ready").json()
    assert ready["revision"] == 2 and "revision 3 could not be loaded" in ready["error"]

    store.rollback("churn-prod", actor="ops", reason="v3 is corrupt")
    assert service.pool.refresh() is True
    assert predict(client)["version"] == 2  # rollback from 3 (never served) to 2
    assert client.get("/ready").json()["error"] is None
    store.deploy("churn-prod", "churn", "prod", 1)
    store.rollback("churn-prod")
    service.pool.refresh()
    assert predict(client)["version"] == 2
    metrics = client.get("/metrics").text
    assert 'mlstage_serving_loaded_versions{model="churn",version="2"} 1.0' in metrics
    assert 'mlstage_serving_loaded_versions{model="churn",version="1"}' not in metrics


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_hot_swap_under_concurrent_load_drops_nothing(
    backend: str, churn_versions: list[int], live: Callable[..., tuple[str, Any]]
) -> None:
    store = get_deployment_store()
    store.deploy("churn-prod", "churn", "prod", 1)
    url, app = live("deployment:churn-prod", poll_interval=0.1)
    seen: list[list[int]] = [[] for _ in range(8)]
    failures: list[str] = []
    stop = threading.Event()

    def hammer(mine: list[int]) -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            while not stop.is_set():
                try:
                    answer = client.post("/predict", json={"records": [ROW]})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if answer.status_code != 200:
                    failures.append(answer.text)
                else:
                    mine.append(answer.json()["version"])

    threads = [threading.Thread(target=hammer, args=(mine,)) for mine in seen]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(len(mine) >= 5 for mine in seen))
        store.deploy("churn-prod", "churn", "prod", 2, reason="new model")
        wait_for(lambda: all(mine[-1] == 2 for mine in seen))
        marks = [len(mine) for mine in seen]
        wait_for(lambda: all(len(m) >= n + 5 for m, n in zip(seen, marks, strict=True)))
        store.rollback("churn-prod", reason="back")
        wait_for(lambda: all(mine[-1] == 1 for mine in seen))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    for mine in seen:
        # Each client saw 1, then 2, then 1 again: never a mix within a phase.
        phases = [v for i, v in enumerate(mine) if i == 0 or mine[i - 1] != v]
        assert phases == [1, 2, 1], phases
    assert app.state.service.pool.current.revision == 3


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_shadow_answers_are_logged_never_returned(
    backend: str, churn_versions: list[int], serve: Serve, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    rows = X.sample(40, random_state=5)
    store = get_deployment_store()
    store.deploy("churn-prod", "churn", "prod", 1, candidate_version=3, strategy="shadow")
    client = serve("deployment:churn-prod")
    log = FakeLog()
    client.app.state.service.logger = log  # type: ignore[attr-defined]
    ids = []
    for i in range(0, 40, 4):
        answer = client.post("/predict", json={"records": rows.iloc[i : i + 4].to_dict("records")})
        body = answer.json()
        assert (body["version"], body["route"]) == (1, "primary")
        ids.extend(body["prediction_ids"])
    v2_answer = client.post(
        "/v2/models/churn/infer",
        json={
            "inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [ROW[c]]} for c in ROW]
        },
    ).json()
    assert (v2_answer["model_version"], v2_answer["parameters"]["route"]) == ("1", "primary")
    wait_for(lambda: sum(r.route == "shadow" for r in log.records) == 41)
    primary = [r for r in log.records if r.route == "primary"]
    shadow = [r for r in log.records if r.route == "shadow"]
    assert {r.version for r in primary} == {1} and {r.version for r in shadow} == {3}
    assert [r.prediction_id for r in shadow][:40] == ids  # joined to the primary's answers
    v3 = mlstage.load_model("models:/churn/3")
    assert [r.output for r in shadow][:40] == v3.predict(rows).tolist()
    assert shadow[0].inputs == rows.iloc[0].to_dict()
    assert all(r.deployment == "churn-prod" for r in log.records)
    metrics = client.get("/metrics").text
    assert (
        'mlstage_serving_predictions_total{model="churn",route="shadow",version="3"} 41.0'
        in metrics
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_canary_and_ab_follow_the_routing_function(
    backend: str, churn_versions: list[int], serve: Serve
) -> None:
    store = get_deployment_store()
    canary = store.deploy(
        "churn-prod", "churn", "prod", 1, candidate_version=2, strategy="canary", weight=30
    )
    client = serve("deployment:churn-prod")
    arms: Counter[str] = Counter()
    requests = 2000
    for i in range(requests):
        key = f"user-{i}"
        body = predict(client, key)
        expected = route(canary, key)
        assert (body["route"], body["version"]) == (expected.arm, expected.version), key
        arms[body["route"]] += 1
    share = arms["candidate"] / requests
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / requests), share
    # The key may come as a header too; unkeyed requests are routed by their prediction id.
    header = client.post("/predict", json={"records": [ROW]}, headers={"X-Request-Key": "user-7"})
    assert header.json()["route"] == route(canary, "user-7").arm

    ab = store.deploy(
        "churn-prod", "churn", "prod", 1, candidate_version=2, strategy="ab", weight=50
    )
    client.app.state.service.pool.refresh()  # type: ignore[attr-defined]
    for i in range(50):
        key = f"visitor-{i}"
        versions = {predict(client, key)["version"] for _ in range(4)}
        assert versions == {route(ab, key).version}, key


def test_the_page_hooks_and_metadata_follow_the_primary(
    churn_versions: list[int], serve: Serve
) -> None:
    store = get_deployment_store()
    store.deploy("churn-prod", "churn", "prod", 2, candidate_version=3, strategy="blue-green")
    client = serve("deployment:churn-prod")
    service = client.app.state.service  # type: ignore[attr-defined]
    assert service.title() == "churn v2 (churn-prod)"
    assert [c.name for c in service.signature().inputs] == list(ROW)
    meta = client.get("/v2/models/churn-prod").json()
    assert meta["name"] == "churn" and meta["versions"] == ["2", "3"]
    assert {predict(client, f"k{i}")["version"] for i in range(20)} == {2}  # blue waits
    pinned = client.post(
        "/v2/models/churn/versions/3/infer",
        json={
            "inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [ROW[c]]} for c in ROW]
        },
    ).json()
    assert (pinned["model_version"], pinned["parameters"]["route"]) == ("3", "candidate")
    assert np.isclose(sum(pinned["outputs"][1]["data"]), 1.0)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_answer_reaches_the_request_log(
    backend: str, churn_versions: list[int], serve: Serve
) -> None:
    request_log = pytest.importorskip("mlstage.serving.request_log")
    store = get_deployment_store()
    store.deploy("churn-prod", "churn", "prod", 1, candidate_version=2, strategy="shadow")
    client = serve("deployment:churn-prod", log_requests=True)
    service = client.app.state.service  # type: ignore[attr-defined]
    ids = predict(client, "user-1", rows=3)["prediction_ids"]
    shadowed = 'mlstage_serving_predictions_total{model="churn",route="shadow",version="2"} 3.0'
    wait_for(lambda: shadowed in client.get("/metrics").text)
    service.close()  # flushes the log
    logged = request_log.read_prediction_log("churn")
    assert sorted(logged["route"]) == ["primary"] * 3 + ["shadow"] * 3
    for route_name, version in (("primary", 1), ("shadow", 2)):
        part = logged[logged["route"] == route_name]
        assert sorted(part["prediction_id"]) == sorted(ids)
        assert set(part["version"]) == {version}
        assert set(part["request_key"]) == {"user-1"}
        assert list(part["input.petal_length"]) == [ROW["petal_length"]] * 3
    assert "mlstage_serving_request_log_dropped 0.0" in client.get("/metrics").text
