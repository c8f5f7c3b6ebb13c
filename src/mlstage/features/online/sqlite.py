"""The default online store: one SQLite file, one row per view layout and entity.

Reads go straight through the standard library's ``sqlite3`` (no ORM, no
SQLAlchemy), one prepared statement per view: one key is a primary-key
lookup; many keys are one JSON array bound as a single parameter and joined
with ``json_each``, so the rows come back in the order asked, with NULL for
a key without a value (no placeholders to build, no dict to reorder; about a
third less time than ``IN (?, ...)`` for 100 keys). Without SQLite's JSON
functions (built in since 3.38) the ``IN`` form is used. Each thread gets its
own connection; WAL lets materialisation write while readers read.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS online_values (
    view TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    event_ts INTEGER NOT NULL,
    vals BLOB NOT NULL,
    PRIMARY KEY (view, entity_key)
) WITHOUT ROWID
"""
UPSERT = """
INSERT INTO online_values (view, entity_key, event_ts, vals) VALUES (?, ?, ?, ?)
ON CONFLICT (view, entity_key) DO UPDATE SET event_ts = excluded.event_ts, vals = excluded.vals
WHERE excluded.event_ts > online_values.event_ts
   OR (excluded.event_ts = online_values.event_ts AND excluded.vals != online_values.vals)
"""
READ_ONE = "SELECT vals FROM online_values WHERE view = ? AND entity_key = ?"
READ_ORDERED = (
    "SELECT v.vals FROM json_each(?) AS j LEFT JOIN online_values AS v"
    " ON v.view = ? AND v.entity_key = j.value ORDER BY j.key"
)
_READ_MANY = "SELECT entity_key, vals FROM online_values WHERE view = ? AND entity_key IN ({})"
MAX_BIND = 512
_BATCH = 5_000


class SqliteOnlineStore:
    """``sqlite:///path/online.db``."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(Path(path).resolve())
        self.store_id = f"sqlite:///{self.path}"
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._ordered = True
        conn = self._connection()  # creates the file and table now, so errors surface here
        try:
            conn.execute(READ_ORDERED, ("[]", "")).fetchall()
        except sqlite3.OperationalError:  # an SQLite built without its JSON functions
            self._ordered = False

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=60.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def write(self, storage_id: str, rows: Iterable[tuple[str, int, bytes | str]]) -> int:
        conn = self._connection()
        before = conn.total_changes
        batch: list[tuple[str, str, int, bytes | str]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key, ts, vals in rows:
                batch.append((storage_id, key, ts, vals))
                if len(batch) >= _BATCH:
                    conn.executemany(UPSERT, batch)
                    batch.clear()
            if batch:
                conn.executemany(UPSERT, batch)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return conn.total_changes - before

    def read(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[str | bytes | None]]:
        conn = self._connection()
        out: list[list[str | bytes | None]] = []
        for storage_id, keys in requests:
            if len(keys) == 1:
                row = conn.execute(READ_ONE, (storage_id, keys[0])).fetchone()
                out.append([None if row is None else row[0]])
                continue
            if self._ordered:
                listed = keys if isinstance(keys, list | tuple) else list(keys)
                asked = json.dumps(listed, ensure_ascii=False)
                out.append([row[0] for row in conn.execute(READ_ORDERED, (asked, storage_id))])
                continue
            found: dict[str, str | bytes] = {}
            for start in range(0, len(keys), MAX_BIND):
                chunk = list(keys[start : start + MAX_BIND])
                size = 1 << (len(chunk) - 1).bit_length()
                chunk += [chunk[-1]] * (size - len(chunk))  # pad: few distinct statements
                found.update(
                    conn.execute(_READ_MANY.format(",".join("?" * size)), (storage_id, *chunk))
                )
            out.append([found.get(k) for k in keys])
        return out

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
