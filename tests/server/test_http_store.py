"""HttpTrackingStore: the same errors as the SQL store, retries, and checked downloads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mlstage.config import Settings
from mlstage.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    MlstageError,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)
from mlstage.tracking.entities import Metric, RunStatus
from mlstage.tracking.http_store import HttpTrackingStore
from mlstage.tracking.store import TrackingStore

BASE = "http://tracking.test"
UNKNOWN_RUN = "0" * 32


# -- the same errors in both modes ----------------------------------------------------------


def bad_calls(run_id: str, exp_id: str) -> dict[str, Callable[[TrackingStore], Any]]:
    nan_batch = [Metric(key="m", value=float("nan"), step=0, timestamp=1)]
    return {
        "unknown run": lambda s: s.get_run(UNKNOWN_RUN),
        "malformed run id": lambda s: s.get_run("../../etc/passwd"),
        "unknown experiment": lambda s: s.get_experiment("999"),
        "malformed experiment id": lambda s: s.get_experiment("1 OR 1=1"),
        "duplicate experiment": lambda s: s.create_experiment("exp"),
        "empty experiment name": lambda s: s.create_experiment(""),
        "run in unknown experiment": lambda s: s.create_run("0999"),
        "dotted metric key": lambda s: s.log_batch(
            run_id, [*nan_batch, Metric(key="a/..", value=1.0)]
        ),
        "absolute param key": lambda s: s.log_batch(run_id, params={"/p": "1"}),
        "long param": lambda s: s.log_batch(run_id, params={"p": "x" * 6001}),
        "changed param": lambda s: s.log_batch(run_id, params={"fixed": "2"}),
        "1001 metrics": lambda s: s.log_batch(run_id, nan_batch * 1001),
        "101 tags": lambda s: s.log_batch(run_id, tags={f"t{i}": "v" for i in range(101)}),
        "sql in filter": lambda s: s.search_runs([exp_id], "metrics.acc > 0.9 OR 1=1"),
        "statement in filter": lambda s: s.search_runs(
            [exp_id], "tags.t = 'a'; DROP TABLE runs;--"
        ),
        "forged page token": lambda s: s.search_runs([exp_id], None, None, 10, "forged"),
        "huge page": lambda s: s.search_runs([exp_id], None, None, 10**9),
        "artifact ../x": lambda s: s.log_artifact(run_id, "../x", b"x"),
        "artifact /etc/passwd": lambda s: s.read_artifact(run_id, "/etc/passwd"),
        "missing artifact": lambda s: s.read_artifact(run_id, "missing.txt"),
        "history of unknown run": lambda s: s.get_metric_history(UNKNOWN_RUN, "m"),
    }


def outcome(call: Callable[[TrackingStore], Any], store: TrackingStore) -> tuple[type, str]:
    with pytest.raises(MlstageError) as caught:
        call(store)
    return type(caught.value), str(caught.value)


def test_errors_are_the_same_over_http_as_in_process(
    app: FastAPI, remote: HttpTrackingStore
) -> None:
    local = app.state.stores.tracking()
    exp = local.create_experiment("exp")
    run_id = local.create_run(exp.experiment_id).run_id
    local.log_batch(run_id, params={"fixed": "1"})
    for name, call in bad_calls(run_id, exp.experiment_id).items():
        in_process = outcome(call, local)
        over_http = outcome(call, remote)
        assert over_http == in_process, name
    assert local.get_metric_history(run_id, "m") == []


def test_http_store_implements_the_protocol(remote: HttpTrackingStore) -> None:
    assert isinstance(remote, TrackingStore)
    protocol_methods = {
        name
        for name in vars(TrackingStore)
        if not name.startswith("_") and callable(getattr(TrackingStore, name))
    }
    assert protocol_methods <= set(dir(HttpTrackingStore))
    assert not hasattr(remote, "write_points")  # the metric buffer then batches through log_batch


def test_round_trip_through_the_http_store(remote: HttpTrackingStore) -> None:
    exp = remote.get_or_create_experiment("e")
    run = remote.create_run(exp.experiment_id, "r", tags={"k": "v"})
    remote.log_batch(
        run.run_id,
        [
            Metric(key="loss", value=float("nan"), step=0, timestamp=1),
            Metric(key="loss", value=0.5, step=1, timestamp=2),
        ],
        params={"n": 100},  # type: ignore[dict-item]  # non-text values are stored as text
    )
    history = remote.get_metric_history(run.run_id, "loss")
    assert history == [
        Metric(key="loss", value=float("nan"), step=0, timestamp=1),
        Metric(key="loss", value=0.5, step=1, timestamp=2),
    ]
    remote.heartbeat([run.run_id])
    remote.end_run(run.run_id, RunStatus.FINISHED)
    fetched = remote.get_run(run.run_id)
    assert (fetched.status, fetched.params, fetched.tags) == (
        RunStatus.FINISHED,
        {"n": "100"},
        {"k": "v"},
    )
    info = remote.log_artifact(run.run_id, "a/b.txt", b"hello")
    assert info.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert remote.read_artifact(run.run_id, "a/b.txt") == b"hello"
    assert [a.path for a in remote.list_artifacts(run.run_id, "a")] == ["a/b.txt"]
    page = remote.search_runs([exp.experiment_id], "params.n = '100'")
    assert [r.run_id for r in page.runs] == [run.run_id]
    remote.delete_run(run.run_id)
    remote.delete_experiment(exp.experiment_id)
    assert remote.list_experiments() == []


# -- retries ---------------------------------------------------------------------------------


class Script:
    """A mock server: answers each request with the next scripted step, and records requests."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step(request) if callable(step) else step


