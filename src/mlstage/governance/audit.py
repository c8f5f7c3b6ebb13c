"""The append-only audit log: record entries in the caller's transaction, read and export them.

Nothing here updates or deletes an entry. CSV export escapes cells a
spreadsheet would run as a formula (S19).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from mlstage.governance.entities import AuditEntry
from mlstage.store import tables as t

MAX_ENTRIES = 10_000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def record(
    conn: Connection,
    *,
    at: int,
    actor: str,
    action: str,
    object_type: str,
    object_id: str = "",
    before: Any = None,
    after: Any = None,
    address: str = "",
) -> None:
    """Append one entry inside ``conn``'s transaction (so it stands or falls with the change)."""
    conn.execute(
        insert(t.audit_log).values(
            at=at,
            actor=actor[:100],
            action=action[:64],
            object_type=object_type[:32],
            object_id=object_id[:250],
            before=None if before is None else json.dumps(before, default=str),
            after=None if after is None else json.dumps(after, default=str),
            address=address[:64],
        )
    )


def query(
    conn: Connection,
    *,
    since: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 1000,
) -> list[AuditEntry]:
    """Entries oldest first, filtered; ``action`` matches exactly or as a prefix ending in ``.``."""
    stmt = select(t.audit_log).order_by(t.audit_log.c.entry_id)
    if since is not None:
        stmt = stmt.where(t.audit_log.c.at >= since)
    if actor:
        stmt = stmt.where(t.audit_log.c.actor == actor)
    if action:
        column = t.audit_log.c.action
        stmt = stmt.where(column.startswith(action) if action.endswith(".") else column == action)
    rows = conn.execute(stmt.limit(max(1, min(limit, MAX_ENTRIES)))).mappings()
    return [
        AuditEntry(
            entry_id=row["entry_id"],
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            object_type=row["object_type"],
            object_id=row["object_id"],
            before=None if row["before"] is None else json.loads(row["before"]),
            after=None if row["after"] is None else json.loads(row["after"]),
            address=row["address"],
        )
        for row in rows
    ]


CSV_COLUMNS: Sequence[str] = (
    "entry_id",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "address",
)


def safe_cell(value: Any) -> str:
    """The cell as text, with a leading ``'`` if a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(entries: Iterable[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        data = entry.model_dump()
        writer.writerow([safe_cell(data[column]) for column in CSV_COLUMNS])
    return out.getvalue()
