"""``POST /feedback`` on the prediction service and ``POST /api/v1/feedback`` on the server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd

from mlstage.artifacts.store import ArtifactStore
from mlstage.config import Settings
from mlstage.monitoring.sql_feedback import SqlFeedbackStore
from mlstage.store.database import Database
from tests.monitoring.conftest import Env, record
from tests.server.conftest import api, app, client_for, server_settings
from tests.serving.test_service import plans, serve

__all__ = ["api", "app", "client_for", "plans", "serve", "server_settings"]  # fixtures


def test_the_prediction_service_takes_labels_of_its_predictions(
    serve: object, plans: pd.DataFrame, project: Path
) -> None:
    client: httpx.Client = serve("plans/1", log_requests=True)  # type: ignore[operator]
    answer = client.post("/predict", json={"records": plans.head(3).to_dict("records")})
    assert answer.status_code == 200, answer.text
    ids = answer.json()["prediction_ids"]

    sent = client.post(
        "/feedback",
        json={
            "labels": [{"prediction_id": i, "label": True} for i in ids[:2]]
            + [{"prediction_id": "never-made", "label": False}]
        },
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {
        "received": 3,
        "accepted": 2,
        "updated": 0,
        "unchanged": 0,
        "unknown": ["never-made"],
        "unknown_keys": [],
    }
    one = client.post("/feedback", json={"prediction_id": ids[2], "label": 0})
    assert one.json()["accepted"] == 1

    bad = client.post("/feedback", json={"labels": [{"prediction_id": "a b", "label": 1}]})
    assert bad.status_code == 422
    assert "body.labels.0.prediction_id" in bad.json()["error"]["message"]
    missing = client.post("/feedback", json={"labels": [{"prediction_id": "abc"}]})
    assert missing.status_code == 422
    assert "body.labels.0.label" in missing.json()["error"]["message"]
    huge = client.post(
        "/feedback",
        json={"labels": [{"prediction_id": "a", "label": 1}] * 10_001},
    )
    assert huge.status_code == 422
    assert "body.labels" in huge.json()["error"]["message"]


def test_the_platform_server_takes_labels_of_logged_predictions(
    api: httpx.Client, server_settings: Settings
) -> None:
    db = Database(server_settings.tracking_uri)
    env = Env(server_settings, db, ArtifactStore(server_settings.artifact_root))
    import time

    logged = record({"x": 1}, 1, at=time.time_ns() // 1_000_000 - 1000)
    env.log([logged])

    sent = api.post(
        "/api/v1/feedback",
        json={
            "labels": [
                {"prediction_id": logged.prediction_id, "label": 1},
                {"prediction_id": "unknown-1", "label": 0},
            ]
        },
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert (body["accepted"], body["unknown"]) == (1, ["unknown-1"])
    rows = SqlFeedbackStore(db, env.artifacts).labels("churn", 0, 2**62)
    assert [(r.prediction_id, r.label) for r in rows] == [(logged.prediction_id, 1)]
    assert rows[0].source == "server:anonymous"

    bad = api.post(
        "/api/v1/feedback", json={"labels": [{"prediction_id": "x", "label": 1, "extra": 2}]}
    )
    assert bad.status_code == 400  # the server answers every malformed body 400 INVALID_INPUT
    assert "body.labels.0.extra" in bad.json()["error"]["message"]
    db.dispose()


def test_the_http_feedback_store_sends_ids_and_keys_to_the_server(
    api: httpx.Client, server_settings: Settings
) -> None:
    import time

    from mlstage.monitoring.feedback import make_label
    from mlstage.monitoring.http_feedback import HttpFeedbackStore

    db = Database(server_settings.tracking_uri)
    env = Env(server_settings, db, ArtifactStore(server_settings.artifact_root))
    now = time.time_ns() // 1_000_000
    by_id = record({"x": 1}, 1, at=now - 1000)
    by_key = record({"order": "o-7"}, 0, at=now - 2000)
    env.log([by_id, by_key])
    remote = HttpFeedbackStore("http://testserver", server_settings, client=api, retry_delays=())
    result = remote.add_labels(
        [
            make_label(by_id.prediction_id, "yes"),
            make_label(None, "no", key="o-7"),
            make_label(None, "no", key="o-8"),
            make_label("ghost", "no"),
        ],
        source="crm",
        key_column="order",
        key_window_ms=3_600_000,
    )
    assert (result.accepted, result.unknown, result.unknown_keys) == (2, ["ghost"], ["o-8"])
    rows = {
        r.prediction_id: (r.label, r.source)
        for r in SqlFeedbackStore(db, env.artifacts).labels("churn", 0, 2**62)
    }
    assert rows == {by_id.prediction_id: ("yes", "crm"), by_key.prediction_id: ("no", "crm")}
    db.dispose()
