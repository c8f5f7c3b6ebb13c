"""Runs as one columnar table (Arrow): what ``search_runs`` returns as a DataFrame.

A DataFrame of 10,000 runs with 50 metrics holds half a million values.
Building a ``Run`` for each run and then the frame from them costs seconds;
here the values of each run (one JSON object per run and kind, aggregated by the
database) are laid out in one list per column, and the lists become Arrow
arrays.
The SQL store builds it from its rows; the server sends it as an Arrow IPC
stream (``Accept: application/vnd.apache.arrow.stream`` on the REST search),
so a remote client reads it without parsing JSON. Columns: ``run_id``,
``experiment_id``, ``run_name``, ``status``, ``start_time``, ``end_time``
(epoch milliseconds; ``frame_of`` makes them timestamps), then ``metrics.*``,
``params.*`` and ``tags.*`` sorted by name, as ``runs_frame`` lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

ARROW_STREAM = "application/vnd.apache.arrow.stream"
TOKEN_KEY = b"next_page_token"
"""Schema metadata key of the next page's token in a streamed page."""
BASE_COLUMNS = ("run_id", "experiment_id", "run_name", "status", "start_time", "end_time")


def _text_columns(objects: Sequence[dict[str, str] | None]) -> dict[str, list[str | None]]:
    """One list per key, None where a run has no value for it."""
    n = len(objects)
    columns: dict[str, list[str | None]] = {}
    for i, found in enumerate(objects):
        if not found:
            continue
        for key, value in found.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [None] * n
            column[i] = value
    return columns


def _metric_columns(members: Sequence[str | None]) -> dict[str, Any]:
    """Float columns from each run's ``"k1":v1,"k2":v2`` text, parsed by Arrow's CSV reader.

    Keys hold no comma, quote or newline (``validation.check_key``), and values
    are the exact tokens Python's repr wrote (Arrow reads NaN, Infinity and
    -Infinity too): with one member a line, the members are a two-column CSV
    (``"key":value``, the key quoted, so a colon inside it stays in it), which
    Arrow parses in C++ on every core. Each member's run is known from how
    many members each run has.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    present = [i for i, text in enumerate(members) if text]
    if not present:
        return {}
    texts = [text for text in members if text]
    counts = np.fromiter((text.count(",") + 1 for text in texts), np.intp, len(texts))
    blob = "\n".join(texts).replace(",", "\n").encode()
    table = pcsv.read_csv(
        pa.py_buffer(blob),
        read_options=pcsv.ReadOptions(column_names=["key", "value"], block_size=1 << 22),
        parse_options=pcsv.ParseOptions(delimiter=":", quote_char='"'),
        convert_options=pcsv.ConvertOptions(
            column_types={"key": pa.string(), "value": pa.float64()}
        ),
    )
    keys = pc.dictionary_encode(table.column("key")).combine_chunks()
    names = keys.dictionary.to_pylist()
    values = table.column("value").to_numpy()  # nulls (NaN) as NaN
    matrix = np.full((len(members), len(names)), np.nan)
    positions = np.repeat(np.array(present, dtype=np.intp), counts)
    matrix[positions, keys.indices.to_numpy(zero_copy_only=False)] = values
    return {name: matrix[:, code] for code, name in enumerate(names)}


def runs_table(
    runs: Sequence[Any],
    metrics: Sequence[str | None],
    params: Sequence[dict[str, str] | None],
    tags: Sequence[dict[str, str] | None],
    next_page_token: str | None = None,
) -> pa.Table:
    """The table of ``runs`` ((run_id, experiment_id, name, status, start_time, end_time)
    tuples), in order, with each run's values:
    metrics as ``"k1":v1,...`` text, params and tags as dicts."""
    import pyarrow as pa

    run_id, experiment_id, name, status, start, end = (
        (list(c) for c in zip(*runs, strict=True)) if runs else ([],) * 6
    )
    columns: dict[str, Any] = {
        "run_id": pa.array(run_id, pa.string()),
        "experiment_id": pa.array([str(e) for e in experiment_id], pa.string()),
        "run_name": pa.array(name, pa.string()),
        "status": pa.array(status, pa.string()),
        "start_time": pa.array(start, pa.int64()),
        "end_time": pa.array(end, pa.int64()),
    }
    extra: dict[str, Any] = {}
    for key, floats in _metric_columns(metrics).items():
        extra[f"metrics.{key}"] = pa.array(floats, pa.float64())
    for prefix, objects in (("params", params), ("tags", tags)):
        for key, texts in _text_columns(objects).items():
            extra[f"{prefix}.{key}"] = pa.array(texts, pa.string())
    columns.update(sorted(extra.items()))
    metadata = {TOKEN_KEY: next_page_token.encode()} if next_page_token else None
    return pa.table(columns, metadata=metadata)


def page_token(table: pa.Table) -> str | None:
    metadata = table.schema.metadata or {}
    token = metadata.get(TOKEN_KEY)
    return token.decode() if token else None


def to_stream(table: pa.Table) -> bytes:
    """The table as an Arrow IPC stream (the REST search's columnar answer)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def from_stream(data: bytes) -> pa.Table:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


def concat_pages(tables: Sequence[pa.Table]) -> pa.Table:
    """Pages of one search as one table; a column missing from a page is null there."""
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0].replace_schema_metadata(None)
    merged = pa.concat_tables(
        [t.replace_schema_metadata(None) for t in tables], promote_options="default"
    )
    extra = sorted(name for name in merged.column_names if name not in BASE_COLUMNS)
    return merged.select([*BASE_COLUMNS, *extra])


def frame_of(table: pa.Table) -> pd.DataFrame:
    """The DataFrame ``search_runs`` returns: times as UTC timestamps."""
    return with_timestamps(table.to_pandas())


def with_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    """``start_time`` and ``end_time`` (epoch ms, missing as None or NaN) as UTC timestamps,
    of one resolution whatever the column held."""
    import pandas as pd

    for column in ("start_time", "end_time"):
        millis = frame[column].astype("float64")
        frame[column] = pd.to_datetime(millis, unit="ms", utc=True).astype("datetime64[ms, UTC]")
    return frame
