"""``load_model`` on a local SQLite store, with the standard library's ``sqlite3`` only.

A fresh process that loads one model by alias and predicts spends most of
its time importing. SQLAlchemy alone (with the dialects the stores declare
statements for) is about half a second of it on a slow machine, for three
small read queries. So for the common local case, a SQLite file at the
current schema revision, no user scope and no environment policy, the
registry lookup is made here, read-only, with the same queries as
``SqlRegistryStore.resolve`` and the same file checks (every file read from
the content-addressed artifact store is checked against the sha256 the
version recorded). Anything else, a miss included, returns None, and the
caller takes the full path, which also gives the error messages.
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from mlstage.config import Settings
from mlstage.models.entities import ModelVersion, version_from_row
from mlstage.models.names import canonical_model_name
from mlstage.models.uri import RegistryRef
from mlstage.store.revision import HEAD_REVISION

_PREFIX = "sqlite:///"


def local_sqlite_file(uri: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL that exists; None for anything else."""
    if not uri.startswith(_PREFIX) or "?" in uri or "%" in uri:
        return None
    database = uri[len(_PREFIX) :]
    if not database or database == ":memory:":
        return None
    path = Path(database)
    return path if path.is_file() else None


def _scoped() -> bool:
    # A scope can only be set once its module is imported (by a server or a test).
    scope = sys.modules.get("mlstage.governance.scope")
    return scope is not None and scope.current_scope() is not None


def find_version(settings: Settings, ref: RegistryRef) -> ModelVersion | None:
    """The version ``ref`` names, read from a local SQLite file; None to take the full path."""
    path = local_sqlite_file(settings.tracking_uri)
    if path is None or settings.environment or _scoped():
        return None
    try:
        target = f"file:{quote(str(path.resolve()))}?mode=ro"
        with closing(sqlite3.connect(target, uri=True, timeout=60)) as conn:
            conn.row_factory = sqlite3.Row
            return _lookup(conn, ref)
    except sqlite3.Error:
        return None


def _lookup(conn: sqlite3.Connection, ref: RegistryRef) -> ModelVersion | None:
    revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    if revision is None or revision[0] != HEAD_REVISION:
        return None  # the full path migrates first
    model = conn.execute(
        "SELECT model_id, name FROM registered_models WHERE canonical_name = ?",
        (canonical_model_name(ref.name),),
    ).fetchone()
    if model is None or model["name"] != ref.name:
        return None
    model_id = model["model_id"]
    if ref.alias is not None:
        found = conn.execute(
            "SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?",
            (model_id, ref.alias),
        ).fetchone()
    elif ref.version is not None:
        found = (ref.version,)
    else:
        found = conn.execute(
            "SELECT max(version) FROM model_versions WHERE model_id = ?", (model_id,)
        ).fetchone()
    if found is None or found[0] is None:
        return None
    number = int(found[0])
    row = conn.execute(
        "SELECT * FROM model_versions WHERE model_id = ? AND version = ?", (model_id, number)
    ).fetchone()
    if row is None:
        return None
    tags = dict(
        conn.execute(
            "SELECT key, value FROM model_version_tags WHERE model_id = ? AND version = ?",
            (model_id, number),
        ).fetchall()
    )
    aliases = [
        alias
        for (alias,) in conn.execute(
            "SELECT alias FROM model_aliases WHERE model_id = ? AND version = ? ORDER BY alias",
            (model_id, number),
        )
    ]
    return version_from_row(model["name"], row, tags, aliases)
