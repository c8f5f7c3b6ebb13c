"""A model's signature: the columns it takes, their types and the ranges seen in training.

Inferred when the model is logged (from the training data or an input
example) and enforced at every prediction, with messages that name the
column: a missing column, a string where a number belongs, a null where none
was allowed. Ranges are recorded, not enforced: values outside them are
drift, which monitoring reports, not a reason to refuse a prediction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

ColumnType = Literal["integer", "float", "boolean", "string", "datetime"]
MAX_CATEGORIES = 50


class ColumnSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: ColumnType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    """The distinct values of a string column, when there are at most 50."""


class Signature(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec] = Field(default_factory=list)
    input_kind: Literal["dataframe", "array"] = "dataframe"
    """``array``: the model was fitted on a NumPy array and is given one, columns in order."""

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]


def _column_type(series: pd.Series) -> ColumnType:
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def _spec(name: str, series: pd.Series) -> ColumnSpec:
    kind = _column_type(series)
    spec: dict[str, Any] = {"name": name, "type": kind, "nullable": bool(series.isna().any())}
    present = series.dropna()
    if kind in ("integer", "float") and len(present):
        spec["min"], spec["max"] = float(present.min()), float(present.max())
    elif kind == "string":
        distinct = present.astype(str).unique()
        if len(distinct) <= MAX_CATEGORIES:
            spec["categories"] = sorted(distinct.tolist())
    return ColumnSpec(**spec)


def as_frame(data: Any) -> tuple[pd.DataFrame, Literal["dataframe", "array"]]:
    """Any tabular input as a DataFrame, and whether it came as a bare array."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data, "dataframe"
    if isinstance(data, pd.Series):
        return data.to_frame(), "dataframe"
    if isinstance(data, np.ndarray):
        array = data.reshape(-1, 1) if data.ndim == 1 else data
        if array.ndim != 2:
            raise InvalidInput(f"input must be a table (2 dimensions), got shape {data.shape}")
        return pd.DataFrame(array, columns=[str(i) for i in range(array.shape[1])]), "array"
    if isinstance(data, dict):
        return pd.DataFrame(data), "dataframe"
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return pd.DataFrame.from_records(data), "dataframe"
    if isinstance(data, list) and data and all(isinstance(r, list | tuple) for r in data):
        return as_frame(np.asarray(data, dtype=object))
    raise InvalidInput(
        "input must be a pandas DataFrame, a NumPy array, a dict of columns, a list of records "
        f"or a list of rows; got {type(data).__name__}"
    )


def infer_signature(inputs: Any, outputs: Any = None) -> Signature:
    frame, kind = as_frame(inputs)
    specs = [_spec(str(name), frame[name]) for name in frame.columns]
    out_specs: list[ColumnSpec] = []
    if outputs is not None:
        out_frame, _ = as_frame(outputs)
        out_specs = [_spec(str(name), out_frame[name]) for name in out_frame.columns]
    return Signature(inputs=specs, outputs=out_specs, input_kind=kind)


def enforce(signature: Signature, data: Any) -> Any:
    """Check ``data`` against the signature; return it as the model expects it.

    Columns are selected and ordered as at training; extra columns are
    dropped; integers are accepted where floats were seen.
    """
    fast = _float_matrix(signature, data)
    if fast is not None:
        return fast
    import pandas as pd

    frame, _ = as_frame(data)
    if not all(isinstance(c, str) for c in frame.columns):
        frame.columns = [str(c) for c in frame.columns]
    missing = [c for c in signature.input_names if c not in frame.columns]
    if missing:
        shown = ", ".join(repr(c) for c in sorted(missing)[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InvalidInput(f"input is missing column(s) {shown}{more}")
    # Columns already of the right kind pass through untouched; one frame is
    # built at the end (assigning column by column costs more than predicting).
    columns = {}
    for spec in signature.inputs:
        series = frame[spec.name]
        columns[spec.name] = series if _fits(spec, series, pd) else _coerce_column(spec, series, pd)
    result = pd.DataFrame(columns, index=frame.index, copy=False)
    if signature.input_kind == "array":
        return result.to_numpy()
    return result


def _float_matrix(signature: Signature, data: Any) -> Any:
    """``data`` itself when it is already what the model takes, else None (the full check).

    A model fitted on a float array whose input is a float array of as many
    columns, with no NaN where training had none, passes every check below
    unchanged; building a DataFrame only to turn it back into that array
    costs more than a one-row prediction.
    """
    if signature.input_kind != "array" or type(data).__module__ != "numpy":
        return None
    import numpy as np

    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.dtype.kind != "f":
        return None
    specs = signature.inputs
    if data.shape[1] != len(specs) or any(spec.type != "float" for spec in specs):
        return None
    strict = [j for j, spec in enumerate(specs) if not spec.nullable]
    if strict and np.isnan(data[:, strict]).any():
        return None  # the full check names the column
    return data


def _fits(spec: ColumnSpec, series: pd.Series, pd: Any) -> bool:
    """True when the column needs no conversion: the right dtype, and nulls only if allowed."""
    dtype = series.dtype
    if spec.type == "float":
        kind_ok = pd.api.types.is_float_dtype(dtype)
    elif spec.type == "integer":
        kind_ok = pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    else:
        return False
    return bool(kind_ok and (spec.nullable or not series.isna().any()))


def _coerce_column(spec: ColumnSpec, series: pd.Series, pd: Any) -> pd.Series:
    nulls = int(series.isna().sum())
    if nulls and not spec.nullable:
        raise InvalidInput(
            f"column {spec.name!r} has {nulls} missing value(s); none were seen in training"
        )
    if spec.type in ("integer", "float"):
        converted = pd.to_numeric(series, errors="coerce")
        bad = series[converted.isna() & series.notna()]
        if len(bad) or pd.api.types.is_bool_dtype(series.dtype):
            example = bad.iloc[0] if len(bad) else series.iloc[0]
            raise InvalidInput(
                f"column {spec.name!r} must be {spec.type}, got {type(example).__name__} "
                f"value {example!r}"
            )
        if spec.type == "integer":
            present = converted.dropna()
            if len(present) and not (present == present.round()).all():
                example = present[present != present.round()].iloc[0]
                raise InvalidInput(f"column {spec.name!r} must be integer, got {example!r}")
            return converted if nulls else converted.astype("int64")
        return converted.astype("float64")
    if spec.type == "boolean":
        if (
            not pd.api.types.is_bool_dtype(series.dtype)
            and not series.dropna().isin([True, False]).all()
        ):
            raise InvalidInput(f"column {spec.name!r} must be boolean, got {series.iloc[0]!r}")
        return series
    if spec.type == "datetime":
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"column {spec.name!r} must be a date-time: {exc}") from exc
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        raise InvalidInput(f"column {spec.name!r} must be string, got number {series.iloc[0]!r}")
    return series
