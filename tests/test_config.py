"""Settings: flags over env vars over mlstage.toml over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlstage.config import load_settings
from mlstage.errors import InvalidInput


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("MLSTAGE_") and name != "MLSTAGE_REQUIRE_ALL":
            monkeypatch.delenv(name)


def test_defaults_live_under_the_project(tmp_path: Path) -> None:
    settings = load_settings(start=tmp_path)
    assert settings.tracking_uri == f"sqlite:///{tmp_path / '.mlstage' / 'mlstage.db'}"
    assert settings.artifact_root == str(tmp_path / ".mlstage" / "artifacts")
    assert settings.heartbeat_timeout == 90.0


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mlstage.toml").write_text(
        'heartbeat_timeout = 30\nmetric_batch_size = 500\nartifact_root = "blobs"\n'
        '[project]\nowner = "ada"\n'
    )
    sub = tmp_path / "notebooks"
    sub.mkdir()
    monkeypatch.setenv("MLSTAGE_METRIC_BATCH_SIZE", "200")
    monkeypatch.setenv("MLSTAGE_HEARTBEAT_INTERVAL", "2.5")
    settings = load_settings(start=sub, heartbeat_interval=1.0)
    assert settings.project_root == str(tmp_path)  # found upwards from a subfolder
    assert settings.heartbeat_interval == 1.0  # flag beats env
    assert settings.metric_batch_size == 200  # env beats file
    assert settings.heartbeat_timeout == 30.0  # file beats default
    assert settings.artifact_root == str(tmp_path / "blobs")  # relative to the project
    assert settings.project == {"owner": "ada"}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("tracking_url = 'x'", "unknown setting\\(s\\) tracking_url"),
        ("heartbeat_timeout = 'soon'", "heartbeat_timeout.*must be a positive number, got 'soon'"),
        ("heartbeat_timeout = -1", "must be a positive number"),
        ("sqlite_synchronous = 'OFF'", "must be NORMAL, FULL or EXTRA"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "mlstage.toml").write_text(content)
    with pytest.raises(InvalidInput, match=problem):
        load_settings(start=tmp_path)


def test_bad_env_var_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSTAGE_METRIC_BATCH_SIZE", "lots")
    with pytest.raises(InvalidInput, match="env MLSTAGE_METRIC_BATCH_SIZE"):
        load_settings(start=tmp_path)
