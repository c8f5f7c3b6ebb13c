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
    newest_first: bool = False,
) -> list[AuditEntry]:
    """Entries oldest first (or newest first), filtered.

    ``action`` matches exactly or as a prefix ending in ``.``.
    """
    order = t.audit_log.c.entry_id.desc() if newest_first else t.audit_log.c.entry_id
    stmt = select(t.audit_log).order_by(order)
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


def parse_since(since: str, now_ms: int | None = None) -> int:
    """``2026-11-01``, an ISO time, or a duration back from now (``7d``, ``12h``), as ms."""
    from datetime import UTC, datetime

    from mlstage.errors import InvalidInput
    from mlstage.governance.tokens import parse_lifetime

    since = since.strip()
    now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
    if since[-1:] in "smhdw" and since[:-1].isdigit():
        return now - parse_lifetime(since)
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise InvalidInput(
            f"since {since!r} is neither a date (2026-11-01, 2026-11-01T12:00) "
            "nor a duration (7d, 12h)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1000)
