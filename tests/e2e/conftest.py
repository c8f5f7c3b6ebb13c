"""Fixtures of the UI tests: a seeded platform server on a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlstage import config
from mlstage.config import Settings
from mlstage.server.testing import start_server
from tests.e2e.ui_data import XSS, Seeded, seed


@pytest.fixture
def ui_settings(tmp_path: Path, sqlite_url: str) -> Settings:
    (tmp_path / ".mlstage").mkdir(exist_ok=True)
    return config.load_settings(
        start=tmp_path, tracking_uri=sqlite_url, artifact_root=str(tmp_path / "artifacts")
    )


@pytest.fixture
def seeded(ui_settings: Settings) -> Seeded:
    return seed(ui_settings)


@pytest.fixture
def hostile(ui_settings: Settings) -> Seeded:
    """The same data with a script payload in every name, value and description."""
    return seed(ui_settings, " ".join(XSS))


@pytest.fixture
def ui_url(ui_settings: Settings) -> Iterator[str]:
    base_url, stop = start_server(ui_settings)
    yield base_url
    stop()
