"""load_model on a local SQLite store: the registry read without SQLAlchemy, same answers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mlstage
from mlstage.config import get_settings
from mlstage.errors import NotFound
from mlstage.models.api import get_registry_store
from mlstage.models.sqlite_lookup import find_version, local_sqlite_file
from mlstage.models.uri import RegistryRef, parse_model_uri


def _registered(forest: Any, X: pd.DataFrame, versions: int = 2) -> None:
    with mlstage.start_run():
        uri = mlstage.log_model(forest, "model", input_example=X.head()).model_uri
    for _ in range(versions):
        mlstage.register_model(uri, "iris")
    mlstage.set_alias("iris", "champion", 1)
    mlstage.set_alias("iris", "challenger", 1)


def test_fresh_process_loads_by_alias_without_sqlalchemy(
    project: Path, forest: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    _registered(forest, X)
    X.head(3).to_csv(project / "rows.csv", index=False)
    script = textwrap.dedent(
        """
        import sys
        import pandas as pd
        import mlstage
        model = mlstage.load_model("models:/iris@champion")
        print(list(model.predict(pd.read_csv("rows.csv"))), model.version.aliases)
        print("sqlalchemy" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=True
    )
    predictions, imported = done.stdout.strip().splitlines()
    assert predictions == f"{list(forest.predict(X.head(3)))} ['challenger', 'champion']"
    assert imported == "False"


def test_same_version_as_the_registry_store(
    project: Path, forest: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    _registered(forest, X)
    settings = get_settings()
    for address in ("models:/iris@champion", "models:/iris/2", "models:/iris/1"):
        ref = parse_model_uri(address)
        assert isinstance(ref, RegistryRef)
        assert find_version(settings, ref) == get_registry_store().resolve(ref)


def test_misses_take_the_full_path_and_its_errors(
    project: Path, forest: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    _registered(forest, X, versions=1)
    settings = get_settings()
    for address in ("models:/iris@nobody", "models:/IRIS@champion", "models:/nothing/1"):
        ref = parse_model_uri(address)
        assert isinstance(ref, RegistryRef)
        assert find_version(settings, ref) is None
        with pytest.raises(NotFound):
            mlstage.load_model(address)
    with pytest.raises(NotFound, match="did you mean 'iris'"):
        mlstage.load_model("models:/IRIS@champion")


def test_a_database_at_another_revision_is_left_to_the_full_path(
    project: Path, forest: Any, iris: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = iris
    _registered(forest, X, versions=1)
    settings = get_settings()
    path = local_sqlite_file(settings.tracking_uri)
    assert path is not None
    ref = parse_model_uri("models:/iris@champion")
    assert isinstance(ref, RegistryRef)
    with sqlite3.connect(path) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.execute("UPDATE alembic_version SET version_num = 'other'")
    try:
        assert find_version(settings, ref) is None
    finally:
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    assert find_version(settings, ref) is not None


@pytest.mark.parametrize(
    ("uri", "usable"),
    [
        ("sqlite:///{db}", True),
        ("sqlite:///{db}?mode=ro", False),
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
        ("postgresql+psycopg://x/y", False),
        ("http://127.0.0.1:5000", False),
        ("sqlite:///{missing}", False),
    ],
)
def test_only_plain_existing_sqlite_files_are_read(uri: str, usable: bool, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    sqlite3.connect(db).close()
    url = uri.format(db=db, missing=tmp_path / "missing.db")
    assert (local_sqlite_file(url) is not None) is usable
