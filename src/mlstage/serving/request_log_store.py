"""Where the request log lives: Parquet blobs in the artifact store, indexed in the database.

Each file holds one model's predictions of one UTC day. The ``prediction_logs``
table names the file's blob, its day and time range, so a reader fetches only
the files of its window and never lists the artifact store (slow on S3).
Inputs become ``input.<column>`` columns; a column whose values mix types is
kept as text rather than losing the batch, and files whose columns or types
differ are read back together (missing columns null, clashing types as text).
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select
from sqlalchemy import exc as sa_exc

from mlstage.store import tables as t

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlstage.artifacts.store import ArtifactStore
    from mlstage.serving.request_log import PredictionRecord
    from mlstage.store.database import Database

INPUT_PREFIX = "input."
DAY_MS = 86_400_000
COLUMNS_BEFORE_INPUTS = (
    "prediction_id",
    "timestamp",
    "model",
    "version",
    "deployment",
    "route",
    "request_key",
)
COLUMNS_AFTER_INPUTS = ("output", "probabilities", "latency_ms")
_READ_THREADS = 8
_L = t.prediction_logs.c


def day_of(timestamp_ms: int) -> str:
    """The UTC day ``YYYY-MM-DD`` of a time in milliseconds since the epoch."""
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def split_by_day(records: Sequence[PredictionRecord]) -> dict[str, list[PredictionRecord]]:
    """Records grouped by UTC day, so each file stays inside one day's partition."""
    groups: dict[int, list[PredictionRecord]] = {}
    for record in records:
        groups.setdefault(record.timestamp_ms // DAY_MS, []).append(record)
    return {day_of(day * DAY_MS): group for day, group in groups.items()}


# -- encoding -------------------------------------------------------------------------------


def _column(values: list[Any]) -> pa.Array:
    """An Arrow array of ``values``; mixed types fall back to text instead of failing the batch."""
    import pyarrow as pa

    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array([_text(v) for v in values], type=pa.string())


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "tolist"):  # NumPy scalars and arrays
        value = value.tolist()
    return json.dumps(value, default=str)


def _probabilities(values: list[list[float] | None]) -> pa.Array:
    import pyarrow as pa

    rows = [None if v is None else [float(p) for p in v] for v in values]
    return pa.array(rows, type=pa.list_(pa.float64()))


def encode_records(records: Sequence[PredictionRecord]) -> pa.Table:
    """One Arrow table of the records: fixed columns, then ``input.<col>`` for every input seen."""
    import pyarrow as pa

    names = list(dict.fromkeys(key for r in records for key in r.inputs))
    columns: dict[str, pa.Array] = {
        "prediction_id": pa.array([r.prediction_id for r in records], type=pa.string()),
        "timestamp": pa.array([r.timestamp_ms for r in records], type=pa.int64()),
        "model": pa.array([r.model for r in records], type=pa.string()),
        "version": pa.array([r.version for r in records], type=pa.int64()),
        "deployment": pa.array([r.deployment for r in records], type=pa.string()),
        "route": pa.array([r.route for r in records], type=pa.string()),
        "request_key": pa.array([r.request_key for r in records], type=pa.string()),
    }
    for name in names:
        columns[f"{INPUT_PREFIX}{name}"] = _column([r.inputs.get(name) for r in records])
    columns["output"] = _column([r.output for r in records])
    columns["probabilities"] = _probabilities([r.probabilities for r in records])
    columns["latency_ms"] = pa.array([float(r.latency_ms) for r in records], type=pa.float64())
    return pa.table(columns)


def parquet_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class LogFile:
    """One encoded file, ready to store; made once, so every retry writes the same file."""

    file_id: str
    model: str
    day: str
    data: bytes
    rows: int
    min_timestamp: int
    max_timestamp: int


def prepare_file(model: str, day: str, records: Sequence[PredictionRecord]) -> LogFile:
    """Encode one day's records of ``model`` as a Parquet file."""
    table = encode_records(records)
    stamps = [r.timestamp_ms for r in records]
    return LogFile(
        file_id=uuid.uuid4().hex,
        model=model,
        day=day,
        data=parquet_bytes(table),
        rows=table.num_rows,
        min_timestamp=min(stamps),
        max_timestamp=max(stamps),
    )


# -- the index and the blobs ------------------------------------------------------------------


