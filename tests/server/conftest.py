"""Fixtures of the server tests: an app per test on its own SQLite file and artifact root.

``api`` talks to the app in process; ``remote`` is the HTTP tracking store
bound to that same in-process app; ``live_server`` serves it over a real
127.0.0.1 socket (see ``mlstage.server.testing.start_server``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mlstage import config
from mlstage.config import Settings
from mlstage.server import create_app
from mlstage.server.testing import start_server
from mlstage.tracking.http_store import HttpTrackingStore

with warnings.catch_warnings():
    # Starlette suggests httpx2 for its TestClient; httpx is what mlstage ships with.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def server_settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """The server's own settings: its database and artifact root, both under tmp_path."""
    return config.load_settings(
        start=tmp_path, tracking_uri=sqlite_url, artifact_root=str(tmp_path / "server-artifacts")
    )


@pytest.fixture
def app(server_settings: Settings) -> FastAPI:
    return create_app(server_settings)


@pytest.fixture
def client_for() -> Iterator[Callable[[FastAPI], httpx.Client]]:
    """Make in-process clients of apps (server exceptions become 500s, as over a socket)."""
    clients: list[TestClient] = []

    def make(app: FastAPI) -> httpx.Client:
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(app: FastAPI, client_for: Callable[[FastAPI], httpx.Client]) -> httpx.Client:
    """An HTTP client of the app, in process."""
    return client_for(app)


@pytest.fixture
def remote(api: httpx.Client, server_settings: Settings) -> HttpTrackingStore:
    """The HTTP tracking store, talking to the in-process app."""
    return HttpTrackingStore("http://testserver", server_settings, client=api, retry_delays=())


@pytest.fixture
def live_server(server_settings: Settings) -> Iterator[str]:
    """The app on a real socket; yields its base URL."""
    base_url, stop = start_server(server_settings)
    yield base_url
    stop()


@pytest.fixture
def make_run(api: httpx.Client) -> Callable[..., str]:
    """Create a run (in a fresh or named experiment) through the API; return its id."""

    def make(experiment: str = "exp", **body: Any) -> str:
        exp = api.post("/api/v1/experiments/get-or-create", json={"name": experiment}).json()
        response = api.post("/api/v1/runs", json={"experiment_id": exp["experiment_id"], **body})
        assert response.status_code == 201, response.text
        return str(response.json()["run_id"])

    return make