def mock_store(
    script: Script, settings: Settings | None = None
) -> tuple[HttpTrackingStore, list[float]]:
    sleeps: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(script))
    store = HttpTrackingStore(BASE, settings or Settings(), client=client, sleep=sleeps.append)
    return store, sleeps


def experiment_json(name: str = "e") -> dict[str, Any]:
    return {"experiment_id": "1", "name": name, "created_at": 1, "updated_at": 1}


def error_response(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": message}}, headers=headers
    )


def test_idempotent_requests_retry_connection_errors_and_503(monkeypatch: Any) -> None:
    script = Script(
        httpx.ConnectError("refused"),
        httpx.ReadError("reset"),
        error_response(503, "UNAVAILABLE", "database busy", **{"Retry-After": "2"}),
        httpx.Response(200, json=experiment_json()),
    )
    store, sleeps = mock_store(script)
    assert store.get_experiment("1").name == "e"
    assert len(script.requests) == 4
    assert len(sleeps) == 3 and sleeps[2] == 2.0  # Retry-After is honoured


def test_idempotent_requests_give_up_after_a_few_attempts() -> None:
    script = Script(*[httpx.ConnectError("refused")] * 4)
    store, sleeps = mock_store(script)
    with pytest.raises(Unavailable, match="did not answer GET /api/v1/experiments/1"):
        store.get_experiment("1")
    assert len(script.requests) == 4
    assert sleeps == sorted(sleeps) or len(sleeps) == 3


def test_503_after_the_last_attempt_is_the_servers_error() -> None:
    script = Script(*[error_response(503, "UNAVAILABLE", "database busy")] * 4)
    store, _ = mock_store(script)
    with pytest.raises(Unavailable, match="database busy"):
        store.list_experiments()


def test_log_batch_is_resent_with_the_same_batch_id() -> None:
    """It may have arrived: the server recognises the id and stores it once."""
    script = Script(httpx.ReadError("connection reset"), httpx.Response(204))
    store, sleeps = mock_store(script)
    store.log_batch(UNKNOWN_RUN, [Metric(key="m", value=1.0)])
    first, second = (json.loads(r.content)["batch_id"] for r in script.requests)
    assert first == second
    assert len(sleeps) == 1


def test_log_batch_is_retried_when_it_never_left() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(204))
    store, sleeps = mock_store(script)
    store.log_batch(UNKNOWN_RUN, [Metric(key="m", value=1.0)])
    assert len(script.requests) == 2 and len(sleeps) == 1


def test_creates_are_not_retried_on_503() -> None:
    script = Script(error_response(503, "UNAVAILABLE", "database busy"))
    store, _ = mock_store(script)
    with pytest.raises(Unavailable, match="database busy"):
        store.create_experiment("e")
    assert len(script.requests) == 1


def test_idempotent_posts_are_retried_on_503() -> None:
    script = Script(
        error_response(503, "UNAVAILABLE", "busy"), httpx.Response(200, json=experiment_json("a"))
    )
    store, _ = mock_store(script)
    assert store.get_or_create_experiment("a").name == "a"
    assert len(script.requests) == 2


# -- wire format, auth and foreign errors --------------------------------------------------------------


def test_nan_metrics_travel_as_json_tokens() -> None:
    script = Script(httpx.Response(204))
    store, _ = mock_store(script)
    store.log_batch(
        UNKNOWN_RUN, [Metric(key="m", value=float("nan")), Metric(key="m", value=float("-inf"))]
    )
    body = script.requests[0].content
    assert b"NaN" in body and b"-Infinity" in body
    assert script.requests[0].headers["content-type"] == "application/json"
    assert json.loads(body)["metrics"][1]["value"] == float("-inf")


