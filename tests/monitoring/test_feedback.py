"""Late labels: joined to logged predictions by id, unknown ids reported, repeats harmless."""

from __future__ import annotations

import pytest

import mlstage
from mlstage.errors import InvalidInput
from mlstage.monitoring.feedback import FeedbackRequest, make_label
from mlstage.monitoring.sql_feedback import SqlFeedbackStore
from tests.monitoring.conftest import HOUR, T0, Env, record


def store(env: Env) -> SqlFeedbackStore:
    return SqlFeedbackStore(env.db, env.artifacts, clock=lambda: T0)


def test_late_labels_join_their_predictions_and_unknown_ids_come_back(env: Env) -> None:
    early = [record({"x": i}, i % 2, at=T0 - 30 * HOUR + i) for i in range(3)]  # the day before
    late = [record({"x": i}, 1, at=T0 - HOUR, model="other") for i in range(2)]
    shadow = record({"x": 9}, 0, at=T0 - HOUR, route="shadow")
    env.log([*early, *late, shadow])
    feedback = store(env)

    labels = [make_label(r.prediction_id, 1, T0) for r in [*early, *late]]
    labels += [make_label("not-a-logged-id", 0), make_label(shadow.prediction_id, 1)]
    result = feedback.add_labels(labels, source="test")

    assert (result.received, result.accepted, result.updated, result.unchanged) == (7, 5, 0, 0)
    assert result.unknown == ["not-a-logged-id", shadow.prediction_id]  # shadows are not answers
    rows = feedback.labels("churn", T0 - 2 * 86_400_000, T0)
    assert [(r.prediction_id, r.predicted_at, r.label) for r in rows] == [
        (r.prediction_id, r.timestamp_ms, 1) for r in early
    ]
    assert {r.prediction_id for r in feedback.labels("other", 0, T0)} == {
        r.prediction_id for r in late
    }
    assert all(r.received_at == T0 and r.source == "test" for r in rows)


def test_sending_a_label_again_is_harmless_and_a_new_label_replaces_it(env: Env) -> None:
    first, second = record({"x": 1}, "a"), record({"x": 2}, "b")
    env.log([first, second])
    feedback = store(env)
    feedback.add_labels([make_label(first.prediction_id, "a")])

    again = feedback.add_labels(
        [make_label(first.prediction_id, "a"), make_label(second.prediction_id, "b")]
    )
    assert (again.accepted, again.updated, again.unchanged, again.unknown) == (1, 0, 1, [])
    changed = feedback.add_labels([make_label(first.prediction_id, "z", T0 + 5)])
    assert (changed.accepted, changed.updated, changed.unchanged) == (0, 1, 0)
    rows = {r.prediction_id: r for r in feedback.labels("churn", 0, T0)}
    assert rows[first.prediction_id].label == "z"
    assert rows[first.prediction_id].received_at == T0 + 5


def test_predictions_older_than_the_lookback_are_unknown(env: Env) -> None:
    old = record({"x": 1}, 1, at=T0 - 100 * 86_400_000)
    env.log([old])
    result = store(env).add_labels([make_label(old.prediction_id, 1)])
    assert result.unknown == [old.prediction_id]


def test_log_feedback_uses_the_project_settings(sqlite_env: Env) -> None:
    import time

    now = time.time_ns() // 1_000_000
    logged = record({"x": 1}, 1, at=now - 1000)
    sqlite_env.log([logged])
    result = mlstage.log_feedback(logged.prediction_id, True)
    assert (result.accepted, result.unknown) == (1, [])
    assert mlstage.log_feedback("missing-id", 1).unknown == ["missing-id"]


@pytest.mark.parametrize(
    ("prediction_id", "label", "match"),
    [
        ("bad id with spaces", 1, "prediction_id must be"),
        ("x" * 65, 1, "prediction_id must be"),
        ("ok", None, "label must be a value"),
        ("ok", float("nan"), "label must be a value"),
        ("ok", "y" * 5000, "at most 4096"),
    ],
)
def test_bad_labels_are_refused_naming_the_field(
    prediction_id: str, label: object, match: str
) -> None:
    with pytest.raises(InvalidInput, match=match):
        make_label(prediction_id, label)


def test_the_request_body_takes_one_label_or_a_list() -> None:
    one = FeedbackRequest.model_validate({"prediction_id": "a1", "label": 1, "source": "crm"})
    assert [(x.prediction_id, x.label) for x in one.labels] == [("a1", 1)]
    assert one.source == "crm"
    many = FeedbackRequest.model_validate({"labels": [{"prediction_id": "a", "label": [1, 2]}]})
    assert many.labels[0].label == [1, 2]


def test_labels_join_by_business_key_within_their_window(env: Env) -> None:
    old = record({"order": "o-1"}, 0, at=T0 - 10 * 86_400_000)  # outside a 7-day window
    first = record({"order": "o-1"}, 1, at=T0 - 2 * HOUR)
    latest = record({"order": "o-1"}, 1, at=T0 - HOUR)
    other = record({"order": "o-2"}, 0, at=T0 - HOUR)
    after = record({"order": "o-3"}, 0, at=T0 + HOUR)  # made after the label's time
    env.log([old, first, latest, other, after])
    keyed = [make_label(None, 1, T0, key=k) for k in ("o-1", "o-2", "o-3", "o-404")]
    result = store(env).add_labels(keyed, key_column="order", key_window_ms=7 * 86_400_000)
    assert (result.accepted, result.unknown, result.unknown_keys) == (2, [], ["o-3", "o-404"])
    rows = {r.prediction_id: r.label for r in store(env).labels("churn", 0, 2 * T0)}
    assert rows == {latest.prediction_id: 1, other.prediction_id: 1}

    with pytest.raises(InvalidInput, match="key_column 'nope' is neither request_key"):
        store(env).add_labels(keyed[:1], key_column="nope")
    with pytest.raises(InvalidInput, match="either prediction_id or key"):
        make_label("abc", 1, key="o-1")
