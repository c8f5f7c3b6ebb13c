"""Micro-batching over a real socket: concurrent clients share model calls, each gets its own rows."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import mlstage
from tests.serving import test_service

live = test_service.live  # the fixture


@pytest.mark.slow
def test_concurrent_requests_are_batched_and_answered_row_for_row(
    project: Any, live: Callable[..., tuple[str, Any]], iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    X, y = iris
    forest = RandomForestClassifier(n_estimators=60, random_state=0).fit(X, y)
    with mlstage.start_run():
        uri = mlstage.log_model(forest, "model", input_example=X.head(20)).model_uri
    mlstage.register_model(uri, "forest")
    expected = forest.predict(X).tolist()
    expected_proba = forest.predict_proba(X)
    url, _ = live("forest/1")
    answers: dict[int, dict[str, Any]] = {}
    failures: list[str] = []
    barrier = threading.Barrier(12)

    def client(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            barrier.wait()
            for i in range(offset, len(X), 12):
                answer = http.post("/predict", json={"records": [X.iloc[i].to_dict()]})
                if answer.status_code != 200:
                    failures.append(answer.text)
                else:
                    answers[i] = answer.json()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(answers) == list(range(len(X)))
    for i, body in answers.items():
        assert body["predictions"] == [expected[i]], i
        assert np.allclose(body["probabilities"][0], expected_proba[i]), i
    with httpx.Client(base_url=url) as http:
        metrics = http.get("/metrics").text
    count = float(
        re.search(r'batch_requests_count\{model="forest",version="1"\} (\S+)', metrics)[1]
    )
    total = float(re.search(r'batch_requests_sum\{model="forest",version="1"\} (\S+)', metrics)[1])
    alone = float(
        re.search(r'batch_requests_bucket\{le="1.0",model="forest",version="1"\} (\S+)', metrics)[1]
    )
    assert total == len(X)
    assert count < total and alone < count  # some model calls served several requests
