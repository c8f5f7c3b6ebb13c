"""The validation gate on SQLite and PostgreSQL: pass and fail, overall and per slice, with reasons."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import pytest

import mlstage
from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.models.api import get_registry_store
from mlstage.models.entities import VersionStatus
from mlstage.models.validation import Verdict, validate_candidate
from tests.models.test_evaluation import (
    churn_frame,
    drifted_frame,
    good_model,
    log_models,
    weak_model,
)


@pytest.fixture
def churn(backend: str) -> dict[str, str]:
    """``churn`` version 1 is a good model, version 2 a weak one; no alias set yet."""
    uris = log_models(good=good_model(), weak=weak_model())
    mlstage.register_model(uris["good"], "churn")
    mlstage.register_model(uris["weak"], "churn")
    return uris


def gate(candidate: str, **kwargs: Any) -> Verdict:
    arguments: dict[str, Any] = {"data": churn_frame(), "targets": "churned", **kwargs}
    return validate_candidate(candidate, task="classification", **arguments)


def line(verdict: Verdict, pattern: str) -> str:
    """The one reason matching ``pattern`` (a regular expression for the whole line)."""
    found = [r for r in verdict.reasons if re.fullmatch(pattern, r)]
    assert len(found) == 1, f"{pattern!r} not exactly once in {verdict.reasons}"
    return found[0]


def test_a_weak_candidate_is_rejected_against_a_good_champion(churn: dict[str, str]) -> None:
    mlstage.set_alias("churn", "champion", 1)
    verdict = gate(
        "churn/2",
        champion="churn@champion",
        thresholds={"roc_auc": {"min": 0.8, "min_delta": -0.01}, "log_loss": {"max_delta": 0.05}},
    )
    assert not verdict.passed
    assert verdict.candidate_metrics["roc_auc"] == pytest.approx(0.5)
    assert verdict.champion_metrics is not None
    assert verdict.champion_metrics["roc_auc"] > 0.9
    line(verdict, r"champion churn@champion is churn/1")
    line(verdict, r"roc_auc 0\.500 < min 0\.800: FAIL")
    line(verdict, r"roc_auc delta -0\.4\d\d < min_delta -0\.010 vs champion churn/1: FAIL")
    line(verdict, r"log_loss delta \+0\.\d{3} > max_delta 0\.050 vs champion churn/1: FAIL")
    assert (verdict.candidate_version, verdict.champion_version) == (2, 1)

    version = get_registry_store().get_model_version("churn", 2)
    assert version.status is VersionStatus.REJECTED
    assert version.validation is not None
    assert version.validation["reasons"] == verdict.reasons
    assert version.validation["passed"] is False
    [change] = [
        h for h in get_registry_store().get_history("churn") if h.action == "status_changed"
    ]
    assert (change.version, change.to_value) == (2, "REJECTED")
    assert change.reason.startswith("validation failed: 3 of 3 checks; roc_auc 0.500 < min 0.800")
    with pytest.raises(Conflict, match="REJECTED, not VALIDATED"):
        mlstage.promote("churn/2")


def test_a_good_candidate_passes_against_a_weak_champion(churn: dict[str, str]) -> None:
    mlstage.set_alias("churn", "champion", 2)
    verdict = gate(
        "models:/churn/1",
        champion="churn@champion",
        thresholds={"roc_auc": {"min": 0.8, "min_delta": 0.1}, "f1": {"min": 0.8}},
    )
    assert verdict.passed, verdict.reasons
    line(verdict, r"roc_auc 0\.9\d\d >= min 0\.800: pass")
    line(verdict, r"roc_auc delta \+0\.4\d\d >= min_delta 0\.100 vs champion churn/2: pass")
    line(verdict, r"f1 0\.9\d\d >= min 0\.800: pass")
    assert verdict.summary == "validation passed: 3 of 3 checks"
    assert get_registry_store().get_model_version("churn", 1).status is VersionStatus.VALIDATED
    promoted = mlstage.promote("churn/1")
    assert "champion" in promoted.aliases


def test_an_alias_candidate_is_pinned_to_its_version(churn: dict[str, str]) -> None:
    mlstage.set_alias("churn", "challenger", 1)
    verdict = gate("churn@challenger", thresholds={"accuracy": {"min": 0.5}})
    assert (verdict.candidate, verdict.candidate_version) == ("models:/churn/1", 1)
    assert get_registry_store().get_model_version("churn", 1).status is VersionStatus.VALIDATED


def test_a_slice_can_fail_while_the_whole_passes(churn: dict[str, str]) -> None:
    mlstage.set_alias("churn", "champion", 2)
    verdict = gate(
        "churn/1",
        data=drifted_frame(),
        champion="churn@champion",
        thresholds={"roc_auc": {"min": 0.7}},
        slice_thresholds={"region": {"roc_auc": {"min": 0.7, "min_delta": 0.0}}},
    )
    assert not verdict.passed
    line(verdict, r"roc_auc 0\.8\d\d >= min 0\.700: pass")
    line(verdict, r"slice region=EU roc_auc 0\.9\d\d >= min 0\.700: pass")
    line(verdict, r"slice region=US roc_auc 0\.9\d\d >= min 0\.700: pass")
    line(verdict, r"slice region=APAC roc_auc 0\.0\d\d < min 0\.700: FAIL")
    line(
        verdict,
        r"slice region=APAC roc_auc delta -0\.4\d\d < min_delta 0\.000 vs champion churn/2: FAIL",
    )
    line(
        verdict,
        r"slice region=EU roc_auc delta \+0\.4\d\d >= min_delta 0\.000 vs champion churn/2: pass",
    )
    assert len(verdict.failures) == 2
    assert set(verdict.candidate_slices["region"]) == {"APAC", "EU", "US"}
    assert get_registry_store().get_model_version("churn", 1).status is VersionStatus.REJECTED


def test_a_missing_champion_alias_means_no_baseline(churn: dict[str, str]) -> None:
    verdict = gate(
        "churn/1", champion="churn@champion", thresholds={"roc_auc": {"min": 0.8, "min_delta": 0}}
    )
    assert verdict.passed
    assert verdict.reasons[0].startswith(
        "no champion baseline: model 'churn' has no alias 'champion'; relative thresholds"
    )
    line(verdict, r"roc_auc min_delta 0\.000: skipped, no champion baseline")
    assert (verdict.champion, verdict.champion_metrics) == (None, None)
    assert verdict.summary == "validation passed: 1 of 1 checks"

    unknown_model = gate("churn/1", champion="fraud@champion", thresholds={"f1": {"min": 0.5}})
    assert "registered model 'fraud' does not exist" in unknown_model.reasons[0]
    with pytest.raises(NotFound, match="has no version 9"):
        gate("churn/1", champion="churn/9", thresholds={"f1": {"min": 0.5}})


def test_unknown_threshold_metrics_are_refused_listing_the_available_ones(
    churn: dict[str, str],
) -> None:
    with pytest.raises(InvalidInput) as caught:
        gate("churn/1", thresholds={"auc": {"min": 0.8}})
    assert caught.value.message == (
        "thresholds: unknown metric(s) auc; available for classification: accuracy, precision, "
        "recall, f1, roc_auc, log_loss, calibration_error"
    )
    with pytest.raises(
        InvalidInput, match=r"slice_thresholds\['region'\]: unknown metric\(s\) mae"
    ):
        gate("churn/1", slice_thresholds={"region": {"mae": {"max": 1.0}}})
    assert get_registry_store().get_model_version("churn", 1).status is VersionStatus.READY
    assert [r.name for r in mlstage.search_runs(output="list")] == ["train"]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "give at least one threshold"),
        (
            {"thresholds": {"log_loss": {"min_delta": 0.0}}, "champion": "churn@champion"},
            "log_loss is lower-is-better; bound its change with max_delta",
        ),
        (
            {"thresholds": {"roc_auc": {"max_delta": 0.0}}, "champion": "churn@champion"},
            "roc_auc is higher-is-better; bound its change with min_delta",
        ),
        ({"thresholds": {"roc_auc": {"minimum": 0.8}}}, "unknown bound 'minimum'"),
        ({"thresholds": {"roc_auc": {"min": "high"}}}, "must be a finite number, got 'high'"),
        ({"thresholds": {"roc_auc": {"min": float("nan")}}}, "must be a finite number"),
        ({"thresholds": {"roc_auc": {"min_delta": 0.0}}}, "pass champion="),
        ({"thresholds": {"f1": {}}}, "must be a non-empty dict of bounds"),
        (
            {"slice_thresholds": {"segment": {"f1": {"min": 0.5}}}},
            "slices: column 'segment' is not in data",
        ),
        (
            {"slice_thresholds": {"region": {"count": {"min_delta": 1}}}},
            "the row count takes min and max only",
        ),
        (
            {"thresholds": {"f1": {"min": 0.5}}, "targets": "label"},
            "targets: column 'label' is not in data",
        ),
    ],
)
def test_bad_gate_settings_are_refused_before_anything_runs(
    project: Any, kwargs: dict[str, Any], problem: str
) -> None:
    uri = log_models(good=good_model())["good"]
    mv = mlstage.register_model(uri, "churn")
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        gate("churn/1", **kwargs)
    assert get_registry_store().get_model_version("churn", mv.version).status is VersionStatus.READY
    assert [r.name for r in mlstage.search_runs(output="list")] == ["train"]


def test_a_run_candidate_is_evaluated_but_cannot_be_marked(churn: dict[str, str]) -> None:
    verdict = gate(churn["good"], thresholds={"roc_auc": {"min": 0.8}})
    assert verdict.passed
    assert not verdict.recorded
    assert verdict.candidate == churn["good"]
    assert verdict.candidate_version is None
    assert any(
        "is not a registry version: the verdict is not recorded" in r for r in verdict.reasons
    )


def test_the_gate_leaves_a_run_with_both_evaluations_and_the_verdict(project: Any) -> None:
    import json

    from mlstage.tracking.store import get_tracking_store

    uris = log_models(good=good_model(), weak=weak_model())
    mlstage.register_model(uris["good"], "churn")
    mlstage.register_model(uris["weak"], "churn")
    mlstage.set_alias("churn", "champion", 2)
    verdict = gate(
        "churn/1", champion="churn@champion", thresholds={"f1": {"min": 0.5}}, mark=False
    )
    assert verdict.run_id is not None
    run = mlstage.get_run(verdict.run_id)
    assert run.name == "validate churn/1"
    assert run.tags["mlstage.validation.passed"] == "true"
    assert run.tags["mlstage.validation.champion"] == "models:/churn/2"
    stored = json.loads(get_tracking_store().read_artifact(run.run_id, "validation/verdict.json"))
    assert stored["reasons"] == verdict.reasons
    children = [
        r.name
        for r in mlstage.search_runs(output="list")
        if r.tags.get("mlstage.parent_run_id") == run.run_id
    ]
    assert sorted(children) == ["evaluate candidate churn/1", "evaluate champion churn/2"]
    # mark=False: the verdict is returned, the version is left as it was
    assert get_registry_store().get_model_version("churn", 1).status is VersionStatus.READY


def test_a_regression_gate_bounds_errors_with_max_delta(project: Any) -> None:
    from sklearn.datasets import make_regression
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import Ridge

    X, y = make_regression(n_samples=200, n_features=3, noise=5.0, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    with mlstage.start_run():
        good = mlstage.log_model(Ridge().fit(frame, y), "good", input_example=frame.head())
        mean = mlstage.log_model(DummyRegressor().fit(frame, y), "mean", input_example=frame.head())
    mlstage.register_model(mean.model_uri, "price")
    mlstage.register_model(good.model_uri, "price")
    mlstage.set_alias("price", "champion", 1)
    verdict = validate_candidate(
        "price/2",
        frame.assign(price=y),
        "price",
        "regression",
        champion="price@champion",
        thresholds={"rmse": {"max_delta": -1.0}, "r2": {"min": 0.9}},
    )
    assert verdict.passed, verdict.reasons
    line(verdict, r"rmse delta -\d+\.\d{3} <= max_delta -1\.000 vs champion price/1: pass")
