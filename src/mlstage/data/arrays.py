"""Numeric columns as NumPy arrays, and equal-width histograms counted with ``bincount``.

DuckDB's histogram aggregates search the bin of every value; NumPy computes
it: ``(x - lo) / width``, floored and clipped, then one ``bincount``, about
ten times faster on the same data. A pandas frame's float columns are read
in place (no copy); an Arrow table's columns are converted once; files are
read piece by piece (Parquet by Arrow, one column of one row group at a
time; CSV through DuckDB in batches of rows), so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from mlstage.data.frames import Frame, quote

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Floats = npt.NDArray[np.float64]
    Ints = npt.NDArray[np.int64]

BATCH_ROWS = 500_000
CACHE_BYTES = 128 * 1024 * 1024
"""Numeric columns of a file read more than once are kept in memory up to this size."""


def numeric_arrays(frame: Frame, names: list[str]) -> Iterator[dict[str, Floats]]:
    """The columns as float64 arrays, missing values as NaN: all at once, or in pieces.

    A piece is a dict of some columns' next values: all columns of a batch of
    rows (CSV through DuckDB), or one column of one row group (Parquet).
    """
    if not names:
        return
    data = frame.data
    module = type(data).__module__
    if module.startswith("pandas"):
        yield {name: _from_pandas(data[name]) for name in names}
        return
    if module.startswith("pyarrow"):
        yield {name: _from_arrow(data.column(name)) for name in names}
        return
    files = _parquet_files(frame.parquet, names) if frame.parquet is not None else None
    if files is not None:
        for name in names:  # one column chunk in memory at a time
            for file in files:
                for group in range(file.num_row_groups):
                    chunk = file.read_row_group(group, columns=[name], use_threads=False)
                    yield {name: _from_arrow(chunk.column(0))}
        return
    query = f"SELECT {', '.join(quote(n) for n in names)} FROM {frame.table}"  # noqa: S608
    for batch in frame.con.sql(query).to_arrow_reader(BATCH_ROWS):
        yield {name: _from_arrow(batch.column(i)) for i, name in enumerate(names)}


def _parquet_files(path: str, names: list[str]) -> list[Any] | None:
    """The Parquet files to read batch by batch (no read-ahead), or None if one lacks a column."""
    from pathlib import Path

    import pyarrow.parquet as pq

    root = Path(path)
    paths = sorted(p for p in root.rglob("*.parquet") if p.is_file()) if root.is_dir() else [root]
    files = [pq.ParquetFile(p) for p in paths]
    if all(set(names) <= set(f.schema_arrow.names) for f in files):
        return files
    return None  # columns differ between files: DuckDB unites them by name


def reusable_arrays(frame: Frame, names: list[str]) -> Callable[[], Iterable[dict[str, Floats]]]:
    """``numeric_arrays`` for several passes: files small enough are read once and kept."""
    if frame.data is not None or frame.num_rows * len(names) * 8 > CACHE_BYTES:
        return lambda: numeric_arrays(frame, names)
    cached = list(numeric_arrays(frame, names))
    return lambda: cached


def _from_pandas(series: Any) -> Floats:
    import numpy as np

    if series.dtype == np.float64:
        return series.to_numpy()  # type: ignore[no-any-return]
    return series.to_numpy(dtype=np.float64, na_value=np.nan)  # type: ignore[no-any-return]


def _from_arrow(array: Any) -> Floats:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.float64():
        array = pc.cast(array, pa.float64())
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)


def bin_counts(values: Floats, lo: float, hi: float, bins: int, *, finite_only: bool) -> Ints:
    """Counts in ``bins`` equal-width bins over [lo, hi]: bin i is [e_i, e_i+1), the last closed.

    NaN is never counted. With ``finite_only`` infinities are not either; else
    values outside [lo, hi] (infinities included) fall in the two outer bins.
    """
    import numpy as np

    keep = np.isfinite(values) if finite_only else ~np.isnan(values)
    v = values if keep.all() else values[keep]
    if hi <= lo:
        return np.array([v.size], dtype=np.int64)
    position = (v - lo) * (bins / (hi - lo))
    np.clip(position, 0, bins - 1, out=position)
    return np.bincount(position.astype(np.intp), minlength=bins).astype(np.int64)


def constant_counts(values: Floats, value: float) -> Ints:
    """Counts below, at, and above ``value`` (a reference that holds one value)."""
    import numpy as np

    v = values[~np.isnan(values)]
    return np.array([(v < value).sum(), (v == value).sum(), (v > value).sum()], dtype=np.int64)


def finite_range(arrays: Iterator[dict[str, Floats]]) -> dict[str, tuple[float, float]]:
    """Smallest and largest finite value of each column (columns with none are left out)."""
    import numpy as np

    out: dict[str, tuple[float, float]] = {}
    for batch in arrays:
        for name, values in batch.items():
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                continue
            lo, hi = float(finite.min()), float(finite.max())
            if name in out:
                lo, hi = min(lo, out[name][0]), max(hi, out[name][1])
            out[name] = (lo, hi)
    return out