def test_the_token_is_sent_as_a_bearer_header() -> None:
    script = Script(
        httpx.Response(200, json={"experiments": []}), httpx.Response(200, json={"experiments": []})
    )
    store, _ = mock_store(script, Settings(tracking_token="s3cret"))
    store.list_experiments()
    anonymous, _ = mock_store(script)
    anonymous.list_experiments()
    assert script.requests[0].headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in script.requests[1].headers
    assert script.requests[0].headers["user-agent"].startswith("mlstage/")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, "Unauthorized"),
        (404, "NotFound"),
        (413, "PayloadTooLarge"),
        (400, "InvalidInput"),
        (500, "MlstageError"),
    ],
)
def test_errors_from_something_else_than_mlstage_are_named_without_echoing_it(
    status: int, kind: str
) -> None:
    page = httpx.Response(
        status,
        text="<html><body>nginx error page</body></html>",
        headers={"content-type": "text/html"},
    )
    store, _ = mock_store(Script(page))
    with pytest.raises(MlstageError) as caught:
        store.create_experiment("e")
    assert type(caught.value).__name__ == kind
    assert "not an mlstage error" in str(caught.value) and "<html>" not in str(caught.value)


def test_error_codes_become_the_same_classes() -> None:
    for code, kind in (
        ("CONFLICT", Conflict),
        ("NOT_FOUND", NotFound),
        ("PAYLOAD_TOO_LARGE", PayloadTooLarge),
        ("INVALID_INPUT", InvalidInput),
    ):
        store, _ = mock_store(Script(error_response(418, code, "why")))
        with pytest.raises(kind, match="^why$"):
            store.create_experiment("e")


# -- downloads are checked ------------------------------------------------------------------------


def download(content: bytes, **headers: str) -> httpx.Response:
    return httpx.Response(200, content=content, headers=headers)


def test_download_with_a_wrong_hash_is_an_integrity_error() -> None:
    store, _ = mock_store(
        Script(download(b"tampered", **{"X-Content-SHA256": hashlib.sha256(b"orig").hexdigest()}))
    )
    with pytest.raises(IntegrityError, match="is corrupt: it hashes to"):
        store.read_artifact(UNKNOWN_RUN, "model.pkl")


def test_truncated_download_is_an_integrity_error() -> None:
    sha = hashlib.sha256(b"complete").hexdigest()
    store, _ = mock_store(
        Script(download(b"compl", **{"X-Content-SHA256": sha, "Content-Length": "8"}))
    )
    with pytest.raises(IntegrityError, match="cut short: got 5 of 8 bytes"):
        store.read_artifact(UNKNOWN_RUN, "model.pkl")


def test_download_without_a_hash_is_refused() -> None:
    store, _ = mock_store(Script(download(b"data")))
    with pytest.raises(IntegrityError, match="without its x-content-sha256 header"):
        store.read_artifact(UNKNOWN_RUN, "model.pkl")


def test_shared_stores_are_one_per_server_and_token() -> None:
    a = HttpTrackingStore.shared("http://h:1/", Settings())
    assert HttpTrackingStore.shared("http://h:1", Settings()) is a
    assert HttpTrackingStore.shared("http://h:1", Settings(tracking_token="t")) is not a
    assert HttpTrackingStore.shared("http://h:2", Settings()) is not a


def test_a_batch_whose_answer_was_lost_is_retried_and_stored_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    """F01: the server stored the batch, the connection dropped before the reply."""
    import httpx

    from mlstage import config
    from mlstage.server.testing import start_server
    from mlstage.tracking.http_store import HttpTrackingStore

    class LoseFirstBatchReply(httpx.HTTPTransport):
        lost = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.url.path.endswith("/batch") and not self.lost:
                self.lost += 1
                response.read()
                raise httpx.ReadError("connection reset by peer", request=request)
            return response

    settings = config.load_settings(
        start=tmp_path, tracking_uri=sqlite_url, artifact_root=str(tmp_path / "a")
    )
    base_url, stop = start_server(settings)
    transport = LoseFirstBatchReply()
    store = HttpTrackingStore(
        base_url, settings, client=httpx.Client(transport=transport), sleep=lambda _: None
    )
    try:
        exp = store.create_experiment("f01")
        run_id = store.create_run(exp.experiment_id).run_id
        store.log_batch(run_id, [Metric(key="m", value=float(i), step=i) for i in range(5)])
        assert transport.lost == 1
        assert [m.step for m in store.get_metric_history(run_id, "m")] == [0, 1, 2, 3, 4]
    finally:
        store.close()
        stop()
