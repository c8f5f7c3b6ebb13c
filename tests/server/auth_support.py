"""Shared set-up of the auth tests: a server with ``auth_required``, users of every role.

Import the fixtures into a test module to use them (pytest finds them by name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from mlstage import config
from mlstage.config import Settings
from mlstage.governance.roles import ROLES
from mlstage.governance.sql_store import GovernanceStore
from mlstage.server import create_app
from mlstage.store import tables
from mlstage.store.database import Database

PASSWORD = "correct horse battery"
DAY = 86_400_000
SKIP_IN_SNAPSHOT = frozenset({"audit_log", "sessions", "alembic_version"})


@dataclass
class Secured:
    """An auth-required app, its database, and a token per role (``tokens["viewer"]``)."""

    app: FastAPI
    settings: Settings
    gov: GovernanceStore
    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def secure_settings(tmp_path: Path, sqlite_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "tracking_uri": sqlite_url,
        "artifact_root": str(tmp_path / "server-artifacts"),
        "auth_required": True,
        "allowed_hosts": ("127.0.0.1", "localhost", "testserver"),
    }
    return config.load_settings(start=tmp_path, **(values | overrides))


@pytest.fixture
def secured(tmp_path: Path, sqlite_url: str) -> Iterator[Secured]:
    """One user per role (named after it, password ``PASSWORD``) with an admin-scoped token."""
    db = Database(sqlite_url)
    gov = GovernanceStore(db)
    tokens = {}
    for role in ROLES:
        gov.create_user(role, role, PASSWORD)
        scope = {"viewer": "read", "admin": "admin"}.get(role, "write")
        tokens[role] = gov.create_token(role, scope, DAY).secret
    settings = secure_settings(tmp_path, sqlite_url)
    yield Secured(create_app(settings), settings, gov, tokens)
    db.dispose()


@pytest.fixture
def client(secured: Secured, client_for: Callable[[FastAPI], httpx.Client]) -> httpx.Client:
    return client_for(secured.app)


def snapshot(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table (but the audit log and sessions), to prove nothing changed."""
    found = {}
    with db.read() as conn:
        for table in tables.metadata.sorted_tables:
            if table.name in SKIP_IN_SNAPSHOT:
                continue
            rows = conn.execute(text(f'SELECT * FROM "{table.name}"')).all()
            found[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return found