class SqlPredictionLogStore:
    """Writes and finds request-log files: blobs in ``artifacts``, index rows in ``db``."""

    def __init__(
        self, db: Database, artifacts: ArtifactStore, *, clock: Callable[[], int] | None = None
    ) -> None:
        from mlstage.tracking.sql_store import now_ms

        self.db = db
        self.artifacts = artifacts
        self.clock = clock or now_ms

    def write_file(self, file: LogFile) -> None:
        """Store the file's blob and index it.

        Safe to retry: the blob is content-addressed, and an index row that
        committed although its answer was lost is recognised by its file id.
        """
        sha, _ = self.artifacts.put_bytes(file.data)
        row = {
            "file_id": file.file_id,
            "model": file.model,
            "day": file.day,
            "sha256": sha,
            "rows": file.rows,
            "min_timestamp": file.min_timestamp,
            "max_timestamp": file.max_timestamp,
            "created_at": self.clock(),
        }

        def work(conn: Connection) -> None:
            conn.execute(insert(t.prediction_logs).values(**row))

        try:
            self.db.write(work)
        except sa_exc.IntegrityError:
            with self.db.read() as conn:
                found = conn.execute(select(_L.sha256).where(_L.file_id == file.file_id)).scalar()
            if found != sha:
                raise

    def find_files(self, model: str, since_ms: int | None, until_ms: int | None) -> list[str]:
        """The sha256 of every file of ``model`` that may hold rows in ``[since, until)``."""
        query = select(_L.sha256).where(_L.model == model)
        if since_ms is not None:
            query = query.where(_L.day >= day_of(since_ms), _L.max_timestamp >= since_ms)
        if until_ms is not None:
            query = query.where(_L.day <= day_of(until_ms), _L.min_timestamp < until_ms)
        with self.db.read() as conn:
            return [str(sha) for sha in conn.execute(query.order_by(_L.min_timestamp)).scalars()]

    def read(self, model: str, since_ms: int | None, until_ms: int | None) -> pd.DataFrame:
        """Every row of ``model`` with ``since <= timestamp < until``, oldest first."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        shas = self.find_files(model, since_ms, until_ms)

        def load(sha: str) -> pa.Table:
            table = pq.read_table(io.BytesIO(self.artifacts.get_bytes(sha)))
            stamps = table.column("timestamp")
            if since_ms is not None:
                table = table.filter(pc.greater_equal(stamps, since_ms))
                stamps = table.column("timestamp")
            if until_ms is not None:
                table = table.filter(pc.less(stamps, until_ms))
            return table

        with ThreadPoolExecutor(max_workers=min(_READ_THREADS, max(1, len(shas)))) as pool:
            tables = list(pool.map(load, shas))
        frame = combine(tables).to_pandas()
        if len(frame):
            frame = frame.sort_values(["timestamp"], kind="stable", ignore_index=True)
        return frame


# -- reading files back together ---------------------------------------------------------------


def empty_table() -> pa.Table:
    import pyarrow as pa

    types = {
        "prediction_id": pa.string(),
        "timestamp": pa.int64(),
        "model": pa.string(),
        "version": pa.int64(),
        "deployment": pa.string(),
        "route": pa.string(),
        "request_key": pa.string(),
        "output": pa.null(),
        "probabilities": pa.list_(pa.float64()),
        "latency_ms": pa.float64(),
    }
    return pa.schema(list(types.items())).empty_table()


def combine(tables: Sequence[pa.Table]) -> pa.Table:
    """One table of files whose columns may differ: the union, with types made to agree."""
    import pyarrow as pa

    if not tables:
        return empty_table()
    try:
        merged = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        merged = pa.concat_tables(_texts_where_types_clash(tables), promote_options="permissive")
    return merged.select(_column_order(merged.column_names))


def _texts_where_types_clash(tables: Sequence[pa.Table]) -> list[pa.Table]:
    import pyarrow as pa

    seen: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for field in table.schema:
            if not pa.types.is_null(field.type):
                seen.setdefault(field.name, set()).add(field.type)
    clashing = set()
    for name, types in seen.items():
        try:
            pa.unify_schemas(
                [pa.schema([(name, kind)]) for kind in types], promote_options="permissive"
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            clashing.add(name)
    out = []
    for table in tables:
        for name in clashing & set(table.column_names):
            index = table.column_names.index(name)
            values = [_text(v) for v in table.column(name).to_pylist()]
            table = table.set_column(index, name, pa.array(values, type=pa.string()))
        out.append(table)
    return out


def _column_order(names: list[str]) -> list[str]:
    inputs = [n for n in names if n.startswith(INPUT_PREFIX)]
    known = set(COLUMNS_BEFORE_INPUTS) | set(COLUMNS_AFTER_INPUTS) | set(inputs)
    others = [n for n in names if n not in known]
    before = [n for n in COLUMNS_BEFORE_INPUTS if n in names]
    after = [n for n in COLUMNS_AFTER_INPUTS if n in names]
    return before + inputs + after + others
