"""Point-in-time correct joins of entity rows to feature views (the offline store).

For each entity row and each view, the value joined is that of the latest
feature row of the same entity whose event timestamp is at or before the
entity row's timestamp, and not older than the view's TTL; never a row from
after it. Every entity row is kept, duplicates included, in its order; a row
with no match gets nulls.

Two engines compute the same thing. ``"arrow"`` (the default) is an as-of
join by sort and binary search: the source's key and timestamp columns are
packed into one sortable int64 per row (entity code, then time), sorted once,
and every entity row finds its match with one ``searchsorted``; the feature
columns are then gathered with one Arrow ``take``. ``"duckdb"`` is DuckDB's
``ASOF LEFT JOIN`` over the same inputs; it stays as the cross-check, and for
sources too big to read into memory at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput
from mlstage.features.refs import ViewRequest, parse_refs
from mlstage.features.sources import source_files

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlstage.features.definitions import ViewRecord

ENGINES = ("arrow", "duckdb")
_NULL = -(2**63)


def get_historical_features(
    entity_df: pd.DataFrame,
    features: Sequence[str],
    views: dict[str, ViewRecord],
    *,
    timestamp_column: str = "event_timestamp",
    full_feature_names: bool = False,
    engine: str = "arrow",
) -> pd.DataFrame:
    """``entity_df`` with one column per feature reference, joined point-in-time correctly."""
    import pandas as pd

    if not isinstance(entity_df, pd.DataFrame):
        raise InvalidInput(f"entity_df must be a pandas DataFrame, got {type(entity_df).__name__}")
    if engine not in ENGINES:
        raise InvalidInput(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    requests = parse_refs(features, views, full_feature_names=full_feature_names)
    if timestamp_column not in entity_df.columns:
        raise InvalidInput(
            f"entity_df has no timestamp column {timestamp_column!r} "
            f"(columns: {', '.join(map(str, entity_df.columns))}); pass timestamp_column="
        )
    for request in requests:
        for key in request.view.join_keys:
            if key not in entity_df.columns:
                raise InvalidInput(
                    f"entity_df has no column {key!r}, the join key of feature view "
                    f"{request.view.name!r}"
                )
        clash = [o for o in request.outputs if o in entity_df.columns]
        if clash:
            raise InvalidInput(
                f"entity_df already has column(s) {', '.join(clash)}; rename them or pass "
                "full_feature_names=True"
            )
    times = entity_micros(entity_df[timestamp_column], timestamp_column)
    parts = []
    for request in requests:
        if engine == "duckdb":
            parts.append(_join_duckdb(entity_df, times, request))
        else:
            parts.append(_join_arrow(entity_df, times, request))
    return pd.concat([entity_df, *parts], axis=1)


# -- timestamps and keys ----------------------------------------------------------------


def entity_micros(series: pd.Series, column: str) -> np.ndarray:
    """Entity timestamps as int64 microseconds since the epoch (UTC; naive ones are UTC)."""
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        try:
            series = pd.to_datetime(series, utc=True)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"entity_df column {column!r} must hold timestamps: {exc}") from None
    if getattr(series.dtype, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    values = series.to_numpy(dtype="datetime64[us]")
    out = values.view(np.int64).copy()
    out[np.isnat(values)] = _NULL
    return out  # type: ignore[no-any-return]


def arrow_micros(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp (or date) column as int64 microseconds since the epoch; nulls as ``_NULL``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_date(kind):
        column = column.cast(pa.timestamp("us"))
    elif kind.unit != "us":
        column = column.cast(pa.timestamp("us", tz=kind.tz), safe=False)
    ints = column.cast(pa.int64())
    if ints.null_count:
        ints = pc.fill_null(ints, _NULL)
    return ints.to_numpy()  # type: ignore[no-any-return]


def _entity_keys(series: pd.Series, dtype: str, key: str, view: str) -> tuple[Any, Any]:
    """Entity key values as an array comparable with the source's, and their null mask."""
    import numpy as np
    import pandas as pd

    if dtype == "string":
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
            series.dtype
        ):
            raise InvalidInput(
                f"entity_df column {key!r} holds numbers but the join key of feature view "
                f"{view!r} is a string"
            )
        mask = series.isna().to_numpy()
        values = series.astype(object).to_numpy()
        return values, mask
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        try:
            series = pd.to_numeric(series)
        except (ValueError, TypeError):
            raise InvalidInput(
                f"entity_df column {key!r} must hold integers, the join key type of feature view "
                f"{view!r}; got {series.dtype}"
            ) from None
    if pd.api.types.is_integer_dtype(series.dtype) and not series.hasnans:
        return series.to_numpy(dtype=np.int64), np.zeros(len(series), dtype=bool)
    floats = series.to_numpy(dtype=np.float64, na_value=np.nan)
    mask = ~np.isfinite(floats) | (floats != np.floor(floats))
    ints = np.where(mask, 0, floats).astype(np.int64)
    return ints, mask


