"""Per-row input checks against a signature, in plain Python, and one model input per batch.

``models.signature.enforce`` builds a DataFrame and checks it column by
column: right for a batch, a millisecond too slow for a single-row request.
Here each row is checked value by value with converters compiled once per
signature, errors name the row (counted from 0) and the column, and the
DataFrame (or array) is built once per micro-batch from rows already
checked. The coercions match ``enforce``: integers where floats were seen,
integral floats where integers were, nulls only where training had them.
Numeric ranges are not checked: values outside them are drift, not errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, NoReturn

from mlstage.errors import InvalidInput
from mlstage.models.signature import ColumnSpec, Signature

Row = tuple[Any, ...]
Converter = Callable[[Any], Any]
_INT64 = 2**63
_SHOWN_CATEGORIES = 10


class InvalidRows(InvalidInput):
    """The request is well-formed but its values do not fit the model: HTTP 422."""


class _Reject(Exception):
    """A value does not fit its column; the caller adds the row and column."""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _null_or(convert: Converter, spec: ColumnSpec) -> Converter:
    """Accept ``None`` (and NaN) only where training saw missing values."""
    if not spec.nullable:
        return convert
    null: Any = math.nan if spec.type == "float" else None

    def converter(value: Any) -> Any:
        if value is None or (type(value) is float and value != value):
            return null
        return convert(value)

    return converter


def _as_float(value: Any) -> float:
    kind = type(value)
    if kind is float:
        if value - value == 0.0:  # false for NaN and both infinities
            return value  # type: ignore[no-any-return]
        raise _Reject
    if kind is int:
        return float(value)
    raise _Reject


def _as_int(value: Any) -> int:
    kind = type(value)
    if kind is int:
        if -_INT64 <= value < _INT64:
            return value  # type: ignore[no-any-return]
        raise _Reject
    if kind is float and value.is_integer() and -_INT64 <= value < _INT64:
        return int(value)
    raise _Reject


def _as_bool(value: Any) -> bool:
    if type(value) is bool:
        return value
    raise _Reject


def _as_datetime(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value
    if type(value) is str:
        try:
            return datetime.fromisoformat(value)  # parsed here: rows may mix ISO forms
        except ValueError:
            raise _Reject from None
    raise _Reject


def _as_string(spec: ColumnSpec) -> Converter:
    allowed = frozenset(spec.categories) if spec.categories is not None else None

    def converter(value: Any) -> str:
        if type(value) is not str or (allowed is not None and value not in allowed):
            raise _Reject
        return value

    return converter


def _converter(spec: ColumnSpec) -> Converter:
    plain: Converter
    if spec.type == "float":
        plain = _as_float
    elif spec.type == "integer":
        plain = _as_int
    elif spec.type == "boolean":
        plain = _as_bool
    elif spec.type == "datetime":
        plain = _as_datetime
    else:
        plain = _as_string(spec)
    return _null_or(plain, spec)


def problem(spec: ColumnSpec, value: Any) -> str:
    """Why ``value`` does not fit ``spec``: the message after ``row N:``."""
    name = f"column {spec.name!r}"
    if value is None or (type(value) is float and value != value):
        return f"{name} has no value; a value is required (none was missing in training)"
    if type(value) is float and spec.type in ("float", "integer") and math.isinf(value):
        return f"{name} must be a finite number, got {value}"
    if spec.type == "string" and type(value) is str and spec.categories is not None:
        shown = ", ".join(repr(c) for c in spec.categories[:_SHOWN_CATEGORIES])
        more = (
            f" and {len(spec.categories) - _SHOWN_CATEGORIES} more"
            if len(spec.categories) > _SHOWN_CATEGORIES
            else ""
        )
        return f"{name} must be one of {shown}{more}; got {_short(value)}"
    if spec.type == "datetime" and type(value) is str:
        return f"{name} must be a date-time in ISO 8601 (2024-05-01T12:00:00), got {_short(value)}"
    if type(value) is int and spec.type == "integer":
        return f"{name} must be a 64-bit integer, got {value}"
    return f"{name} must be {spec.type}, got {type(value).__name__} {_short(value)}"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _fail(row: int, message: str) -> NoReturn:
    raise InvalidRows(f"row {row}: {message}")


class RowChecker:
    """Checks rows against one signature and turns a batch of them into the model's input."""

    def __init__(self, signature: Signature) -> None:
        self.signature = signature
        self.specs = tuple(signature.inputs)
        self.names = tuple(s.name for s in self.specs)
        self._name_set = frozenset(self.names)
        self._converters = tuple(_converter(s) for s in self.specs)
        self._pairs = tuple(zip(self.names, self._converters, strict=True))
        kinds = {s.type for s in self.specs}
        nullable_int = any(s.type == "integer" and s.nullable for s in self.specs)
        self._dtype: str | None = None
        if kinds == {"float"} or (
            kinds <= {"float", "integer"} and signature.input_kind == "array"
        ):
            self._dtype = "float64" if "float" in kinds or nullable_int else "int64"
        elif kinds == {"integer"} and not nullable_int:
            self._dtype = "int64"

    def _columns_problem(self, given: Sequence[str]) -> str:
        missing = [n for n in self.names if n not in set(given)]
        extra = [n for n in given if n not in self._name_set]
        parts = []
        if missing:
            parts.append(f"missing column(s) {_names(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {_names([str(e) for e in extra])}")
        return "; ".join(parts) + f"; the model takes {_names(list(self.names))}"

    def _value_problem(self, row: int, values: Sequence[Any]) -> NoReturn:
        for spec, convert, value in zip(self.specs, self._converters, values, strict=True):
            try:
                convert(value)
            except _Reject:
                _fail(row, problem(spec, value))
        raise AssertionError("a rejected row had no rejected value")

    def records(self, records: Sequence[Any], first: int = 0) -> list[Row]:
        """``[{column: value}, ...]`` checked; each row's values in signature order."""
        out: list[Row] = []
        names = self._name_set
        pairs = self._pairs
        for i, record in enumerate(records, first):
            if type(record) is not dict:
                _fail(i, f"must be an object of column: value, got {type(record).__name__}")
            if record.keys() != names:
                _fail(i, self._columns_problem(list(record)))
            try:
                out.append(tuple([convert(record[name]) for name, convert in pairs]))
            except _Reject:
                self._value_problem(i, [record[n] for n in self.names])
        return out

    def table(self, columns: Sequence[Any] | None, data: Sequence[Any]) -> list[Row]:
        """``columns`` and ``data`` rows checked (no ``columns``: rows in signature order)."""
        if columns is None:
            order = list(range(len(self.names)))
            width = len(self.names)
        else:
            if not all(type(c) is str for c in columns) or len(set(columns)) != len(columns):
                raise InvalidRows("columns must be distinct column names (strings)")
            if set(columns) != self._name_set:
                raise InvalidRows(self._columns_problem(list(columns)))
            order = [list(columns).index(n) for n in self.names]
            width = len(columns)
        pairs = tuple(zip(order, self._converters, strict=True))
        out: list[Row] = []
        for i, row in enumerate(data):
            if type(row) is not list or len(row) != width:
                size = len(row) if isinstance(row, list) else type(row).__name__
                _fail(i, f"has {size} values, expected {width} (one per column, in order)")
            try:
                out.append(tuple([convert(row[j]) for j, convert in pairs]))
            except _Reject:
                self._value_problem(i, [row[j] for j in order])
        return out

    def text_table(self, columns: Sequence[str], data: Sequence[list[str]]) -> list[Row]:
        """CSV cells (text) read as the signature's types, then checked like ``table``."""
        readers = {s.name: _TEXT_READERS.get(s.type, _keep) for s in self.specs}
        read = [readers.get(c, _keep) for c in columns]
        typed = [
            [r(cell) for r, cell in zip(read, row, strict=False)] + row[len(read) :] for row in data
        ]
        return self.table(columns, typed)

    @property
    def numeric(self) -> bool:
        """Every column is a number: a batch can be one NumPy matrix (``matrix``)."""
        return self._dtype is not None

    def matrix(self, rows: Sequence[Row]) -> Any:
        """A batch of checked rows as one matrix, columns in signature order (``numeric`` only)."""
        import numpy as np

        return np.array(rows, dtype=self._dtype).reshape(len(rows), len(self.names))

    def build(self, rows: Sequence[Row]) -> Any:
        """The model's input for a batch of checked rows: a DataFrame, or an array."""
        array_kind = self.signature.input_kind == "array"
        if self._dtype is not None:
            matrix = self.matrix(rows)
            if array_kind:
                return matrix
            import pandas as pd

            return pd.DataFrame(matrix, columns=list(self.names))
        columns = {
            spec.name: _column(spec, [row[j] for row in rows]) for j, spec in enumerate(self.specs)
        }
        import pandas as pd

        frame = pd.DataFrame(columns)
        return frame.to_numpy() if array_kind else frame


