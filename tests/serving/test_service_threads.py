"""Where model calls run: never on whichever thread of a shared pool is free next.

A model called from a different thread from one request to the next runs
slower (its objects leave the caches of the core it ran on). So each loaded
version has one model thread of its own, the same for every call; and a model
whose calls are known to be short is called on the event loop itself, which
saves the two thread wake-ups of a hand-off.
"""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd
import pytest

from mlstage.serving import pool
from tests.serving import test_service

serve = test_service.serve  # the fixture


def record_threads(app: Any) -> dict[int, list[str]]:
    """Wrap every loaded version's model call to note the thread each call runs on."""
    seen: dict[int, list[str]] = {}
    for number, version in app.state.service.pool.current.versions.items():
        real = version.model_call
        names = seen.setdefault(number, [])

        def model_call(x: Any, _real: Any = real, _names: list[str] = names) -> Any:
            _names.append(threading.current_thread().name)
            return _real(x)

        version.model_call = model_call
    return seen


def predict_twenty(client: Any, X: pd.DataFrame) -> None:
    for start in range(0, 40, 2):
        rows = X.iloc[start : start + 2].to_dict("records")
        response = client.post("/predict", json={"records": rows})
        assert response.status_code == 200, response.text


def test_every_model_call_runs_on_the_versions_own_thread(
    churn_versions: list[int],
    serve: Any,
    iris: tuple[pd.DataFrame, pd.Series],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pool, "INLINE_BELOW", 0.0)  # no call is short enough for the loop
    X, _ = iris
    client = serve("churn/2")
    seen = record_threads(client.app)  # type: ignore[attr-defined]
    predict_twenty(client, X)
    assert len(seen[2]) == 20
    assert set(seen[2]) == {seen[2][0]}, f"the model ran on several threads: {set(seen[2])}"
    assert seen[2][0].startswith("mlstage-model-churn-v2")


def test_short_model_calls_move_to_the_event_loop_after_the_first(
    churn_versions: list[int], serve: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    client = serve("churn/2")
    seen = record_threads(client.app)  # type: ignore[attr-defined]
    predict_twenty(client, X)
    first, last = seen[2][0], seen[2][-1]
    assert first.startswith("mlstage-model-churn-v2")  # its time is not known yet
    assert last != first and set(seen[2]) == {first, last}  # the thread, then the loop
    assert seen[2][-10:] == [last] * 10, "once its calls are known to be short"


def test_each_version_of_a_deployment_has_its_own_model_thread(
    churn_versions: list[int],
    serve: Any,
    iris: tuple[pd.DataFrame, pd.Series],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlstage.serving.deployments import get_deployment_store

    monkeypatch.setattr(pool, "INLINE_BELOW", 0.0)
    X, _ = iris
    get_deployment_store().deploy(
        "churn-prod", "churn", "prod", 1, candidate_version=2, strategy="canary", weight=50
    )
    client = serve("deployment:churn-prod")
    seen = record_threads(client.app)  # type: ignore[attr-defined]
    for i in range(30):
        response = client.post(
            "/predict",
            json={"records": X.iloc[:1].to_dict("records")},
            headers={"X-Request-Key": f"user-{i}"},
        )
        assert response.status_code == 200, response.text
    assert seen[1] and seen[2], "the canary split should send requests to both versions"
    assert set(seen[1]) == {seen[1][0]} and seen[1][0].startswith("mlstage-model-churn-v1")
    assert set(seen[2]) == {seen[2][0]} and seen[2][0].startswith("mlstage-model-churn-v2")