def _source_keys(column: pa.ChunkedArray, dtype: str) -> tuple[Any, Any]:
    import numpy as np
    import pyarrow as pa

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    mask = column.is_null().to_numpy(zero_copy_only=False)
    if dtype == "string":
        return column.to_numpy(zero_copy_only=False), mask
    if column.null_count:
        column = column.fill_null(0)
    return column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), mask


def _codes(
    entity_df: pd.DataFrame, table: pa.Table, view: ViewRecord
) -> tuple[np.ndarray, np.ndarray, int]:
    """One dense int64 code per entity (equal keys, equal codes) on both sides; -1: null key."""
    import numpy as np
    import pandas as pd

    n = len(entity_df)
    ecode: np.ndarray | None = None
    fcode: np.ndarray | None = None
    count = 1
    for key, dtype in zip(view.join_keys, view.key_dtypes, strict=True):
        evalues, emask = _entity_keys(entity_df[key], dtype, key, view.name)
        fvalues, fmask = _source_keys(table.column(key), dtype)
        both = np.concatenate([evalues, fvalues])
        codes, size = _dense(both) if dtype != "string" else (None, 0)
        if codes is None:
            codes, uniques = pd.factorize(both, use_na_sentinel=True)
            codes, size = codes.astype(np.int64, copy=False), len(uniques)
        codes[np.concatenate([emask, fmask])] = -1
        if ecode is None or fcode is None:
            combined = codes
        else:
            previous = np.concatenate([ecode, fcode])
            combined = np.where((previous < 0) | (codes < 0), -1, previous * max(size, 1) + codes)
            if len(view.join_keys) > 2:
                combined, _ = pd.factorize(combined)  # keeps -1 as the null sentinel
                combined = combined.astype(np.int64, copy=False)
        count = int(combined.max()) + 1 if len(combined) else 1
        ecode, fcode = combined[:n], combined[n:]
    assert ecode is not None and fcode is not None
    return ecode, fcode, max(count, 1)


