"""Fixtures of the monitoring tests: a store per database, a request log to fill, receivers.

``env`` is a project's settings on SQLite or PostgreSQL with helpers to
write prediction-log files the way the request log writes them. The
webhook receiver and the SMTP receiver listen on 127.0.0.1 only.
"""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mlstage import config
from mlstage.artifacts.store import ArtifactStore
from mlstage.config import Settings
from mlstage.serving.request_log import PredictionRecord
from mlstage.serving.request_log_store import SqlPredictionLogStore, prepare_file, split_by_day
from mlstage.store.database import Database

T0 = 1_780_000_000_000
"""A fixed 'now' (2026-05-28): windows end here, so tests need no clock."""
HOUR = 3_600_000


@dataclass
class Env:
    settings: Settings
    db: Database
    artifacts: ArtifactStore

    @property
    def logs(self) -> SqlPredictionLogStore:
        return SqlPredictionLogStore(self.db, self.artifacts)

    def log(self, records: Sequence[PredictionRecord]) -> None:
        """Store records as the request log would: one Parquet file per model and UTC day."""
        by_model: dict[str, list[PredictionRecord]] = {}
        for r in records:
            by_model.setdefault(r.model, []).append(r)
        for model, rows in by_model.items():
            for day, group in split_by_day(rows).items():
                self.logs.write_file(prepare_file(model, day, group))


def record(
    inputs: dict[str, Any],
    output: Any,
    *,
    at: int = T0 - HOUR,
    model: str = "churn",
    version: int = 1,
    probabilities: list[float] | None = None,
    latency_ms: float = 1.0,
    route: str = "primary",
    deployment: str | None = None,
    prediction_id: str | None = None,
    request_key: str | None = None,
    error: str | None = None,
) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=prediction_id or uuid.uuid4().hex,
        timestamp_ms=at,
        model=model,
        version=version,
        deployment=deployment,
        route=route,
        request_key=request_key,
        inputs=inputs,
        output=output,
        probabilities=probabilities,
        latency_ms=latency_ms,
        error=error,
    )


def _env(tmp_path: Path, url: str) -> Iterator[Env]:
    settings = config.load_settings(
        start=tmp_path, tracking_uri=url, artifact_root=str(tmp_path / "artifacts")
    )
    config.set_settings(settings)
    db = Database(url)
    yield Env(settings, db, ArtifactStore(str(tmp_path / "artifacts")))
    db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """Settings, database and artifact store of a project, on each database."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    yield from _env(tmp_path, url)


@pytest.fixture
def sqlite_env(tmp_path: Path, sqlite_url: str) -> Iterator[Env]:
    """The same on SQLite only, for tests whose subject is not the database."""
    yield from _env(tmp_path, sqlite_url)


# -- a webhook receiver -----------------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    fail_first: int = 0
    status_when_failing: int = 503
    received: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that keeps each POST (headers, body); it may fail first."""
    state = Receiver(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.calls += 1
                failing = state.calls <= state.fail_first
                if not failing:
                    state.received.append(
                        {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                    )
            self.send_response(state.status_when_failing if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# -- an SMTP receiver (enough of RFC 5321 for smtplib) --------------------------------------------


@dataclass
class Mailbox:
    host: str
    messages: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    box = Mailbox(host="")

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            def say(line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            say("220 localhost test SMTP")
            sender, rcpts = "", []
            while True:
                raw = self.rfile.readline()
                if not raw:
                    return
                line = raw.decode().rstrip("\r\n")
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    say("250 localhost")
                elif verb == "MAIL":
                    sender = line.split(":", 1)[1].strip()
                    say("250 OK")
                elif verb == "RCPT":
                    rcpts.append(line.split(":", 1)[1].strip())
                    say("250 OK")
                elif verb == "DATA":
                    say("354 end with .")
                    data = []
                    while (part := self.rfile.readline().decode()) not in (".\r\n", ""):
                        data.append(part)
                    box.messages.append({"from": sender, "to": rcpts, "data": "".join(data)})
                    say("250 OK")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("250 OK")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    server.shutdown()
    server.server_close()


def body_json(received: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(received["body"])
    return data
