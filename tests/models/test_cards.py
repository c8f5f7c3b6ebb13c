"""Model cards: lineage, signature and verdict from the records; every user value escaped."""

from __future__ import annotations

import re
from typing import Any

import pytest

import mlstage
from mlstage.models.api import get_registry_store
from mlstage.models.cards import CARD_HTML, CARD_MARKDOWN, build_card, save_card
from mlstage.models.validation import validate_candidate
from mlstage.tracking import context
from mlstage.tracking.store import get_tracking_store
from tests.models.test_evaluation import churn_frame, good_model, log_models

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>[click](javascript:alert(1))'


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> str:
    """``churn`` version 1, from a run on a known, dirty git commit."""
    monkeypatch.setattr(context, "_git_state", lambda folder: (COMMIT, True))
    uri = log_models(good=good_model())["good"]
    mlstage.register_model(uri, "churn", description="Flags customers likely to leave")
    return uri


def test_the_card_shows_lineage_signature_and_verdict(backend: str, registered: str) -> None:
    validate_candidate(
        "churn/1", churn_frame(), "churned", "classification", thresholds={"roc_auc": {"min": 0.8}}
    )
    card = build_card("churn", 1)
    run = mlstage.get_run(registered.split("/")[1])
    [dataset] = run.inputs
    for text in (card.markdown, card.html):
        assert "Flags customers likely to leave" in text
        assert "VALIDATED" in text
        assert COMMIT in text
        assert "yes: uncommitted changes" in text
        assert dataset.dataset.digest in text
        assert "churn-train" in text
        assert registered in text  # the source
        assert "sklearn.linear_model._logistic.LogisticRegression" in text
        assert "PASSED" in text
        assert get_registry_store().get_model_version("churn", 1).files["model.skops"] in text
    assert re.search(r"- roc_auc 0\.9\d\d >= min 0\.800: pass", card.markdown)
    assert re.search(r"<li>roc_auc 0\.9\d\d &gt;= min 0\.800: pass</li>", card.html)
    assert "| C | 1.0 |" in card.markdown
    assert (
        "| churn-train | training | `" + dataset.dataset.digest + "` | 300 | 6 |" in card.markdown
    )
    assert "| f0 | float | no |" in card.markdown
    assert "<td>f0</td><td>float</td><td>no</td>" in card.html
    assert "scikit-learn==" in card.markdown


def test_user_values_are_escaped(project: Any, registered: str) -> None:
    registry = get_registry_store()
    registry.update_model_version(
        "churn", 1, description=PAYLOAD, card={"intended_use": PAYLOAD, "notes": "a | b\nc"}
    )
    with mlstage.start_run(name=PAYLOAD):
        mlstage.log_params({"payload": PAYLOAD})
        mlstage.log_input(churn_frame(), name=PAYLOAD)
        uri = mlstage.log_model(good_model(), "model", input_example=churn_frame().head()).model_uri
    mlstage.register_model(uri, "churn", description=PAYLOAD)
    for version in (1, 2):
        card = build_card("churn", version)
        page = card.html.lower()
        assert "<script" not in page
        assert "<img" not in page
        assert not re.search(r"<[a-z]+[^>]*\s(src|href|on\w+)=", page)
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in card.html
        assert "Content-Security-Policy" in card.html
        assert "http://" not in page
        assert "https://" not in page
        assert "<script" not in card.markdown
        assert "&lt;script>" in card.markdown
        assert "[click](javascript" not in card.markdown
        assert "\\[click\\](javascript:alert(1))" in card.markdown
    notes = build_card("churn", 1).markdown.split("## Notes")[1]
    assert "a \\| b\nc" in notes  # a pipe cannot open a table cell


def test_missing_fields_say_how_to_fill_them(project: Any, registered: str) -> None:
    card = build_card("churn", 1)
    for field in (
        "intended_use",
        "limitations",
        "ethical_considerations",
        "training_data",
        "notes",
    ):
        assert (
            f"Not provided yet: edit with `mlstage models card churn/1 --set {field}=...`"
            in card.markdown
        )
    assert "Not through the validation gate yet" in card.markdown
    get_registry_store().update_model_version(
        "churn", 1, card={"intended_use": "Rank accounts for the retention team"}
    )
    card = build_card("churn", 1)
    assert "Rank accounts for the retention team" in card.markdown
    assert "--set intended_use=" not in card.markdown
    assert "--set limitations=" in card.html


def test_save_card_stores_both_as_artifacts_of_the_source_run(
    project: Any, registered: str
) -> None:
    paths = save_card("churn", 1)
    assert paths == (CARD_MARKDOWN, CARD_HTML)
    run_id = registered.split("/")[1]
    store = get_tracking_store()
    markdown = store.read_artifact(run_id, CARD_MARKDOWN).decode()
    page = store.read_artifact(run_id, CARD_HTML).decode()
    assert markdown.startswith("# Model card: churn version 1\n")
    assert page.startswith("<!DOCTYPE html>")
    assert COMMIT in page