def _dense(values: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Integer keys in a narrow range are their own codes (offset): no hashing needed."""
    import numpy as np

    if not len(values):
        return np.zeros(0, dtype=np.int64), 1
    low, high = int(values.min()), int(values.max())
    if high - low >= 1 << 24:
        return None, 0
    return values - low, high - low + 1


# -- the arrow engine --------------------------------------------------------------------


def read_source(view: ViewRecord, columns: list[str]) -> pa.Table:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = source_files(view.source)
    if len(files) == 1:
        return pq.read_table(files[0], columns=columns, memory_map=True)
    return ds.dataset(files, format="parquet").to_table(columns=columns)  # one table of all


def _join_arrow(entity_df: pd.DataFrame, etimes: np.ndarray, request: ViewRequest) -> pd.DataFrame:
    import numpy as np

    view = request.view
    table = read_source(view, [*view.join_keys, view.timestamp_field, *request.features])
    ecode, fcode, count = _codes(entity_df, table, view)
    ftimes = arrow_micros(table.column(view.timestamp_field))
    fvalid = (fcode >= 0) & (ftimes != _NULL)
    evalid = (ecode >= 0) & (etimes != _NULL)
    if not fvalid.all():
        keep = np.flatnonzero(fvalid)
        fcode, ftimes = fcode[keep], ftimes[keep]
    else:
        keep = None
    rows = np.full(len(entity_df), -1, dtype=np.int64)
    if len(fcode) and evalid.any():
        lo = int(min(ftimes.min(), etimes[evalid].min()))
        hi = int(max(ftimes.max(), etimes[evalid].max()))
        span = hi - lo + 1
        if count * span < 2**62:
            fpacked = fcode * span + (ftimes - lo)
            epacked = ecode * span + (np.where(evalid, etimes, lo) - lo)
        else:  # too wide to pack: rank the timestamps first (one more sort)
            ranks = np.unique(np.concatenate([ftimes, etimes[evalid]]))
            span = len(ranks)
            fpacked = fcode * span + np.searchsorted(ranks, ftimes)
            epacked = ecode * span + np.searchsorted(ranks, np.where(evalid, etimes, ranks[0]))
        # Entity rows looked up in sorted order: the binary searches then walk memory forwards.
        by_time = np.argsort(epacked)
        in_order, hits = _latest_at_or_before(fpacked, epacked[by_time])
        matched, found = np.empty_like(in_order), np.empty_like(hits)
        matched[by_time], found[by_time] = in_order, hits
        found &= evalid
        matched = np.where(found, matched, 0)
        found &= fcode[matched] == ecode
        if view.ttl_seconds > 0:
            found &= etimes - ftimes[matched] <= int(view.ttl_seconds * 1_000_000)
        if keep is not None:
            matched = keep[matched]
        rows = np.where(found, matched, -1)
    return _gather(table, request, rows, entity_df.index)


PARALLEL_FROM = 200_000
"""Sources of at least this many rows are sorted in parts, one thread each (NumPy sorts
without holding the GIL): the sort is most of the join."""


def _latest_at_or_before(fpacked: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``wanted`` (ascending), the source row with the greatest packed value at or
    below it, and whether there is one; of equal values the last source row wins, always.

    The source is cut into contiguous parts, each sorted on its own thread and searched on
    its own; per wanted value the best candidate of the parts wins, a later part on a tie.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    workers = min(os.cpu_count() or 1, 4) if len(fpacked) >= PARALLEL_FROM else 1
    bounds = np.linspace(0, len(fpacked), workers + 1).astype(np.int64)

    def search(part: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        start, stop = int(bounds[part]), int(bounds[part + 1])
        values = fpacked[start:stop]
        order = np.argsort(values)
        ordered = values[order]
        pos = np.searchsorted(ordered, wanted, side="right") - 1
        hit = pos >= 0
        pos = np.where(hit, pos, 0)
        ties = ordered[1:] == ordered[:-1]
        if ties.any():
            # A match is the last position of its run of equal values: give that slot the
            # run's latest source row.
            starts = np.flatnonzero(np.concatenate(([True], ~ties)))
            order = order.copy()
            order[np.flatnonzero(np.concatenate((~ties, [True])))] = np.maximum.reduceat(
                order, starts
            )
        best = np.where(hit, ordered[pos], np.iinfo(np.int64).min)
        return order[pos] + start, best, hit

    if workers == 1:
        rows, _, found = search(0)
        return rows, found
    with ThreadPoolExecutor(workers, thread_name_prefix="mlstage-pit") as pool:
        parts = list(pool.map(search, range(workers)))
    rows, best, found = parts[0]
    for part_rows, part_best, part_hit in parts[1:]:
        better = part_hit & (~found | (part_best >= best))  # a later part wins a tie
        rows = np.where(better, part_rows, rows)
        best = np.where(better, part_best, best)
        found |= part_hit
    return rows, found


def _gather(table: pa.Table, request: ViewRequest, rows: np.ndarray, index: Any) -> pd.DataFrame:
    """The matched source rows' features (nulls where ``rows`` is -1), one column each.

    Numeric columns go through NumPy fancy indexing (a miss becomes NaN, so
    integers with a miss turn float, as Arrow's own conversion does); other
    types through Arrow's ``take``.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    missing = rows < 0
    any_missing = bool(missing.any())
    safe = np.where(missing, 0, rows) if any_missing else rows
    indices: pa.Array | None = None
    columns: dict[str, Any] = {}
    for feature, output in zip(request.features, request.outputs, strict=True):
        column = table.column(feature)
        kind = column.type
        if pa.types.is_floating(kind) or (pa.types.is_integer(kind) and not column.null_count):
            values = (
                column.to_numpy()[safe]
                if len(column)
                else np.zeros(len(rows), dtype=kind.to_pandas_dtype())
            )
            if any_missing:
                values = values.astype(np.float64, copy=False)
                values[missing] = np.nan
            columns[output] = values
            continue
        if indices is None:
            indices = pa.array(rows, mask=missing)
        columns[output] = column.take(indices).to_pandas()
    frame = pd.DataFrame(columns, copy=False)
    frame.index = index
    return frame


# -- the DuckDB engine -------------------------------------------------------------------


def _join_duckdb(entity_df: pd.DataFrame, etimes: np.ndarray, request: ViewRequest) -> pd.DataFrame:
    import duckdb
    import numpy as np
    import pandas as pd

    view = request.view
    keys = {f"k{i}": entity_df[k].to_numpy() for i, k in enumerate(view.join_keys)}
    frame = pd.DataFrame(
        {
            **keys,
            "ts": pd.arrays.IntegerArray(etimes, etimes == _NULL),
            "row": np.arange(len(entity_df), dtype=np.int64),
        }
    )
    key_select = ", ".join(f'"{k}" AS k{i}' for i, k in enumerate(view.join_keys))
    feature_select = ", ".join(f'"{f}" AS f{i}' for i, f in enumerate(request.features))
    raw_keys = ", ".join(f'"{k}"' for k in view.join_keys)
    on = " AND ".join(f"e.k{i} = f.k{i}" for i in range(len(view.join_keys)))
    ttl = int(view.ttl_seconds * 1_000_000)
    within = f"e.ts - f.ts <= {ttl}" if ttl > 0 else "TRUE"
    outputs = ", ".join(
        f'CASE WHEN {within} THEN f.f{i} END AS "{name}"' for i, name in enumerate(request.outputs)
    )
    sql = f"""
        SELECT {outputs}
        FROM (SELECT k0{"".join(f", k{i}" for i in range(1, len(keys)))},
                     ts, row FROM entity_frame) e
        ASOF LEFT JOIN (
            SELECT {key_select}, epoch_us("{view.timestamp_field}") AS ts, {feature_select}
            FROM read_parquet(?, filename = true, file_row_number = true)
            QUALIFY row_number() OVER (
                PARTITION BY {raw_keys}, "{view.timestamp_field}"
                ORDER BY filename DESC, file_row_number DESC
            ) = 1
        ) f ON {on} AND e.ts >= f.ts
        ORDER BY e.row
    """  # noqa: S608 - identifiers are checked names; values are parameters
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("entity_frame", frame)
        out = con.execute(sql, [source_files(view.source)]).df()
    finally:
        con.close()
    out.index = entity_df.index
    return out
