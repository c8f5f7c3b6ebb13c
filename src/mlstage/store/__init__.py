"""Metadata persistence: tables, migrations, and the engine set-up for SQLite and PostgreSQL."""

from mlstage.store.database import Database, get_database

__all__ = ["Database", "get_database"]
