"""Where the request log lives: Parquet blobs in the artifact store, indexed in the database.

Each file holds one model's predictions of one UTC day. The ``prediction_logs``
table names the file's blob, its day and time range, so a reader fetches only
the files of its window and never lists the artifact store (slow on S3).
Inputs become ``input.<column>`` columns; a column whose values mix types is
kept as text rather than losing the batch, and files whose columns or types
differ are read back together (missing columns null, clashing types as text).

A file's id is derived from its sha256, so storing the same file twice (a
retry whose answer was lost, locally or through the server) finds the row
the first attempt wrote instead of indexing the rows twice. The platform
server accepts files from clients (``check_log_file``) only after reading
them as Parquet with the columns this module writes, one UTC day each.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel
from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from mlstage.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from mlstage.models.names import canonical_model_name
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
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
MAX_FILE_ROWS = 1_000_000
"""Most rows one uploaded file may hold: the server reads its timestamps into memory."""
_READ_THREADS = 8
_FILE_ID = re.compile(r"[0-9a-f]{32}")
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
    columns["error"] = pa.array([r.error for r in records], type=pa.string())
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
    sha256: str
    rows: int
    min_timestamp: int
    max_timestamp: int


class PredictionLogFile(BaseModel):
    """One file of the index, as the REST API lists it and readers choose files by it."""

    file_id: str
    model: str
    day: str
    """The UTC day ``YYYY-MM-DD`` every row of the file falls on."""
    sha256: str
    rows: int
    min_timestamp: int
    max_timestamp: int
    created_at: int


def file_id_of(sha: str) -> str:
    """The id of the file whose content hashes to ``sha``: the same bytes, the same row."""
    return sha[:32]


def check_file_id(file_id: str) -> str:
    """``file_id`` if it is 32 lower-case hex digits, as every file id is; else ``InvalidInput``."""
    if not _FILE_ID.fullmatch(file_id):
        raise InvalidInput(
            f"prediction-log file id {file_id[:100]!r} must be 32 lower-case hex digits"
        )
    return file_id


def _log_file(model: str, day: str, data: bytes, rows: int, low: int, high: int) -> LogFile:
    sha = hashlib.sha256(data).hexdigest()
    return LogFile(file_id_of(sha), model, day, data, sha, rows, low, high)


def prepare_file(model: str, day: str, records: Sequence[PredictionRecord]) -> LogFile:
    """Encode one day's records of ``model`` as a Parquet file."""
    table = encode_records(records)
    stamps = [r.timestamp_ms for r in records]
    return _log_file(model, day, parquet_bytes(table), table.num_rows, min(stamps), max(stamps))


_TEXT_COLUMNS = ("prediction_id", "model", "route")
_INTEGER_COLUMNS = ("timestamp", "version")
"""Columns whose type the index and the readers rely on."""


def check_log_file(model: str, data: bytes) -> LogFile:
    """The upload ``data`` as a file of ``model``, after checking it is one the readers can read.

    The server trusts nothing of the client but the bytes: they must be
    Parquet with every column ``encode_records`` writes, of ``model`` only,
    and of one UTC day (the index files them by day); rows, day and time
    range come from the file itself.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    model = canonical_model_name(model)
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput(
            f"the body is not a Parquet file ({_first_line(exc)}); upload the file "
            "RequestLogger writes, as Content-Type " + PARQUET_MEDIA_TYPE
        ) from exc
    names = set(schema.names)
    missing = [c for c in (*COLUMNS_BEFORE_INPUTS, *COLUMNS_AFTER_INPUTS) if c not in names]
    if missing:
        raise InvalidInput(
            f"the Parquet file lacks the column(s) {', '.join(missing)}; a prediction-log file "
            f"has {', '.join(COLUMNS_BEFORE_INPUTS)}, input.<column>..., "
            f"{', '.join(COLUMNS_AFTER_INPUTS)}"
        )
    for name in _INTEGER_COLUMNS:
        found = schema.field(name).type
        if not pa.types.is_integer(found):
            raise InvalidInput(f"column {name!r} of the Parquet file must be integers, not {found}")
    for name in _TEXT_COLUMNS:
        found = schema.field(name).type
        if not (pa.types.is_string(found) or pa.types.is_large_string(found)):
            raise InvalidInput(f"column {name!r} of the Parquet file must be text, not {found}")
    rows = parquet.metadata.num_rows
    if rows == 0:
        raise InvalidInput("the Parquet file has no rows; upload files with predictions only")
    if rows > MAX_FILE_ROWS:
        raise PayloadTooLarge(
            f"the Parquet file has {rows} rows, over the limit of {MAX_FILE_ROWS} a file; "
            "split it into smaller files"
        )
    try:
        table = parquet.read(columns=["timestamp", "model"])
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput(f"the Parquet file cannot be read: {_first_line(exc)}") from exc
    stamps = table.column("timestamp")
    if stamps.null_count or table.column("model").null_count:
        raise InvalidInput("the Parquet file has rows without a timestamp or a model")
    others = sorted(
        str(name)
        for name in pc.unique(table.column("model")).to_pylist()
        if str(name).lower() != model
    )
    if others:
        raise InvalidInput(
            f"the Parquet file holds predictions of {', '.join(map(repr, others[:5]))}, "
            f"not only of model {model!r}; upload each model's file under its own name"
        )
    bounds = pc.min_max(stamps).as_py()
    low, high = int(bounds["min"]), int(bounds["max"])
    try:
        first, last = day_of(low), day_of(high)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidInput(
            f"the Parquet file's timestamps run from {low} to {high}: they must be "
            "milliseconds since the epoch"
        ) from exc
    if first != last:
        raise InvalidInput(
            f"the Parquet file spans the UTC days {first} to {last}; "
            "a prediction-log file holds one day: split it by day"
        )
    return _log_file(model, first, data, table.num_rows, low, high)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- the index and the blobs ------------------------------------------------------------------


class PredictionLogStore(Protocol):
    """Where request-log files are stored and found: the database, or the platform server."""

    def write_file(self, file: LogFile) -> tuple[PredictionLogFile, bool]:
        """Store and index ``file``; its index entry, and whether this call created it.

        Safe to repeat: a file stored already is found by its id, not stored twice.
        """
        ...

    def find_files(
        self, model: str, since_ms: int | None, until_ms: int | None
    ) -> list[PredictionLogFile]:
        """Every file of ``model`` that may hold rows in ``[since, until)``, oldest first."""
        ...

    def file_bytes(self, file: PredictionLogFile) -> bytes:
        """The file's bytes, checked against the sha256 its index entry records."""
        ...


