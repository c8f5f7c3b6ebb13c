"""Deployment records: strategies, promote, rollback, history, and routing that replicas agree on."""

from __future__ import annotations

import statistics
import uuid

import pytest

from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.serving.deployments import Strategy, get_deployment_store
from mlstage.serving.routing import bucket, route


def test_deploy_promote_rollback_with_history(churn_versions: list[int]) -> None:
    store = get_deployment_store()
    first = store.deploy("churn-prod", "churn", "prod", 1, actor="ada", reason="first release")
    assert (first.primary_version, first.strategy, first.revision) == (1, Strategy.SINGLE, 1)
    canary = store.deploy(
        "churn-prod",
        "churn",
        "prod",
        1,
        candidate_version=2,
        strategy="canary",
        weight=10,
        actor="ada",
    )
    assert (canary.candidate_version, canary.weight, canary.revision) == (2, 10.0, 2)
    assert canary.versions == [1, 2]
    promoted = store.promote("churn-prod", actor="bob", reason="canary looked good")
    assert (promoted.primary_version, promoted.candidate_version) == (2, None)
    assert (promoted.previous_version, promoted.strategy) == (1, Strategy.SINGLE)
    rolled = store.rollback("churn-prod", actor="bob", reason="latency regression")
    assert (rolled.primary_version, rolled.previous_version, rolled.revision) == (1, 2, 4)
    history = store.get_history("churn-prod")
    assert [(e.action, e.actor, e.revision) for e in history] == [
        ("created", "ada", 1),
        ("updated", "ada", 2),
        ("promoted", "bob", 3),
        ("rolled_back", "bob", 4),
    ]
    assert history[2].before["candidate_version"] == 2
    assert history[2].after["primary_version"] == 2
    assert history[3].reason == "latency regression"
    assert [d.name for d in store.list_deployments()] == ["churn-prod"]


def test_bad_deployments_are_refused_and_nothing_is_written(churn_versions: list[int]) -> None:
    store = get_deployment_store()
    cases = [
        (dict(name="Churn Prod"), InvalidInput, "deployment name 'Churn Prod'"),
        (dict(environment="Prod!"), InvalidInput, "environment 'Prod!'"),
        (dict(strategy="rainbow", candidate_version=2), InvalidInput, "strategy 'rainbow'"),
        (dict(strategy="canary"), InvalidInput, "needs a candidate"),
        (dict(strategy="canary", candidate_version=2, weight=0), InvalidInput, "needs a weight"),
        (dict(strategy="canary", candidate_version=2, weight=150), InvalidInput, "percentage"),
        (dict(candidate_version=2), InvalidInput, "takes no candidate"),
        (dict(model="ghost"), NotFound, "registered model 'ghost'"),
        (dict(primary_version=9), NotFound, "has no version 9"),
    ]
    for change, error, problem in cases:
        args = {
            "name": "churn-prod",
            "model": "churn",
            "environment": "prod",
            "primary_version": 1,
            **change,
        }
        with pytest.raises(error, match=problem):
            store.deploy(
                args.pop("name"),
                args.pop("model"),
                args.pop("environment"),
                args.pop("primary_version"),
                **args,
            )
    assert store.list_deployments() == []
    store.deploy("churn-prod", "churn", "prod", 1)
    with pytest.raises(Conflict, match="no candidate to promote"):
        store.promote("churn-prod")
    with pytest.raises(Conflict, match="no previous version"):
        store.rollback("churn-prod")
    with pytest.raises(NotFound, match="deployment 'nope' does not exist"):
        store.get_deployment("nope")


def test_deploying_the_same_record_again_changes_nothing(churn_versions: list[int]) -> None:
    store = get_deployment_store()
    first = store.deploy("churn-prod", "churn", "prod", 1, actor="ada")
    again = store.deploy("churn-prod", "churn", "prod", 1, actor="bob")
    assert again.revision == first.revision == 1
    assert len(store.get_history("churn-prod")) == 1
    with pytest.raises(InvalidInput, match="actor must be text"):
        store.deploy("churn-prod", "churn", "prod", 2, actor=7)  # type: ignore[arg-type]


def test_a_load_error_is_reported_once_per_revision(churn_versions: list[int]) -> None:
    store = get_deployment_store()
    deployment = store.deploy(
        "churn-prod", "churn", "prod", 1, candidate_version=3, strategy="blue-green"
    )
    store.report_error("churn-prod", deployment.revision, "model.skops is corrupt")
    store.report_error("churn-prod", deployment.revision, "model.skops is corrupt")
    store.report_error("churn-prod", deployment.revision - 1, "stale replica")
    assert store.get_deployment("churn-prod").error == "model.skops is corrupt"
    assert [e.action for e in store.get_history("churn-prod")] == ["created", "load_failed"]
    assert store.promote("churn-prod").error == ""


def _deployment(strategy: str, weight: float = 0.0):  # type: ignore[no-untyped-def]
    from mlstage.serving.deployments import Deployment

    return Deployment(
        name="churn-prod",
        model="churn",
        environment="prod",
        primary_version=1,
        candidate_version=2,
        strategy=Strategy(strategy),
        weight=weight,
        revision=1,
        created_at=0,
        updated_at=0,
    )


def test_canary_weights_hold_over_ten_thousand_keys() -> None:
    for weight in (1.0, 10.0, 50.0):
        deployment = _deployment("canary", weight)
        hits = sum(route(deployment, uuid.uuid4().hex).arm == "candidate" for _ in range(10_000))
        expected = 10_000 * weight / 100
        sd = (10_000 * weight / 100 * (1 - weight / 100)) ** 0.5
        assert abs(hits - expected) < 4 * sd, (weight, hits)


def test_ab_is_sticky_and_a_raised_weight_keeps_earlier_users() -> None:
    low, high = _deployment("ab", 20.0), _deployment("ab", 40.0)
    keys = [f"user-{i}" for i in range(2000)]
    first = [route(low, k).arm for k in keys]
    assert first == [route(low, k).arm for k in keys]  # sticky
    on_candidate = {k for k, arm in zip(keys, first, strict=True) if arm == "candidate"}
    assert all(route(high, k).arm == "candidate" for k in on_candidate)


def test_shadow_and_blue_green_always_answer_with_the_primary() -> None:
    shadow, blue_green = _deployment("shadow"), _deployment("blue-green")
    for key in ("a", "b", "c"):
        assert route(shadow, key).version == 1
        assert route(shadow, key).shadow == 2
        assert route(blue_green, key).version == 1
        assert route(blue_green, key).shadow is None


def test_buckets_are_uniform() -> None:
    counts = [0] * 10
    for i in range(20_000):
        counts[bucket("d", str(i)) // 1000] += 1
    assert statistics.pstdev(counts) < 100
