"""How one entity's feature values are packed in the online store, and read back fast.

Views whose features are all numbers or booleans (at most 64) are packed as
fixed-width little-endian records: a 64-bit null mask, then one ``double``,
``int64`` or ``bool`` per feature. Reading 100 entities is then one
``struct.iter_unpack`` over the joined bytes, with no text to parse (parsing
a thousand floats from JSON costs more than the database read). Views with
strings or timestamps are packed as one JSON array per entity. Which codec a
view uses follows from its layout, and the layout is part of the online
key (``ViewRecord.storage_id``), so bytes are never read with the wrong one.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlstage.features.definitions import ViewRecord

if TYPE_CHECKING:
    import pyarrow as pa

_CODES = {"float32": "d", "float64": "d", "int32": "q", "int64": "q", "bool": "?"}
_NUMPY = {"d": "<f8", "q": "<i8", "?": "?"}


class Codec:
    """Encode a batch of rows for a view; decode raw values into feature columns."""

    kind = ""

    def encode(self, columns: Sequence[pa.Array]) -> list[bytes | str]:
        raise NotImplementedError

    def decode(
        self, raws: Sequence[str | bytes | None], positions: Sequence[int]
    ) -> list[list[Any]]:
        raise NotImplementedError


class StructCodec(Codec):
    """Fixed-width records: ``<Q`` null mask, then the features."""

    kind = "struct"

    def __init__(self, dtypes: Sequence[str]) -> None:
        self.codes = [_CODES[d] for d in dtypes]
        self.format = "<Q" + "".join(self.codes)
        self.size = struct.calcsize(self.format)
        self.empty = struct.pack(self.format, (1 << len(self.codes)) - 1, *[0] * len(self.codes))

    def encode(self, columns: Sequence[pa.Array]) -> list[bytes | str]:
        import numpy as np

        rows = len(columns[0]) if columns else 0
        layout = [("m", "<u8")] + [(f"c{i}", _NUMPY[c]) for i, c in enumerate(self.codes)]
        records = np.zeros(rows, dtype=np.dtype(layout))
        for i, (column, code) in enumerate(zip(columns, self.codes, strict=True)):
            if column.null_count:
                nulls = column.is_null().to_numpy(zero_copy_only=False)
                records["m"] |= nulls.astype(np.uint64) << np.uint64(i)
                column = column.fill_null(False if code == "?" else 0)
            records[f"c{i}"] = column.to_numpy(zero_copy_only=False)
        data = records.tobytes()
        size = self.size
        return [data[i * size : (i + 1) * size] for i in range(rows)]

    def decode(
        self, raws: Sequence[str | bytes | None], positions: Sequence[int]
    ) -> list[list[Any]]:
        empty = self.empty
        joined = b"".join(empty if r is None else r for r in raws)  # type: ignore[misc]
        columns = list(zip(*struct.iter_unpack(self.format, joined), strict=True))
        if not columns:
            return [[] for _ in positions]
        out = [list(columns[p + 1]) for p in positions]
        masks = columns[0]
        if any(masks):
            for row, mask in enumerate(masks):
                if mask:
                    for values, p in zip(out, positions, strict=True):
                        if mask >> p & 1:
                            values[row] = None
        return out


class JsonCodec(Codec):
    """One JSON array per entity (strings, timestamps, or very wide views)."""

    kind = "json"

    def encode(self, columns: Sequence[pa.Array]) -> list[bytes | str]:
        rows = zip(*(c.to_pylist() for c in columns), strict=True)
        return [json.dumps(list(r), default=str, separators=(",", ":")) for r in rows]

    def decode(
        self, raws: Sequence[str | bytes | None], positions: Sequence[int]
    ) -> list[list[Any]]:
        text = ",".join(
            "null" if r is None else r.decode() if isinstance(r, bytes) else r for r in raws
        )
        rows = json.loads(f"[{text}]")
        return [[None if d is None else d[p] for d in rows] for p in positions]


def codec_for(view: ViewRecord) -> Codec:
    dtypes = [d for _, d in view.features]
    if len(dtypes) <= 64 and all(d in _CODES for d in dtypes):
        return StructCodec(dtypes)
    return JsonCodec()