class SqlPredictionLogStore:
    """Writes and finds request-log files: blobs in ``artifacts``, index rows in ``db``."""

    def __init__(
        self, db: Database, artifacts: ArtifactStore, *, clock: Callable[[], int] | None = None
    ) -> None:
        from mlstage.tracking.sql_store import now_ms

        self.db = db
        self.artifacts = artifacts
        self.clock = clock or now_ms

    def write_file(self, file: LogFile) -> tuple[PredictionLogFile, bool]:
        """Store the file's blob and index it, once however often it is sent.

        The blob is content-addressed and the row's id derives from the
        content, so the insert does nothing when a retry (or a client whose
        answer was lost) sends the same file again.
        """
        sha, _ = self.artifacts.put_bytes(file.data)
        if sha != file.sha256 or file.file_id != file_id_of(sha):
            raise InvalidInput(f"prediction-log file {file.file_id} does not match its content")
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
        dialect: Any = sqlite if self.db.dialect == "sqlite" else postgresql
        # RETURNING tells a new row from a repeated one on both databases.
        statement = (
            dialect.insert(t.prediction_logs)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["file_id"])
            .returning(_L.file_id)
        )

        def work(conn: Connection) -> tuple[PredictionLogFile, bool]:
            created = conn.execute(statement).first() is not None
            stored = _entry(conn.execute(_SELECT.where(_L.file_id == file.file_id)).one())
            return stored, created

        entry, created = self.db.write(work)
        if entry.sha256 != sha:
            raise Conflict(
                f"prediction-log file id {file.file_id} is indexed for other content "
                f"({entry.sha256}); this file hashes to {sha}"
            )
        return entry, created

    def find_files(
        self, model: str, since_ms: int | None, until_ms: int | None
    ) -> list[PredictionLogFile]:
        """Every file of ``model`` that may hold rows in ``[since, until)``, oldest first."""
        query = _SELECT.where(_L.model == model)
        if since_ms is not None:
            query = query.where(_L.day >= day_of(since_ms), _L.max_timestamp >= since_ms)
        if until_ms is not None:
            query = query.where(_L.day <= day_of(until_ms), _L.min_timestamp < until_ms)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(_L.min_timestamp, _L.file_id)).all()
        return [_entry(row) for row in rows]

    def get_file(self, file_id: str) -> PredictionLogFile:
        """The index entry of one file; ``NotFound`` if there is none."""
        with self.db.read() as conn:
            row = conn.execute(_SELECT.where(_L.file_id == file_id)).first()
        if row is None:
            raise NotFound(f"no prediction-log file {file_id!r}; list them with ?model=<name>")
        return _entry(row)

    def file_bytes(self, file: PredictionLogFile) -> bytes:
        """The blob, checked by the artifact store against its hash."""
        return self.artifacts.get_bytes(file.sha256)


_SELECT = select(
    _L.file_id,
    _L.model,
    _L.day,
    _L.sha256,
    _L.rows,
    _L.min_timestamp,
    _L.max_timestamp,
    _L.created_at,
)


def _entry(row: Any) -> PredictionLogFile:
    return PredictionLogFile.model_validate(row._asdict())


def read_window(
    store: PredictionLogStore, model: str, since_ms: int | None, until_ms: int | None
) -> pd.DataFrame:
    """Every row of ``model`` with ``since <= timestamp < until``, oldest first, from any store.

    The one reading path of both stores: files chosen by the index, fetched
    (and hash-checked) in parallel, cut to the window, combined, sorted.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = store.find_files(model, since_ms, until_ms)

    def load(file: PredictionLogFile) -> pa.Table:
        table = pq.read_table(io.BytesIO(store.file_bytes(file)))
        stamps = table.column("timestamp")
        if since_ms is not None:
            table = table.filter(pc.greater_equal(stamps, since_ms))
            stamps = table.column("timestamp")
        if until_ms is not None:
            table = table.filter(pc.less(stamps, until_ms))
        return table

    with ThreadPoolExecutor(max_workers=min(_READ_THREADS, max(1, len(files)))) as pool:
        tables = list(pool.map(load, files))
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
