"""Shared fixtures: real SQLite and PostgreSQL stores, a moto S3 server, isolated fluent state.

Tests that need a service skip with the reason when it is missing, and fail
instead under MLSTAGE_REQUIRE_ALL=1 (CI sets it).
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlstage import config
from mlstage.artifacts.store import ArtifactStore
from mlstage.store.database import Database, reset_databases
from mlstage.tracking.sql_store import SqlTrackingStore

REQUIRE_ALL = os.environ.get("MLSTAGE_REQUIRE_ALL") == "1"
# In-process test clients call apps as http://testserver: let that host through the
# server's Host allow-list (tests of the allow-list set their own).
os.environ.setdefault("MLSTAGE_ALLOWED_HOSTS", "127.0.0.1,localhost,::1,testserver")
POSTGRES_URL = os.environ.get(
    "MLSTAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def missing(reason: str) -> None:
    """Skip for a missing service, or fail when CI requires every service."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (MLSTAGE_REQUIRE_ALL=1)")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- databases ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test: migrations run once per session."""
    path = tmp_path_factory.mktemp("template") / "mlstage.db"
    Database(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "mlstage.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_available() -> str:
    if not port_open("127.0.0.1", 5432):
        missing("PostgreSQL is not running on 127.0.0.1:5432")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("psycopg is not installed (pip install 'mlstage[postgres]')")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_available: str) -> Iterator[str]:
    """A fresh schema per test, dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_available, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_available else "?"
    yield f"{postgres_available}{separator}options=-csearch_path%3D{schema}"
    reset_databases()
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _sql_store(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> SqlTrackingStore:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    db = Database(url)
    request.addfinalizer(db.dispose)
    return SqlTrackingStore(db, ArtifactStore(str(tmp_path / "artifacts")))


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlTrackingStore:
    """The SQL store on each database."""
    return _sql_store(request, tmp_path, request.param)


@pytest.fixture
def http_store(tmp_path: Path, sqlite_url: str) -> Iterator[Any]:
    """The HTTP store against a real server on a 127.0.0.1 socket."""
    from mlstage.server.testing import start_server
    from mlstage.tracking.http_store import HttpTrackingStore

    settings = config.load_settings(
        start=tmp_path, tracking_uri=sqlite_url, artifact_root=str(tmp_path / "server-artifacts")
    )
    base_url, stop = start_server(settings)
    store = HttpTrackingStore(base_url, settings)
    yield store
    store.close()
    stop()


@pytest.fixture(params=["sqlite", "postgres", "http"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Every TrackingStore implementation: the same API tests run against each."""
    if request.param == "http":
        return request.getfixturevalue("http_store")
    return _sql_store(request, tmp_path, request.param)


# -- fluent API isolation -------------------------------------------------------------------


def reset_fluent_state() -> None:
    from mlstage.tracking import fluent

    fluent._run_stack.clear()
    fluent._experiment_name = None
    fluent._buffers.clear()
    fluent._experiment_ids_cache.clear()
    for beat in fluent._heartbeats.values():
        beat.stop()
    fluent._heartbeats.clear()
    SqlTrackingStore._shared.clear()
    try:
        from mlstage.tracking.http_store import HttpTrackingStore

        HttpTrackingStore._shared.clear()
    except (ImportError, AttributeError):
        pass
    from mlstage.models.sql_store import SqlRegistryStore
    from mlstage.serving.sql_deployments import SqlDeploymentStore

    SqlRegistryStore._shared.clear()
    SqlDeploymentStore._shared.clear()
    from mlstage.artifacts import store as artifact_store

    artifact_store._stores.clear()
    reset_databases()
    config.set_settings(None)


@pytest.fixture(autouse=True)
def _clean_global_state() -> Iterator[None]:
    """Each test starts and ends with no cached settings, engines or active runs."""
    before = {k: x for k, x in os.environ.items() if k.startswith("MLSTAGE_")}
    yield
    for name in [k for k in os.environ if k.startswith("MLSTAGE_")]:
        if name not in before:
            del os.environ[name]  # a leak would point later tests at another store
    os.environ.update(before)
    from mlstage.tracking import fluent

    fluent._end_all(fluent.RunStatus.FINISHED, "")
    reset_fluent_state()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path) -> Path:
    """A fresh project folder as cwd, with the fluent API pointed at its own SQLite store."""
    for name in list(os.environ):
        if name.startswith("MLSTAGE_") and name not in ("MLSTAGE_REQUIRE_ALL",):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".mlstage").mkdir()
    shutil.copy(sqlite_template, tmp_path / ".mlstage" / "mlstage.db")
    reset_fluent_state()
    return tmp_path


@pytest.fixture(params=["sqlite", "postgres", "http"])
def backend(
    request: pytest.FixtureRequest, project: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The fluent API pointed at each metadata backend in turn (a project folder as cwd).

    ``http`` is the platform server over the project's SQLite store, on a real socket.
    """
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        config.set_settings(config.load_settings(start=project, tracking_uri=url))
    if request.param != "http":
        yield str(request.param)
        return
    from mlstage.server.testing import start_server
    from mlstage.tracking import fluent

    base_url, stop = start_server(config.load_settings(start=project))
    config.set_settings(config.load_settings(start=project, tracking_uri=base_url))
    yield "http"
    fluent._end_all(fluent.RunStatus.FINISHED, "")  # while the server still answers
    stop()


# -- S3 --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1; yields its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        missing("moto[server] is not installed")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        missing("s3fs is not installed (pip install 'mlstage[s3]')")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_root(s3_server: str) -> str:
    import boto3

    bucket = f"b-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/artifacts"


# -- browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (tests/browser.py), one per test module.

    Not session-scoped on purpose: between its calls, Playwright's sync API
    leaves its event loop marked as running on the main thread until it
    stops, so every later test calling ``asyncio.run`` would fail. Stopping
    at the end of each module keeps that inside the browser tests' modules.
    """
    from tests import browser as chromium

    reason = chromium.unavailable()
    if reason:
        missing(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = chromium.launch(playwright)
        yield launched
        launched.close()
