"""An environment with its own database and artifact root keeps its data there, not beside the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

import mlstage
from mlstage import config
from mlstage.cli.main import app
from tests.conftest import reset_fluent_state


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def log_a_run() -> str:
    reset_fluent_state()
    with mlstage.start_run() as run:
        mlstage.log_metric("auc", 0.9)
        mlstage.log_text("restricted notes", "notes.txt")
    return run.run_id


def run_ids(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT run_id FROM runs")).scalars())
    finally:
        engine.dispose()


def test_a_restricted_environment_writes_to_its_own_database_and_artifact_root(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = config.get_settings()
    own_db, own_root = project / "restricted.db", project / "restricted-artifacts"
    out = cli("environments", "create", "restricted", "--max", "restricted",
              "--database", f"sqlite:///{own_db}", "--artifact-root", str(own_root))  # fmt: skip
    assert "Its data stays apart" in out
    public_run = log_a_run()

    monkeypatch.setenv("MLSTAGE_ENVIRONMENT", "restricted")
    config.set_settings(config.load_settings())
    inside = config.get_settings()
    assert inside.tracking_uri == f"sqlite:///{own_db}"
    assert inside.artifact_root == str(own_root)
    restricted_run = log_a_run()

    assert restricted_run in run_ids(inside.tracking_uri)
    assert restricted_run not in run_ids(shared.tracking_uri)
    assert public_run in run_ids(shared.tracking_uri)
    assert public_run not in run_ids(inside.tracking_uri)
    assert list(own_root.rglob("sha256/*/*/*")), "the artifact went to the environment's root"
    # The environment's own database knows the environment, so its policies hold inside.
    assert "restricted" in cli("environments", "list")


def test_a_schema_name_needs_postgresql_and_nothing_is_written_without_it(project: Path) -> None:
    result = CliRunner().invoke(
        app, ["environments", "create", "secret", "--max", "restricted", "--database", "secret"]
    )
    assert result.exit_code == 2  # bad input
    assert "needs a PostgreSQL tracking URI" in result.output
    assert "secret" not in cli("environments", "list")


@pytest.mark.services
def test_on_postgresql_an_environment_can_be_a_schema_of_the_shared_database(
    project: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSTAGE_TRACKING_URI", postgres_url)
    config.set_settings(config.load_settings())
    cli("environments", "create", "vault", "--max", "restricted", "--database", "vault_env")
    monkeypatch.setenv("MLSTAGE_ENVIRONMENT", "vault")
    config.set_settings(config.load_settings())
    assert "search_path" in config.get_settings().tracking_uri
    run_id = log_a_run()
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            in_schema = set(conn.execute(text("SELECT run_id FROM vault_env.runs")).scalars())
            shared = set(conn.execute(text("SELECT run_id FROM runs")).scalars())  # its schema
            conn.execute(text("DROP SCHEMA vault_env CASCADE"))
            conn.commit()
    finally:
        engine.dispose()
    assert run_id in in_schema and run_id not in shared
