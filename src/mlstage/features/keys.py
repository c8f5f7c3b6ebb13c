"""Entity keys as online-store keys: one string per entity, the same from Python and DuckDB.

An integer key is its decimal digits, a string key itself; a composite key
joins its parts with the unit separator (``\\x1f``). Materialisation builds
the same strings in SQL (``key_sql``), so a lookup never depends on how a
number was typed (``1``, ``1.0``, ``"1"`` and ``numpy.int64(1)`` are one key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlstage.errors import InvalidInput

SEPARATOR = "\x1f"


def encode_part(value: Any, dtype: str, key: str) -> str:
    if dtype == "string":
        if isinstance(value, str):
            if SEPARATOR in value:
                raise InvalidInput(f"entity key {key!r}: value contains a control character")
            return value
        raise InvalidInput(f"entity key {key!r} must be a string, got {value!r}")
    if isinstance(value, bool) or value is None:
        raise InvalidInput(f"entity key {key!r} must be an integer, got {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        raise InvalidInput(f"entity key {key!r} must be an integer, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return str(int(text))
        raise InvalidInput(f"entity key {key!r} must be an integer, got {value[:50]!r}")
    if hasattr(value, "__index__"):
        return str(value.__index__())
    if hasattr(value, "is_integer") and value.is_integer():  # numpy floats
        return str(int(value))
    raise InvalidInput(f"entity key {key!r} must be an integer, got {value!r}")


def encode_keys(
    columns: Sequence[Sequence[Any]], dtypes: Sequence[str], names: Sequence[str]
) -> list[str]:
    """One online key per row of the key ``columns`` (one sequence per join key)."""
    if len(columns) == 1:
        dtype, name = dtypes[0], names[0]
        if dtype != "string":
            out = []
            for value in columns[0]:
                # the common case, plain ints, without the checks' calls
                out.append(str(value) if type(value) is int else encode_part(value, dtype, name))
            return out
        return [encode_part(v, dtype, name) for v in columns[0]]
    return [
        SEPARATOR.join(encode_part(v, d, n) for v, d, n in zip(row, dtypes, names, strict=True))
        for row in zip(*columns, strict=True)
    ]


def key_sql(join_keys: Sequence[str], dtypes: Sequence[str]) -> str:
    """The DuckDB expression building the same key from the source's columns."""
    parts = [
        f'"{k}"' if d == "string" else f'CAST(CAST("{k}" AS BIGINT) AS VARCHAR)'
        for k, d in zip(join_keys, dtypes, strict=True)
    ]
    if len(parts) == 1:
        return parts[0]
    return f"concat_ws(chr(31), {', '.join(parts)})"