def _column(spec: ColumnSpec, values: list[Any]) -> Any:
    import numpy as np
    import pandas as pd

    if spec.type == "float":
        return np.array(values, dtype="float64")
    if spec.type == "integer":
        if any(v is None for v in values):
            return np.array([math.nan if v is None else v for v in values], dtype="float64")
        return np.array(values, dtype="int64")
    if spec.type == "datetime":
        return pd.to_datetime(pd.Series(values, dtype=object))  # datetimes already
    if spec.type == "boolean" and not any(v is None for v in values):
        return np.array(values, dtype=bool)
    return np.array(values, dtype=object)


def _keep(cell: str) -> Any:
    return None if cell == "" else cell


def _read_number(cell: str) -> Any:
    if cell == "":
        return None
    try:
        number = float(cell)
    except ValueError:
        return cell
    if math.isfinite(number) and number.is_integer() and cell.lstrip("+-").isdigit():
        return int(cell)
    return number


def _read_bool(cell: str) -> Any:
    lowered = cell.strip().lower()
    if lowered == "":
        return None
    return {"true": True, "false": False, "1": True, "0": False}.get(lowered, cell)


_TEXT_READERS: dict[str, Callable[[str], Any]] = {
    "float": _read_number,
    "integer": _read_number,
    "boolean": _read_bool,
}


class UncheckedRows:
    """For a model logged without a signature: rows pass as given, one DataFrame per batch."""

    signature = None
    names: tuple[str, ...] = ()

    def records(self, records: Sequence[Any], first: int = 0) -> list[Any]:
        for i, record in enumerate(records, first):
            if type(record) is not dict:
                _fail(i, f"must be an object of column: value, got {type(record).__name__}")
        return list(records)

    def table(self, columns: Sequence[Any] | None, data: Sequence[Any]) -> list[Any]:
        if columns is None:
            raise InvalidRows("this model has no signature: name the columns")
        for i, row in enumerate(data):
            if type(row) is not list or len(row) != len(columns):
                _fail(i, f"must have {len(columns)} values, one per column")
        return [dict(zip(columns, row, strict=True)) for row in data]

    def text_table(self, columns: Sequence[str], data: Sequence[list[str]]) -> list[Any]:
        return self.table(columns, [[_read_number(c) for c in row] for row in data])

    def build(self, rows: Sequence[Any]) -> Any:
        import pandas as pd

        return pd.DataFrame.from_records(list(rows))


Checker = RowChecker | UncheckedRows


def checker_for(signature: Signature | None) -> Checker:
    return RowChecker(signature) if signature is not None else UncheckedRows()
