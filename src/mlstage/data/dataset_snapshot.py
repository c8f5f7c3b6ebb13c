"""A version's canonical form: its table, its content digest and its Parquet snapshot.

The digest identifies the *content*: the column names and Arrow types, and
the values row by row, in order. It is computed from the values, not from
the bytes of a file, so a CSV and a Parquet file holding the same typed rows
get the same digest, and so does the same data rewritten by another
writer version or chunked differently. Values are hashed column by column
with pandas' ``hash_pandas_object`` (SipHash-based, nulls hashed as one
value whatever bytes lie under them), which keeps memory to one column.

The snapshot is that table written once as Parquet (zstd) into the
content-addressed artifact store; a load checks the snapshot's sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstage.data.dataset_entities import Column
from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

DIGEST_VERSION = b"mlstage-dataset-digest/1\n"


def canonical_table(table: pa.Table) -> pa.Table:
    """Names, types and values only: no metadata, no non-null flags, one string type."""
    import pyarrow as pa

    names = table.column_names
    if not names:
        raise InvalidInput("source holds no columns")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"source has duplicate column names: {', '.join(duplicates)}")
    empty = [i for i, n in enumerate(names) if not n.strip()]
    if empty:
        raise InvalidInput(f"source has columns with empty names (positions {empty})")
    schema = pa.schema([pa.field(f.name, _canonical_type(f.type)) for f in table.schema])
    if schema == table.schema:
        return table.replace_schema_metadata(None)
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # e.g. a string chunk over 2 GB
        plain = pa.schema([pa.field(f.name, f.type) for f in table.schema])
        return table.cast(plain)


def _canonical_type(type_: pa.DataType) -> pa.DataType:
    """One type per kind of value: writers differ only in offsets' width or layout here.

    pandas writes ``large_string`` where a CSV reader or SQL gives ``string``;
    the same rows should not look retyped because another writer made them.
    """
    import pyarrow as pa

    if pa.types.is_large_string(type_) or pa.types.is_string_view(type_):
        return pa.string()
    if pa.types.is_large_binary(type_) or pa.types.is_binary_view(type_):
        return pa.binary()
    if pa.types.is_dictionary(type_):
        values = _canonical_type(type_.value_type)
        return pa.dictionary(type_.index_type, values, type_.ordered)
    return type_


def columns_of(table: pa.Table) -> list[Column]:
    return [Column(name=f.name, type=str(f.type)) for f in table.schema]


def content_digest(table: pa.Table) -> str:
    """sha256 over the names, types and values of a canonical table (see the module doc)."""
    import pandas as pd
    import pyarrow as pa

    digest = hashlib.sha256(DIGEST_VERSION)
    header = [[c.name, c.type] for c in columns_of(table)]
    digest.update(json.dumps([table.num_rows, header], separators=(",", ":")).encode())
    for column in table.columns:
        if pa.types.is_nested(column.type):
            _update_with_rows(digest, column)
            continue
        try:
            hashes = pd.util.hash_pandas_object(column.to_pandas(), index=False)
        except TypeError:  # values pandas cannot hash (arrays in an object column)
            _update_with_rows(digest, column)
            continue
        digest.update(hashes.to_numpy().tobytes())
    return digest.hexdigest()


def _update_with_rows(digest: Any, column: pa.ChunkedArray) -> None:
    """Hash nested values (lists, structs, maps) row by row, as canonical JSON."""
    for chunk in column.chunks:
        for value in chunk.to_pylist():
            text = json.dumps(value, default=str, sort_keys=True, separators=(",", ":"))
            digest.update(text.encode("utf-8") + b"\n")


def write_snapshot(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd", write_statistics=True)


def read_snapshot_table(data: bytes, columns: list[str] | None = None) -> pa.Table:
    """The snapshot's rows as an Arrow table (``columns``: only those, in that order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(io.BytesIO(data), columns=columns)
    except (pa.ArrowException, KeyError) as exc:
        raise InvalidInput(f"columns {columns!r}: {exc}") from exc


def read_snapshot(data: bytes, columns: list[str] | None = None) -> pd.DataFrame:
    """The snapshot's rows as a DataFrame (``columns``: only those, in that order)."""
    return read_snapshot_table(data, columns).to_pandas()
