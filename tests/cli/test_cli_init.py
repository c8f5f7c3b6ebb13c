"""``mlstage init``: a commented mlstage.toml, .mlstage/, .gitignore and a migrated database."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from mlstage import config

Cli = Callable[..., Result]


@pytest.fixture
def fresh(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder inside a git repository, as the working directory."""
    (project / ".git").mkdir()
    folder = project / "churn"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_init_writes_a_project(cli: Cli, fresh: Path) -> None:
    result = cli(
        "init", "--owner", "ana", "--objective", "Predict churn", "--success-metric", "auc"
    )
    assert result.exit_code == 0, result.output
    toml = fresh / "mlstage.toml"
    assert f"Wrote {toml}" in result.stdout
    data = tomllib.loads(toml.read_text())
    assert data == {
        "project": {"owner": "ana", "objective": "Predict churn", "success_metric": "auc"}
    }
    settings = config.load_settings(fresh)
    assert settings.project_root == str(fresh)
    assert settings.project["owner"] == "ana"
    assert settings.tracking_uri == f"sqlite:///{fresh / '.mlstage' / 'mlstage.db'}"
    assert (fresh / ".mlstage" / "mlstage.db").is_file()
    assert (fresh.parent / ".gitignore").read_text() == ".mlstage/\n"


def test_the_file_documents_every_setting_at_its_default(cli: Cli, fresh: Path) -> None:
    cli("init")
    text = (fresh / "mlstage.toml").read_text()
    for field in dataclasses.fields(config.Settings):
        if field.name in ("project_root", "project"):
            continue
        assert f"\n# {field.name} = " in text, field.name
        assert f"MLSTAGE_{field.name.upper()}" in text
    # Uncommented, every line still gives the defaults.
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and " = " in line else line for line in text.splitlines()
    )
    (fresh / "mlstage.toml").write_text(uncommented)
    loaded = config.load_settings(fresh)
    defaults = config.Settings()
    for field in dataclasses.fields(config.Settings):
        if field.name not in ("project_root", "project", "tracking_uri", "artifact_root"):
            assert getattr(loaded, field.name) == getattr(defaults, field.name), field.name
    assert loaded.tracking_uri == f"sqlite:///{fresh / '.mlstage' / 'mlstage.db'}"
    assert loaded.artifact_root == str(fresh / ".mlstage" / "artifacts")


def test_init_refuses_to_overwrite_without_force(cli: Cli, fresh: Path) -> None:
    cli("init", "--owner", "ana")
    again = cli("init", "--owner", "bo")
    assert again.exit_code == 1
    assert again.stderr == (
        f"error: {fresh / 'mlstage.toml'} already exists; pass --force to overwrite it\n"
    )
    assert 'owner = "ana"' in (fresh / "mlstage.toml").read_text()
    assert cli("init", "--owner", "bo", "--force").exit_code == 0
    assert 'owner = "bo"' in (fresh / "mlstage.toml").read_text()
    assert (fresh.parent / ".gitignore").read_text() == ".mlstage/\n"  # not added twice


def test_init_keeps_an_existing_gitignore(cli: Cli, fresh: Path) -> None:
    (fresh.parent / ".gitignore").write_text("*.pyc")
    cli("init")
    assert (fresh.parent / ".gitignore").read_text() == "*.pyc\n.mlstage/\n"


def test_init_outside_git_leaves_gitignore_alone(
    cli: Cli, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path_factory.mktemp("nogit")
    monkeypatch.chdir(folder)
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert not (folder / ".gitignore").exists()
    assert (folder / ".mlstage" / "mlstage.db").is_file()


def test_quotes_in_answers_stay_valid_toml(cli: Cli, fresh: Path) -> None:
    objective = 'Flag "risky" loans \\ fast'
    assert cli("init", "--objective", objective).exit_code == 0
    assert tomllib.loads((fresh / "mlstage.toml").read_text())["project"]["objective"] == objective
