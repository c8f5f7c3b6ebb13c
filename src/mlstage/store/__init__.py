"""Metadata persistence: tables, migrations, and the engine set-up for SQLite and PostgreSQL.

``Database`` and ``get_database`` load on first use: a reader that only needs
``store.revision`` does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlstage.store.database import Database, get_database

__all__ = ["Database", "get_database"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mlstage.store import database

        return getattr(database, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
