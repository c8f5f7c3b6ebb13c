"""Where an environment keeps its data: its own database (or schema) and artifact root.

A process working in an environment (the ``environment`` setting) that has
its own ``database`` or ``artifact_root`` reads and writes there, not in the
shared stores: restricted data never lands beside public data. The shared
database is the control plane that names the environments; each
environment's own database carries its record too (written on
``mlstage environments create``), so its policies hold inside it.

``database`` is a SQLAlchemy URL, or, on PostgreSQL, the name of a schema in
the shared database (set as the connection's ``search_path``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.governance.environments import Environment

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _is_http(uri: str) -> bool:
    return uri.split(":", 1)[0].lower() in ("http", "https")


def database_url(shared: str, database: str) -> str:
    """The URL of an environment's ``database`` given the shared database's URL."""
    if "://" in database:
        return database
    if not _SCHEMA.fullmatch(database):
        raise InvalidInput(
            f"database {database!r} must be a database URL (postgresql+psycopg://..., "
            "sqlite:///...) or a schema name: lower-case letters, digits and '_'"
        )
    if not shared.startswith("postgresql"):
        raise InvalidInput(
            f"database {database!r} is a schema name, which needs a PostgreSQL tracking URI "
            f"(this one is {shared.split(':', 1)[0]}); give a database URL instead"
        )
    parts = urlsplit(shared)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]  # one search_path
    query.append(("options", f"-csearch_path={database}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def storage_settings(settings: Settings) -> Settings:
    """``settings`` pointed at the environment's own stores, when it has any."""
    if not settings.environment or _is_http(settings.tracking_uri):
        return settings
    from mlstage.governance.environments import find_environment
    from mlstage.store.database import get_database

    db = get_database(settings.tracking_uri, busy_timeout=settings.sqlite_busy_timeout)
    with db.read() as conn:
        found = find_environment(conn, settings.environment)
    if found is None or not (found.database or found.artifact_root):
        return settings
    overrides: dict[str, str] = {}
    if found.database:
        overrides["tracking_uri"] = database_url(settings.tracking_uri, found.database)
    if found.artifact_root:
        overrides["artifact_root"] = found.artifact_root
    return settings.with_overrides(**overrides)


def provision(settings: Settings, environment: Environment) -> str | None:
    """Create the environment's own database (migrated) and write its record there too.

    Returns the database's URL, or ``None`` when the environment shares the database.
    """
    if not environment.database:
        return None
    from sqlalchemy import text

    from mlstage.governance.classification import levels_of
    from mlstage.governance.environments import EnvironmentStore
    from mlstage.store.database import get_database

    url = database_url(settings.tracking_uri, environment.database)
    if "://" not in environment.database:  # a schema of the shared PostgreSQL database
        shared = get_database(settings.tracking_uri)
        shared.write(
            lambda conn: conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{environment.database}"'))
        )
    own = get_database(url, busy_timeout=settings.sqlite_busy_timeout)
    EnvironmentStore(own, levels_of(settings)).create(
        environment.name,
        environment.max_classification,
        artifact_root=environment.artifact_root,
        database=environment.database,
        executors=environment.executors,
        description=environment.description,
        actor=environment.updated_by,
        replace=True,
    )
    return url
