"""Materialisation: the latest value of each entity in a time window, into the online store.

DuckDB reads the source, keeps rows whose event timestamp is inside the
window, picks the latest per entity (ties: the last row of the last file,
as the offline join does) and packs each entity's features into one JSON
array, so Python only streams finished rows into the store. The store's
conditional upsert makes a re-run change nothing, and the watermark (the
window's end, per view and store) lets ``materialize_incremental`` start
where the last run stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlstage.errors import InvalidInput
from mlstage.features.codec import codec_for
from mlstage.features.definitions import ViewRecord
from mlstage.features.keys import key_sql
from mlstage.features.online.base import OnlineStore
from mlstage.features.sources import source_files

FETCH_ROWS = 50_000


@dataclass(frozen=True)
class MaterializeResult:
    """One view's run: its window, the entities it found and the online rows it changed."""

    view: str
    start: datetime
    end: datetime
    entities: int
    written: int

    def to_dict(self) -> dict[str, object]:
        return {
            "view": self.view,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "entities": self.entities,
            "written": self.written,
        }


def as_utc(value: datetime | str, what: str) -> datetime:
    """A datetime (or ISO 8601 text) in UTC; naive values are taken as UTC."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{what} must be an ISO 8601 time such as 2026-01-31T00:00:00, got {text[:50]!r}"
            ) from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{what} must be a datetime, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def micros(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def latest_rows(view: ViewRecord, start_us: int, end_us: int) -> Iterator[tuple[str, int, Any]]:
    """``(entity_key, event_ts_us, packed values)`` of each entity's latest row in the window."""
    import duckdb

    codec = codec_for(view)
    keys = ", ".join(f'"{k}"' for k in view.join_keys)
    not_null = " AND ".join(f'"{k}" IS NOT NULL' for k in view.join_keys)
    values = ", ".join(f'"{name}"' for name in view.feature_names)
    ts = f'epoch_us("{view.timestamp_field}")'
    sql = f"""
        SELECT {key_sql(view.join_keys, view.key_dtypes)} AS entity_key, {ts} AS ts, {values}
        FROM read_parquet(?, filename = true, file_row_number = true)
        WHERE {ts} BETWEEN ? AND ? AND {not_null}
        QUALIFY row_number() OVER (
            PARTITION BY {keys} ORDER BY {ts} DESC, filename DESC, file_row_number DESC
        ) = 1
    """  # noqa: S608 - identifiers are checked names; values are parameters
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        files = source_files(view.source)
        relation = con.sql(sql, params=[files, start_us, end_us])
        reader = relation.to_arrow_reader(FETCH_ROWS)
        for batch in reader:
            packed = codec.encode(batch.columns[2:])
            yield from zip(
                batch.column(0).to_pylist(), batch.column(1).to_pylist(), packed, strict=True
            )
    finally:
        con.close()


def materialize_view(
    view: ViewRecord, store: OnlineStore, start: datetime, end: datetime
) -> MaterializeResult:
    counted = 0

    def counting() -> Iterator[tuple[str, int, Any]]:
        nonlocal counted
        for row in latest_rows(view, micros(start), micros(end)):
            counted += 1
            yield row

    written = store.write(view.storage_id, counting())
    return MaterializeResult(view.name, start, end, counted, written)
