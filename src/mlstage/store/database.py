"""Engine set-up and transactions for SQLite and PostgreSQL.

SQLite is tuned so that concurrent writers queue instead of failing: WAL,
foreign keys on, a busy timeout, and ``BEGIN IMMEDIATE`` for write
transactions (a deferred transaction that later upgrades to a writer is the
classic source of "database is locked"). Transient errors on either database
(lock timeouts, deadlocks, serialisation failures, a dropped connection) are
retried with backoff, and only then surface, as ``Unavailable``.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from mlstage.errors import InvalidInput, Unavailable

T = TypeVar("T")

SUPPORTED_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
_TRANSIENT_MARKERS = (
    "database is locked",
    "database table is locked",
    "deadlock detected",
    "could not serialize access",
    "server closed the connection",
    "connection refused",
    "terminating connection",
)


class Database:
    """One metadata database: an engine, its migrations, and retrying transactions."""

    def __init__(
        self,
        uri: str,
        *,
        busy_timeout: float = 60.0,
        synchronous: str = "NORMAL",
        migrate: bool = True,
        retries: int = 8,
    ) -> None:
        self.uri = uri
        self.retries = retries
        self.engine = _create_engine(uri, busy_timeout=busy_timeout, synchronous=synchronous)
        self.dialect = self.engine.dialect.name
        if migrate:
            from mlstage.store.migrate import ensure_schema

            with self._unavailable_as_error():
                ensure_schema(self.engine)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self._unavailable_as_error(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _unavailable_as_error(self) -> Iterator[None]:
        """A database that cannot be reached is the user's to fix: say so without a traceback."""
        try:
            yield
        except sa_exc.OperationalError as exc:
            if not is_transient(exc) and "connect" not in str(exc).lower():
                raise
            raise Unavailable(
                f"cannot reach the metadata database {self.safe_uri}: {_first_line(exc)}"
            ) from exc

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying transient failures.

        ``work`` may run more than once, so it must not have side effects
        outside the transaction.
        """
        delay = 0.01
        for attempt in range(self.retries + 1):
            try:
                with self.engine.connect() as conn:
                    conn = conn.execution_options(mlstage_write=True)
                    with conn.begin():
                        return work(conn)
            except (sa_exc.OperationalError, sa_exc.DBAPIError) as exc:
                if not is_transient(exc):
                    raise
                if attempt == self.retries or ("connect" in str(exc).lower() and attempt >= 2):
                    raise Unavailable(
                        f"the metadata database {self.safe_uri} stayed busy after "
                        f"{self.retries + 1} attempts: {_first_line(exc)}"
                    ) from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")

    @property
    def safe_uri(self) -> str:
        return make_url(self.uri).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _create_engine(uri: str, *, busy_timeout: float, synchronous: str) -> Engine:
    try:
        url = make_url(uri)
    except sa_exc.ArgumentError as exc:
        raise InvalidInput(f"tracking URI {uri!r} is not a database URL: {exc}") from exc
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(uri, url.database or "", busy_timeout, synchronous)
    if backend == "postgresql":
        if url.drivername not in ("postgresql", "postgresql+psycopg"):
            raise InvalidInput(
                f"tracking URI {url.drivername}://...: use postgresql+psycopg:// (psycopg 3)"
            )
        url = url.set(drivername="postgresql+psycopg")
        return create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, pool_recycle=1800
        )
    raise InvalidInput(
        f"tracking URI scheme {url.drivername!r} is not supported; "
        f"use one of {', '.join(SUPPORTED_SCHEMES)} or http(s)://"
    )


def _sqlite_engine(uri: str, database: str, busy_timeout: float, synchronous: str) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        uri,
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        _enable_wal(cursor, busy_timeout)
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("mlstage_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _enable_wal(cursor: Any, busy_timeout: float) -> None:
    """Switch a new file to WAL; processes opening it at once may find it locked for a moment.

    Switching the journal mode takes an exclusive lock and does not always
    wait on the busy handler, so a race of fresh processes is retried here.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + random.random() * 0.03)


_databases: dict[str, Database] = {}
_lock = threading.Lock()


def get_database(uri: str, *, busy_timeout: float = 60.0, synchronous: str = "NORMAL") -> Database:
    """The process's shared ``Database`` for ``uri`` (migrated on first use)."""
    with _lock:
        db = _databases.get(uri)
        if db is None:
            db = Database(uri, busy_timeout=busy_timeout, synchronous=synchronous)
            _databases[uri] = db
        return db


def reset_databases() -> None:
    """Dispose every cached engine (tests, and after ``fork``)."""
    with _lock:
        for db in _databases.values():
            db.dispose()
        _databases.clear()
