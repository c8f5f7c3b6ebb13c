"""Over a real 127.0.0.1 socket: the HTTP store, the fluent API, TCP_NODELAY and ``run``."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mlstage
from mlstage import config
from mlstage.config import Settings
from mlstage.errors import IntegrityError, InvalidInput, PayloadTooLarge, Unavailable
from mlstage.server import serve
from mlstage.server.app import create_app
from mlstage.server.testing import start_server
from mlstage.tracking.entities import Metric, RunStatus
from mlstage.tracking.http_store import HttpTrackingStore
from mlstage.tracking.store import get_tracking_store


def test_http_store_over_a_real_socket(live_server: str, server_settings: Settings) -> None:
    store = HttpTrackingStore(live_server, server_settings)
    try:
        exp = store.get_or_create_experiment("live")
        run = store.create_run(exp.experiment_id, "socket")
        metrics = [
            Metric(key="loss", value=v, step=i, timestamp=i)
            for i, v in enumerate([float("nan"), 0.5, math.inf])
        ]
        store.log_batch(run.run_id, metrics, params={"p": "1"})
        history = store.get_metric_history(run.run_id, "loss")
        assert [m.step for m in history] == [0, 1, 2] and math.isnan(history[0].value)
        blob = bytes(range(256)) * 4096  # 1 MiB
        store.log_artifact(run.run_id, "model/weights.bin", blob)
        assert store.read_artifact(run.run_id, "model/weights.bin") == blob
        store.end_run(run.run_id, RunStatus.FINISHED)
        found = store.search_runs([exp.experiment_id], "metrics.loss > 1").runs
        assert [r.run_id for r in found] == [run.run_id]  # the latest point, inf, is > 1
        with pytest.raises(InvalidInput, match="must stay inside its run"):
            store.log_artifact(run.run_id, "../escape", b"x")
    finally:
        store.close()


def test_oversized_upload_is_413_over_a_socket(server_settings: Settings) -> None:
    app = create_app(server_settings, max_upload_bytes=64 * 1024)
    base_url, stop = start_server(server_settings, app=app)
    store = HttpTrackingStore(base_url, server_settings, retry_delays=())
    try:
        exp = store.create_experiment("big")
        run_id = store.create_run(exp.experiment_id).run_id
        with pytest.raises(PayloadTooLarge, match="over the limit of 65536 bytes"):
            store.log_artifact(run_id, "too-big.bin", b"x" * (8 * 1024 * 1024))
        store.log_artifact(run_id, "fits.bin", b"x" * 1024)  # and the client goes on working
    finally:
        store.close()
        stop()


def test_fluent_api_against_the_server(
    live_server: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTAGE_TRACKING_URI", live_server)
    config.set_settings(None)
    assert isinstance(get_tracking_store(), HttpTrackingStore)

    mlstage.set_experiment("churn")
    with mlstage.start_run(name="rf-baseline") as run:
        mlstage.log_params({"n_estimators": 100})
        for step, auc in enumerate([0.80, 0.91, 0.93]):
            mlstage.log_metric("auc", auc, step=step)
        mlstage.log_metric("loss", float("nan"))
        mlstage.log_text("hello", "notes/readme.txt")
    with mlstage.start_run(name="weak"):
        mlstage.log_metric("auc", 0.5)

    frame = mlstage.search_runs("churn", filter="metrics.auc > 0.9", order_by=["metrics.auc DESC"])
    assert list(frame["run_id"]) == [run.run_id]
    assert frame["params.n_estimators"].tolist() == ["100"]
    stored = mlstage.get_run(run.run_id)
    assert stored.status is RunStatus.FINISHED
    assert stored.metrics["auc"] == 0.93 and math.isnan(stored.metrics["loss"])
    assert [m.value for m in mlstage.get_metric_history(run.run_id, "auc")] == [0.80, 0.91, 0.93]
    assert get_tracking_store().read_artifact(run.run_id, "notes/readme.txt") == b"hello"
    # The server wrote to its own database, not the client's project.
    assert not any((project / ".mlstage" / "artifacts").glob("**/*"))


def test_a_server_that_is_down_is_unavailable_with_a_hint(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = HttpTrackingStore(f"http://127.0.0.1:{port}", Settings(), retry_delays=())
    with pytest.raises(Unavailable, match="check MLSTAGE_TRACKING_URI"):
        store.list_experiments()


@pytest.fixture
def cut_short_server() -> Iterator[str]:
    """A server that promises 100 bytes, sends 10 and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stopping = threading.Event()

    def serve_forever() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX-Content-SHA256: "
                    + b"0" * 64
                    + b"\r\n\r\n0123456789"
                )

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stopping.set()
    listener.close()


def test_a_download_cut_short_is_an_integrity_error(cut_short_server: str) -> None:
    store = HttpTrackingStore(cut_short_server, Settings(), retry_delays=())
    with pytest.raises(IntegrityError, match="cut short"):
        store.read_artifact("0" * 32, "model.pkl")
    store.close()


# -- TCP_NODELAY and run() ----------------------------------------------------------------


def test_connections_are_made_with_tcp_nodelay(
    server_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The protocol sets TCP_NODELAY itself, even if asyncio stopped doing it."""
    from asyncio import base_events

    from uvicorn.server import ServerState

    monkeypatch.setattr(base_events, "_set_nodelay", lambda sock: None)
    config_ = serve.build_config(create_app(server_settings), "127.0.0.1", 0)
    config_.load()

    async def accepted_socket_option() -> int:
        state = ServerState()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: serve.NoDelayHTTPProtocol(config=config_, server_state=state, app_state={}),
            host="127.0.0.1",
            port=0,
        )
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if state.connections:
                break
            await asyncio.sleep(0.01)
        (protocol,) = state.connections
        sock = protocol.transport.get_extra_info("socket")
        value = int(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()
        server.close()
        return value

    assert asyncio.run(accepted_socket_option()) == 1
    assert config_.http_protocol_class is serve.NoDelayHTTPProtocol


def test_run_starts_uvicorn_with_the_no_delay_protocol(
    server_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    for name in serve.settings_environment(server_settings):
        # setenv (not delenv) so monkeypatch restores what serve.run writes below.
        monkeypatch.setenv(name, "before")

    serve.run("127.0.0.1", 8765, settings=server_settings)
    app, options = calls[-1]
    assert app.state.settings is server_settings
    assert options["http"] is serve.NoDelayHTTPProtocol
    assert (options["host"], options["port"]) == ("127.0.0.1", 8765)
    assert options["timeout_keep_alive"] > 5  # longer than the client's pooled idle time

    serve.run("0.0.0.0", 8765, workers=3, settings=server_settings)
    app, options = calls[-1]
    assert app == "mlstage.server.serve:create_served_app"
    assert (options["factory"], options["workers"]) == (True, 3)
    worker_app = serve.create_served_app()  # what each worker process builds
    assert worker_app.state.settings.tracking_uri == server_settings.tracking_uri
    import os

    assert os.environ["MLSTAGE_TRACKING_URI"] == server_settings.tracking_uri
    assert os.environ["MLSTAGE_ARTIFACT_ROOT"] == server_settings.artifact_root


def test_start_server_serves_until_stopped(server_settings: Settings) -> None:
    import httpx

    base_url, stop = start_server(server_settings)
    assert httpx.get(f"{base_url}/ready").json() == {"status": "ready"}
    stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/health")
