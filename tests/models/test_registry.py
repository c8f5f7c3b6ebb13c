"""The registry: names, versions, aliases under concurrency, history, promotion and lineage."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mlstage
from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.models.api import get_registry_store
from mlstage.models.entities import VersionStatus


@pytest.fixture
def model_uri(backend: str, forest: Any, iris: tuple[pd.DataFrame, pd.Series]) -> str:
    X, _ = iris
    mlstage.set_experiment("iris")
    with mlstage.start_run(name="train"):
        mlstage.log_params({"n_estimators": 5})
        mlstage.log_metric("accuracy", 0.96)
        mlstage.log_input(X, name="iris-train")
        return mlstage.log_model(forest, "model", input_example=X.head()).model_uri


def test_versions_number_up_and_record_file_hashes(model_uri: str) -> None:
    first = mlstage.register_model(model_uri, "fraud-model", description="v1")
    second = mlstage.register_model(model_uri, "fraud-model")
    assert (first.version, second.version) == (1, 2)
    assert first.status is VersionStatus.READY
    assert set(first.files) == {"mlstage-model.yaml", "model.skops", "forest.npz"}
    assert all(len(sha) == 64 for sha in first.files.values())
    assert first.source == model_uri
    registry = get_registry_store()
    model = registry.get_registered_model("fraud-model")
    assert model.latest_version == 2
    assert [v.version for v in registry.list_model_versions("fraud-model")] == [1, 2]
    assert [m.name for m in registry.list_registered_models()] == ["fraud-model"]


@pytest.mark.parametrize(
    ("name", "error", "problem"),
    [
        ("Fraud-Model", Conflict, "clashes with the registered model 'fraud-model'"),
        ("fraud%2Dmodel", InvalidInput, "may only contain ASCII letters"),
        ("fraud-model ", InvalidInput, "may only contain"),
        ("fraud\u2010model", InvalidInput, "may only contain"),
        ("../fraud-model", InvalidInput, "must start with a letter or digit"),
        ("fraud/model", InvalidInput, "may only contain"),
        ("fraud..model", InvalidInput, "must not contain '..'"),
        ("fraud\x00model", InvalidInput, "may only contain"),
        ("", InvalidInput, "must not be empty"),
    ],
)
def test_confusable_and_colliding_names_are_refused(
    model_uri: str, name: str, error: type[Exception], problem: str
) -> None:
    mlstage.register_model(model_uri, "fraud-model")
    with pytest.raises(error, match=problem):
        mlstage.register_model(model_uri, name)
    assert [m.name for m in get_registry_store().list_registered_models()] == ["fraud-model"]


def test_sources_must_be_logged_models(model_uri: str) -> None:
    run_id = model_uri.split("/")[1]
    for source, problem in [
        ("file:///etc", "must be a model a run logged"),
        ("/etc", "must be a model a run logged"),
        ("models:/other/1", "must be a model a run logged"),
        ("http://169.254.169.254/", "must be a model a run logged"),
        (f"runs:/{run_id}/../../etc", "'..' segment"),
        (f"runs:/{run_id}/nothing-here", "holds no mlstage-model.yaml"),
    ]:
        with pytest.raises(InvalidInput, match=problem):
            mlstage.register_model(source, "m")
    with pytest.raises(NotFound, match="run '0{32}' does not exist"):
        mlstage.register_model("runs:/" + "0" * 32 + "/model", "m")


def test_aliases_move_and_every_move_is_in_the_history(model_uri: str) -> None:
    for _ in range(3):
        mlstage.register_model(model_uri, "churn")
    mlstage.set_alias("churn", "champion", 1)
    mlstage.set_alias("churn", "champion", 3, reason="better auc")
    registry = get_registry_store()
    assert registry.get_registered_model("churn").aliases == {"champion": 3}
    assert registry.get_model_version("churn", 3).aliases == ["champion"]
    moves = [
        (h.action, h.alias, h.from_value, h.to_value, h.reason)
        for h in registry.get_history("churn")
        if h.action == "alias_set"
    ]
    assert moves == [
        ("alias_set", "champion", None, "1", ""),
        ("alias_set", "champion", "1", "3", "better auc"),
    ]
    assert all(h.actor for h in registry.get_history("churn"))
    registry.delete_alias("churn", "champion")
    with pytest.raises(NotFound, match="has no alias 'champion'"):
        mlstage.load_model("models:/churn@champion")
    with pytest.raises(NotFound, match="has no version 9"):
        mlstage.set_alias("churn", "champion", 9)
    with pytest.raises(InvalidInput, match="alias 'Champion!'"):
        mlstage.set_alias("churn", "Champion!", 1)


def test_eight_threads_moving_one_alias_leave_one_target(model_uri: str) -> None:
    for _ in range(8):
        mlstage.register_model(model_uri, "race")
    registry = get_registry_store()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def move(version: int) -> None:
        barrier.wait()
        try:
            registry.set_alias("race", "champion", version, f"worker-{version}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(v,)) for v in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = [h for h in registry.get_history("race") if h.action == "alias_set"]
    assert len(history) == 8
    final = registry.get_registered_model("race").aliases["champion"]
    assert history[-1].to_value == str(final)
    # The history chains: each move starts where the previous one ended.
    assert [h.from_value for h in history[1:]] == [h.to_value for h in history[:-1]]
    assert sum(1 for v in registry.list_model_versions("race") if "champion" in v.aliases) == 1


def test_promotion_needs_validation_or_a_forced_reason(model_uri: str) -> None:
    mlstage.register_model(model_uri, "churn")
    with pytest.raises(Conflict, match="is READY, not VALIDATED"):
        mlstage.promote("churn/1", "champion")
    with pytest.raises(InvalidInput, match="needs a reason"):
        mlstage.promote("churn/1", "champion", force=True)
    forced = mlstage.promote("churn/1", "champion", force=True, reason="hotfix for incident 42")
    assert forced.aliases == ["champion"]
    registry = get_registry_store()
    assert registry.get_history("churn")[-1].reason == "forced: hotfix for incident 42"
    registry.set_version_status(
        "churn", 1, VersionStatus.VALIDATED, "gate", validation={"passed": True}
    )
    promoted = mlstage.promote("churn/1", "challenger")
    assert promoted.aliases == ["challenger", "champion"]
    assert promoted.validation == {"passed": True}


def test_lineage_walks_from_version_to_run_data_and_code(model_uri: str) -> None:
    version = mlstage.register_model(model_uri, "churn")
    run = mlstage.get_run(version.run_id)
    assert run.params == {"n_estimators": "5"}
    assert run.metrics == {"accuracy": 0.96}
    assert [i.dataset.name for i in run.inputs] == ["iris-train"]
    assert len(run.inputs[0].dataset.digest) == 64
    assert run.context.python_version
    manifest = mlstage.load_model("models:/churn/1").manifest
    assert manifest.run_id == run.run_id
    assert manifest.datasets[0].digest == run.inputs[0].dataset.digest


def test_card_fields_and_descriptions(model_uri: str) -> None:
    mlstage.register_model(model_uri, "churn")
    registry = get_registry_store()
    updated = registry.update_model_version(
        "churn", 1, description="first", card={"intended_use": "retention offers"}
    )
    assert updated.card == {"intended_use": "retention offers"}
    updated = registry.update_model_version("churn", 1, card={"limitations": "EU only"})
    assert updated.card == {"intended_use": "retention offers", "limitations": "EU only"}
    with pytest.raises(InvalidInput, match="unknown model card field\\(s\\) owner"):
        registry.update_model_version("churn", 1, card={"owner": "x"})
    model = registry.update_registered_model("churn", description="Churn model", owner="ada")
    assert (model.description, model.owner) == ("Churn model", "ada")
    with pytest.raises(NotFound, match="registered model 'Churn' does not exist; did you mean"):
        registry.get_registered_model("Churn")


def test_unknown_models_and_versions(project: Path) -> None:
    with pytest.raises(NotFound, match="registered model 'ghost' does not exist"):
        mlstage.load_model("models:/ghost@champion")
    with pytest.raises(InvalidInput, match="names no version or alias"):
        mlstage.load_model("ghost")
