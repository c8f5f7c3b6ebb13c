"""Release decisions: a canary or shadow candidate is promoted, held, or rolled back.

The request log is written by the request log's own encoder and store (or by
a real prediction service in process), the labels through the feedback
store ``log_feedback`` uses; the clock is an argument, as the demo's is.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import mlstage
from mlstage import config
from mlstage.errors import InvalidInput
from mlstage.monitoring.feedback import get_feedback_store, make_label
from mlstage.monitoring.release import ReleasePolicy, judge_canary
from mlstage.serving.deployments import Deployment, Strategy
from mlstage.serving.request_log import PredictionRecord
from mlstage.serving.request_log_store import (
    prepare_file,
    split_by_day,
)
from tests.monitoring.conftest import HOUR, Env

MINUTE = 60_000
START = (time.time_ns() // 1_000_000 // HOUR - 48) * HOUR
"""Two days ago on the hour: recent enough for the feedback store to find the predictions."""


def deployment(strategy: str = "canary", candidate: int | None = 2) -> Deployment:
    return Deployment(
        name="churn-prod",
        model="churn",
        environment="prod",
        primary_version=1,
        candidate_version=candidate,
        strategy=Strategy(strategy),
        weight=20.0 if strategy == "canary" else 0.0,
        revision=2,
        created_at=START,
        updated_at=START,
    )


def classified(
    version: int, route: str, n: int, wrong_every: int = 0, *, latency: float = 2.0
) -> tuple[list[PredictionRecord], dict[str, int]]:
    """``n`` answers of a binary classifier, wrong on every ``wrong_every``-th; and their labels."""
    records, labels = [], {}
    for i in range(n):
        truth = i % 2
        wrong = wrong_every > 0 and i % wrong_every == 0
        output = 1 - truth if wrong else truth
        p1 = 0.6 + 0.03 * (i % 11) if output == 1 else 0.4 - 0.03 * (i % 11)
        pid = f"{route[:2]}{version}{i:030d}"
        at = START + (i * 20 * MINUTE) // max(n, 1)  # spread over the first 20 minutes
        records.append(_record(pid, at, version, route, output, [1 - p1, p1], latency))
        labels[pid] = truth
    return records, labels


def regressed(
    version: int, route: str, n: int, error: float
) -> tuple[list[PredictionRecord], dict[str, float]]:
    """``n`` answers off the truth by ``error`` either way (so rmse = mae = ``error``)."""
    records, labels = [], {}
    for i in range(n):
        truth = 10.0 + i % 7
        pid = f"{route[:2]}{version}{i:030d}"
        output = truth + (error if i % 2 else -error)
        records.append(_record(pid, START + i * 1000, version, route, output, None, 2.0))
        labels[pid] = truth
    return records, labels


def _record(
    pid: str,
    at: int,
    version: int,
    route: str,
    output: Any,
    probabilities: list[float] | None,
    latency: float,
    deployment: str | None = "churn-prod",
) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=pid,
        timestamp_ms=at,
        model="churn",
        version=version,
        deployment=deployment,
        route=route,
        request_key=None,
        inputs={"tenure": 3},
        output=output,
        probabilities=probabilities,
        latency_ms=latency,
    )


def log(env: Env, records: list[PredictionRecord], failed: Iterable[str] = ()) -> None:
    """Store the records as the request log does; ``failed`` ids carry an ``error``."""
    failed = set(failed)
    marked = [
        dataclasses.replace(r, output=None, error="ValueError: model raised")
        if r.prediction_id in failed
        else r
        for r in records
    ]
    for day, rows in split_by_day(marked).items():
        env.logs.write_file(prepare_file("churn", day, rows))


def label(labels: dict[str, Any]) -> None:
    """Send the labels as ``log_feedback`` does, in one batch; every id must be known."""
    result = get_feedback_store().add_labels([make_label(k, v) for k, v in labels.items()])
    assert result.unknown == []


def judge(env: Env, policy: ReleasePolicy, now: int, strategy: str = "canary") -> Any:
    return judge_canary(env.db, env.artifacts, deployment(strategy), policy, START, now)


def test_a_healthy_canary_holds_through_its_window_then_is_promoted(sqlite_env: Env) -> None:
    primary, primary_labels = classified(1, "primary", 400, wrong_every=5, latency=2.0)
    candidate, candidate_labels = classified(2, "candidate", 120, wrong_every=20, latency=3.0)
    others = [  # neither arm: served without the deployment, or by another version
        _record("x" * 32, START + 1, 1, "primary", 1, [0.5, 0.5], 9.0, deployment=None),
        _record("y" * 32, START + 2, 3, "candidate", 1, [0.5, 0.5], 9.0),
    ]
    log(sqlite_env, primary + candidate + others)
    label({**primary_labels, **candidate_labels})
    policy = ReleasePolicy(window="6h", min_predictions=100, metric="roc_auc", min_labels=30)

    early = judge(sqlite_env, policy, START + 3 * HOUR)
    assert (early.action, early.reasons) == ("hold", ["window ends in 3h"])

    decision = judge(sqlite_env, policy, START + 6 * HOUR)
    assert decision.action == "promote"
    assert decision.reasons[0] == (
        "candidate held for 6h with 120 predictions; error rate 0.0% <= primary 0.0% + 1.0%"
    )
    assert (
        decision.reasons[1].startswith("candidate roc_auc ")
        and ">= primary" in (decision.reasons[1])
    )
    figures = decision.figures
    arms = figures["primary"], figures["candidate"]
    assert [(a["version"], a["predictions"], a["labelled"], a["errors"]) for a in arms] == [
        (1, 400, 400, 0),
        (2, 120, 120, 0),
    ]
    assert [(a["latency_p50_ms"], a["latency_p99_ms"]) for a in arms] == [(2.0, 2.0), (3.0, 3.0)]
    assert figures["candidate"]["metric"] > figures["primary"]["metric"]
    assert figures["higher_is_better"] is True and figures["errors_recorded"] is True
    assert figures["ready"] is True and figures["window_ends_ms"] == START + 6 * HOUR

    manual = ReleasePolicy(window="6h", approval="manual", min_predictions=100)
    waiting = judge(sqlite_env, manual, START + 7 * HOUR)
    assert waiting.action == "hold" and waiting.figures["ready"] is True
    assert waiting.reasons[0] == (
        "ready to promote; waiting for a maintainer's approval (approval: manual)"
    )


def test_hold_says_what_is_still_missing(sqlite_env: Env) -> None:
    primary, primary_labels = classified(1, "primary", 200, wrong_every=10)
    candidate, candidate_labels = classified(2, "candidate", 50)
    log(sqlite_env, primary + candidate)
    label({**primary_labels, **dict(list(candidate_labels.items())[:10])})

    policy = ReleasePolicy(window="1h", metric="accuracy")
    decision = judge(sqlite_env, policy, START + 30 * MINUTE)
    assert decision.action == "hold"
    assert decision.reasons == [
        "window ends in 30m",
        "50 of 100 predictions",
        "10 of 30 labelled candidate predictions",
    ]
    assert decision.figures["candidate"]["labelled"] == 10

    later = judge(sqlite_env, policy, START + 2 * HOUR)
    assert later.reasons == ["50 of 100 predictions", "10 of 30 labelled candidate predictions"]
    enough = ReleasePolicy(window="1h", metric="accuracy", min_predictions=50, min_labels=10)
    promoted = judge(sqlite_env, enough, START + 2 * HOUR)
    assert promoted.action == "promote"
    assert promoted.reasons[1] == "candidate accuracy 1 >= primary 0.9 - 0"


def test_a_canary_failing_more_often_is_rolled_back_before_its_window_ends(
    sqlite_env: Env,
) -> None:
    primary, _ = classified(1, "primary", 200)
    candidate, _ = classified(2, "candidate", 50)
    failed = [primary[7].prediction_id, candidate[3].prediction_id, candidate[9].prediction_id]
    log(sqlite_env, primary + candidate, failed=failed)

    decision = judge(sqlite_env, ReleasePolicy(window="1d"), START + HOUR)
    assert decision.action == "rollback"
    assert decision.reasons == [
        "candidate error rate 4.0% > primary 0.5% + 1.0% (2 of 50 predictions failed)"
    ]
    assert decision.figures["errors_recorded"] is True
    assert (decision.figures["candidate"]["errors"], decision.figures["primary"]["errors"]) == (
        2,
        1,
    )

    manual = ReleasePolicy(window="1d", approval="manual")  # rolling back needs no approval
    assert judge(sqlite_env, manual, START + HOUR).action == "rollback"
    tolerant = ReleasePolicy(window="1d", max_error_rate_increase=0.05)
    held = judge(sqlite_env, tolerant, START + HOUR)
    assert (held.action, held.reasons) == ("hold", ["window ends in 23h", "50 of 100 predictions"])


@pytest.mark.parametrize(
    ("task", "metric", "primary_quality", "candidate_quality", "drop", "action", "reason"),
    [
        ("classification", "accuracy", 10, 3, 0.0, "rollback", "candidate accuracy 0.6667 < primary 0.9 - 0"),
        ("classification", "accuracy", 10, 5, 0.15, "promote", "candidate accuracy 0.8 >= primary 0.9 - 0.15"),
        ("regression", "rmse", 1.0, 3.0, 0.5, "rollback", "candidate rmse 3 > primary 1 + 0.5 (lower is better"),
        ("regression", "rmse", 3.0, 1.0, 0.0, "promote", "candidate rmse 1 <= primary 3 + 0"),
        ("regression", "mae", 1.0, 1.2, 0.25, "promote", "candidate mae 1.2 <= primary 1 + 0.25"),
        ("regression", "r2", 0.5, 3.0, 0.0, "rollback", "candidate r2 "),
    ],
)  # fmt: skip
def test_a_worse_metric_rolls_back_whichever_way_the_metric_points(
    sqlite_env: Env,
    task: str,
    metric: str,
    primary_quality: float,
    candidate_quality: float,
    drop: float,
    action: str,
    reason: str,
) -> None:
    if task == "classification":
        primary, labels = classified(1, "primary", 60, wrong_every=int(primary_quality))
        candidate, more = classified(2, "candidate", 60, wrong_every=int(candidate_quality))
    else:
        primary, labels = regressed(1, "primary", 60, primary_quality)
        candidate, more = regressed(2, "candidate", 60, candidate_quality)
    log(sqlite_env, primary + candidate)
    label({**labels, **more})
    policy = ReleasePolicy(window="1h", min_predictions=50, metric=metric, max_metric_drop=drop)

    decision = judge(sqlite_env, policy, START + (HOUR if action == "promote" else 30 * MINUTE))
    assert decision.action == action, decision.reasons
    assert any(r.startswith(reason) for r in decision.reasons), decision.reasons
    if metric == "r2":
        assert decision.figures["candidate"]["metric"] < decision.figures["primary"]["metric"]


def test_a_shadow_is_judged_on_the_labels_of_the_answers_it_shadowed(sqlite_env: Env) -> None:
    primary, labels = classified(1, "primary", 120, wrong_every=4)
    shadow = [  # the same requests, answered better by the shadow, under the same ids
        _record(r.prediction_id, r.timestamp_ms + 1, 2, "shadow", labels[r.prediction_id],
                r.probabilities, 5.0)
        for r in primary
    ]  # fmt: skip
    log(sqlite_env, primary + shadow)
    label(labels)
    policy = ReleasePolicy(strategy="shadow", window="1h", metric="accuracy")

    decision = judge(sqlite_env, policy, START + 2 * HOUR, strategy="shadow")
    assert decision.action == "promote", decision.reasons
    assert decision.reasons[1] == "candidate accuracy 1 >= primary 0.75 - 0"
    arms = decision.figures["primary"], decision.figures["candidate"]
    assert [(a["predictions"], a["labelled"]) for a in arms] == [(120, 120), (120, 120)]
    assert decision.figures["strategy"] == "shadow"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_real_service_shadow_that_answers_worse_is_rolled_back(
    backend: str, project: Path
) -> None:
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from mlstage.artifacts.store import get_artifact_store
    from mlstage.serving.app import create_serving_app
    from mlstage.serving.deployments import get_deployment_store
    from mlstage.serving.options import ServingOptions
    from mlstage.store.database import get_database

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    shuffled = np.random.default_rng(0).permutation(y.to_numpy())  # v2 learnt noise
    for target in (y, shuffled):
        with mlstage.start_run():
            model = LogisticRegression(max_iter=500).fit(X, target)
            uri = mlstage.log_model(model, "model", input_example=X.head()).model_uri
        mlstage.register_model(uri, "churn")
    store = get_deployment_store()
    store.deploy("churn-prod", "churn", "prod", 1, candidate_version=2, strategy="shadow")
    since = time.time_ns() // 1_000_000

    app = create_serving_app("deployment:churn-prod", options=ServingOptions(log_requests=True))
    rows = X.iloc[::3]  # 50 rows, all classes
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post("/predict", json={"records": rows.to_dict("records")}).json()
        metrics = 'mlstage_serving_predictions_total{model="churn",route="shadow",version="2"} 50.0'
        deadline = time.monotonic() + 10
        while metrics not in client.get("/metrics").text and time.monotonic() < deadline:
            time.sleep(0.02)
    app.state.service.close()  # flushes the request log
    assert answer["route"] == "primary"
    ids = answer["prediction_ids"]
    assert mlstage.log_feedback(ids[0], int(y.iloc[0])).unknown == []
    label({pid: int(truth) for pid, truth in zip(ids[1:], y.iloc[::3][1:], strict=True)})

    settings = config.get_settings()
    policy = ReleasePolicy(strategy="shadow", window="1s", min_predictions=50, metric="accuracy")
    decision = judge_canary(
        get_database(settings.tracking_uri),
        get_artifact_store(settings.artifact_root),
        store.get_deployment("churn-prod"),
        policy,
        since,
        time.time_ns() // 1_000_000,
    )
    assert decision.action == "rollback", decision.reasons
    assert decision.reasons[0].startswith("candidate accuracy ")
    arms = decision.figures["primary"], decision.figures["candidate"]
    assert [(a["version"], a["predictions"], a["labelled"]) for a in arms] == [
        (1, 50, 50),
        (2, 50, 50),
    ]
    assert arms[0]["metric"] > 0.9 > arms[1]["metric"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"weight": 0}, "weight: must be a percentage between 0 and 100"),
        ({"weight": 100}, "weight: must be a percentage between 0 and 100"),
        ({"window": "soon"}, "window: must be a duration like 90s, 30m, 12h, 1d or 2w; got 'soon'"),
        ({"window": 0}, "window: must be a positive duration"),
        ({"min_predictions": 0}, "min_predictions: must be at least 1, got 0"),
        ({"min_labels": -3}, "min_labels: must be at least 1, got -3"),
        ({"max_error_rate_increase": 1.5}, "max_error_rate_increase: must be a fraction from 0 to 1"),
        ({"max_metric_drop": -0.1}, "max_metric_drop: must be 0 or more"),
        ({"metric": "auc"}, "metric: 'auc' is not one of accuracy, precision"),
        ({"strategy": "blue-green"}, "strategy: Input should be 'canary' or 'shadow'"),
        ({"approval": "yes"}, "approval: Input should be 'auto' or 'manual'"),
        ({"wait": "1d"}, "wait: unknown setting (a release policy takes strategy, weight"),
    ],
)  # fmt: skip
def test_bad_policy_values_are_refused_naming_the_setting(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        ReleasePolicy(**values)
    assert str(raised.value).startswith(f"release policy: {message}")
    with pytest.raises(InvalidInput, match="release policy: "):
        ReleasePolicy.parse(values)
    assert ReleasePolicy.parse({"window": "12h"}).window_ms == 12 * HOUR


def test_a_deployment_without_candidate_or_a_reversed_window_is_refused(sqlite_env: Env) -> None:
    single = deployment("single", candidate=None)
    with pytest.raises(InvalidInput, match="'churn-prod' has no candidate version to judge"):
        judge_canary(sqlite_env.db, sqlite_env.artifacts, single, ReleasePolicy(), START, START)
    with pytest.raises(InvalidInput, match=r"now_ms \(1\) is before since_ms"):
        judge_canary(sqlite_env.db, sqlite_env.artifacts, deployment(), ReleasePolicy(), START, 1)


def test_a_candidate_without_traffic_yet_is_held(sqlite_env: Env) -> None:
    decision = judge(sqlite_env, ReleasePolicy(metric="rmse"), START + 2 * HOUR)
    assert decision.action == "hold"
    assert decision.reasons == [
        "window ends in 22h",
        "0 of 100 predictions",
        "0 of 30 labelled candidate predictions",
    ]
    candidate = decision.figures["candidate"]
    assert (candidate["predictions"], candidate["error_rate"], candidate["metric"]) == (
        0,
        None,
        None,
    )
