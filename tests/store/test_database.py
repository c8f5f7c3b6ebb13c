"""Engine set-up and migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

from mlstage.errors import InvalidInput
from mlstage.store.database import Database
from mlstage.store.migrate import HEAD_REVISION, MIGRATIONS_DIR


def test_head_revision_matches_the_migration_scripts() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_sqlite_is_tuned_for_concurrent_writers(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x' / 'm.db'}")
    with db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 60_000
    db.dispose()


def test_tables_match_the_declared_metadata(database_url_any: str) -> None:
    """The migrations create exactly the tables and columns that tables.py declares."""
    from sqlalchemy import inspect

    from mlstage.store.tables import metadata

    db = Database(database_url_any)
    inspector = inspect(db.engine)
    for table in metadata.sorted_tables:
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        assert columns == {c.name for c in table.columns}, table.name
    db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url_any(request: pytest.FixtureRequest) -> str:
    return str(
        request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    )


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_starting_together_migrate_exactly_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    code = textwrap.dedent(
        """
        import sys
        from mlstage.store.database import Database
        Database(sys.argv[1]).dispose()
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    db = Database(url, migrate=False)
    with db.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
            (HEAD_REVISION,)
        ]
    db.dispose()


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("mysql://root@localhost/db", "scheme 'mysql' is not supported"),
        ("postgresql+psycopg2://x/y", "use postgresql\\+psycopg://"),
        ("not a url", "not a database URL"),
    ],
)
def test_unsupported_database_urls_are_refused(uri: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        Database(uri)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_0016_writes_each_latest_metric_as_json_text(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Rows written before 0016 get the exact JSON token of their value."""
    from sqlalchemy import create_engine

    from mlstage.store.migrate import upgrade

    empty = (  # not the migrated template of sqlite_url
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    engine = create_engine(empty)
    with engine.connect() as conn:
        upgrade(conn, "0015")
        conn.execute(
            text(
                "INSERT INTO experiments (name, lifecycle_stage, created_at, updated_at) "
                "VALUES ('old', 'active', 1, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO runs (run_id, experiment_id, name, status, lifecycle_stage, "
                'start_time, heartbeat_at, "user", host, source, command, python_version, '
                "packages, status_reason) SELECT 'r1', experiment_id, 'r', 'FINISHED', 'active', "
                "1, 1, '', '', '', '', '', '{}', '' FROM experiments"
            )
        )
        values = {"a": 0.1, "b": None, "c": 1e300, "d": 123456789.12345679}
        for key, value in values.items():
            conn.execute(
                text(
                    "INSERT INTO latest_metrics (run_id, key, step, timestamp, value) "
                    "VALUES ('r1', :k, 0, 1, :v)"
                ),
                {"k": key, "v": value},
            )
        conn.commit()
        upgrade(conn)
        found = dict(conn.execute(text("SELECT key, json_member FROM latest_metrics")).all())
    engine.dispose()
    assert found == {
        k: f'"{k}":{v}'
        for k, v in {"a": "0.1", "b": "NaN", "c": "1e+300", "d": "123456789.12345679"}.items()
    }
