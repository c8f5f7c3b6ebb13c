"""Dataset statistics on a Dask cluster: Parquet partitions in, the same ``DatasetStatistics`` out.

For data larger than one machine's memory: ``dask.dataframe`` reads the
Parquet partitions (Arrow types kept, so a null and a NaN stay apart as in
the in-memory statistics), each worker turns its partitions into partial
statistics (``statistics_partial``), and the partials merge in a tree of
tasks; a second pass counts the histograms with the merged min and max. The
result has the shape and the meaning of ``compute_statistics``: the same
numbers for counts, missing, NaN, infinity, min, max, top values, categorical
distinct counts, histograms, and quantiles up to ``QUANTILE_SAMPLE`` values;
mean and standard deviation up to floating-point rounding; estimated
quantiles and distinct counts within their stated errors (see
``statistics_partial``). Feature types and the row count come from the
Parquet metadata through DuckDB, as in memory.

``executor="dask"`` starts a local cluster of worker processes;
``"tcp://host:8786"`` joins a running one (``pipelines.executors.cluster``).
Workers read the files themselves, so on a real cluster the path must be
visible to every worker (a shared file system). Dask is imported here only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from mlstage.data.frames import NUMERIC_TYPES, check_path, open_frame
from mlstage.data.statistics import (
    EXACT_UNIQUE_ROWS,
    HISTOGRAM_BINS,
    QUANTILE_SAMPLE,
    QUANTILE_SEED,
    QUANTILES,
    TOP_K,
    DatasetStatistics,
    FeatureStatistics,
    Histogram,
    ValueCount,
    _iso,
    histogram_edges,
    quantile_key,
)
from mlstage.data.statistics_partial import (
    CategoricalPart,
    DatetimePart,
    NumericPart,
    Partial,
    Plan,
    hll_estimate,
    merge_partials,
    partition_partial,
)
from mlstage.errors import InvalidInput

SPLIT_EVERY = 8
"""Partials merged by one task of the tree."""


def statistics_on_dask(path: str | Path, *, executor: str = "dask") -> DatasetStatistics:
    """Statistics of a Parquet file or folder of Parquet files, computed on a Dask cluster."""
    from mlstage.pipelines.executors.cluster import connect

    files = parquet_files(Path(path))
    frame = open_frame(Path(path))  # feature types and row count: Parquet metadata, as in memory
    try:
        columns, num_rows = dict(frame.columns), frame.num_rows
    finally:
        frame.con.close()
    plan = Plan(
        columns=columns,
        sample_share=QUANTILE_SAMPLE / num_rows if num_rows else 1.0,
        exact_unique=num_rows <= EXACT_UNIQUE_ROWS,
        seed=QUANTILE_SEED,
        ranges=footer_ranges(files, [n for n, t in columns.items() if t in NUMERIC_TYPES]),
    )
    try:
        import dask.dataframe  # noqa: F401
    except ImportError as exc:
        raise InvalidInput("statistics on Dask need dask: pip install 'mlstage[dask]'") from exc
    cluster = connect(executor, what="statistics on Dask")
    try:
        merged = _first_pass(files, plan, cluster.client)
        stats = _assemble(merged, plan)
        wanted = {
            name: (s.min, s.max)
            for name, s in stats.items()
            if s.type in NUMERIC_TYPES
            and s.histogram is None
            and isinstance(s.min, float)
            and isinstance(s.max, float)
        }
        if wanted:
            for name, counts in _histogram_pass(files, wanted, cluster.client).items():
                lo, hi = wanted[name]
                edges = histogram_edges(lo, hi)
                stats[name].histogram = Histogram(edges=edges, counts=[int(c) for c in counts])
    finally:
        cluster.close()
    return DatasetStatistics(num_rows=merged.rows, features=stats)


def parquet_files(path: Path) -> list[str]:
    """The Parquet files of a file or folder (the ones DuckDB reads), all with the same columns."""
    kind = check_path(path)
    if kind == "csv":
        raise InvalidInput(
            f"{path}: statistics on Dask read Parquet (a .parquet file or a folder of them); "
            "convert the CSV file, or drop --executor"
        )
    if kind == "parquet":
        return [str(path)]
    import pyarrow.parquet as pq

    files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
    first = pq.read_schema(files[0]).names
    for other in files[1:]:
        names = pq.read_schema(other).names
        if set(names) != set(first):
            raise InvalidInput(
                f"{path}: {other.relative_to(path)} has columns {sorted(names)}, but "
                f"{files[0].relative_to(path)} has {sorted(first)}; on Dask every file of the "
                "folder must have the same columns"
            )
    return [str(p) for p in files]


def footer_ranges(files: list[str], names: list[str]) -> dict[str, tuple[float, float]]:
    """Min and max of numeric columns from the Parquet footers, where every row group has them.

    Only finite ranges of more than one value; a column with no statistics, or
    with NaN or an infinity among them, is left out (its histogram takes a
    second pass). The first pass checks each range against the data.
    """
    import pyarrow.parquet as pq

    bounds: dict[str, tuple[float, float]] = {}
    unknown: set[str] = set()
    for path in files:
        meta = pq.ParquetFile(path).metadata
        where = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
        for group in range(meta.num_row_groups):
            row_group = meta.row_group(group)
            for name in names:
                if name in unknown:
                    continue
                stats = row_group.column(where[name]).statistics if name in where else None
                if stats is not None and stats.null_count == row_group.num_rows:
                    continue  # only nulls here: nothing to bound
                if stats is None or not stats.has_min_max:
                    unknown.add(name)
                    continue
                try:
                    lo, hi = float(stats.min), float(stats.max)
                except (TypeError, ValueError):
                    unknown.add(name)
                    continue
                if name in bounds:
                    lo, hi = min(lo, bounds[name][0]), max(hi, bounds[name][1])
                bounds[name] = (lo, hi)
    return {
        name: (lo, hi)
        for name, (lo, hi) in bounds.items()
        if name not in unknown and math.isfinite(lo) and math.isfinite(hi) and lo < hi
    }


def _tree(items: list[Any], combine: Any) -> Any:
    """The delayed result of combining ``items`` in a tree, ``SPLIT_EVERY`` at a time."""
    from dask.delayed import delayed

    while len(items) > 1:
        items = [
            delayed(combine, pure=True)(*items[i : i + SPLIT_EVERY])
            for i in range(0, len(items), SPLIT_EVERY)
        ]
    return items[0]


def _first_pass(files: list[str], plan: Plan, client: Any) -> Partial:
    import dask.dataframe as dd
    from dask.delayed import delayed

    frame = dd.read_parquet(files, columns=list(plan.columns), dtype_backend="pyarrow")
    parts = [
        delayed(_partition_partial, pure=True)(part, plan, number)
        for number, part in enumerate(frame.to_delayed())
    ]
    result: Partial = client.compute(_tree(parts, merge_partials)).result()
    return result


def _partition_partial(part: Any, plan: Plan, number: int) -> Partial:
    import pyarrow as pa

    table = pa.Table.from_pandas(part, preserve_index=False)
    return partition_partial(table, plan, number)


def _histogram_pass(
    files: list[str], ranges: dict[str, tuple[float, float]], client: Any
) -> dict[str, Any]:
    import dask.dataframe as dd
    from dask.delayed import delayed

    frame = dd.read_parquet(files, columns=list(ranges), dtype_backend="pyarrow")
    parts = [delayed(_partition_bins, pure=True)(part, ranges) for part in frame.to_delayed()]
    result: dict[str, Any] = client.compute(_tree(parts, _sum_bins)).result()
    return result


def _partition_bins(part: Any, ranges: dict[str, tuple[float, float]]) -> dict[str, Any]:
    import pyarrow as pa

    from mlstage.data.arrays import _from_arrow, bin_counts

    table = pa.Table.from_pandas(part, preserve_index=False)
    return {
        name: bin_counts(_from_arrow(table.column(name)), lo, hi, HISTOGRAM_BINS, finite_only=True)
        for name, (lo, hi) in ranges.items()
    }


def _sum_bins(*counts: dict[str, Any]) -> dict[str, Any]:
    first = dict(counts[0])
    for other in counts[1:]:
        for name, values in other.items():
            first[name] = first[name] + values
    return first


def _assemble(merged: Partial, plan: Plan) -> dict[str, FeatureStatistics]:
    """The statistics of every feature from the merged partial, as ``statistics_of`` builds them."""
    out: dict[str, FeatureStatistics] = {}
    for name, ftype in plan.columns.items():
        part = merged.columns[name]
        s = FeatureStatistics(type=ftype, count=part.count, missing=merged.rows - part.count)
        if isinstance(part, NumericPart):
            _numeric(s, part, plan.ranges.get(name), plan)
        elif isinstance(part, DatetimePart):
            s.min, s.max = _iso(part.lo), _iso(part.hi)
            s.unique, s.unique_exact = hll_estimate(part.hll), False
        elif isinstance(part, CategoricalPart):
            if part.count == 0:
                s.unique, s.unique_exact = 0, False  # as in memory: nothing to count exactly
            else:
                top = sorted(part.freq.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_K]
                s.top_values = [ValueCount(value=k, count=v) for k, v in top]
                s.unique, s.unique_exact = len(part.freq), True
        out[name] = s
    return out


def _numeric(
    s: FeatureStatistics, part: NumericPart, bounds: tuple[float, float] | None, plan: Plan
) -> None:
    import numpy as np

    if plan.exact_unique:
        s.unique = 0 if part.distinct is None else len(part.distinct)
    else:
        s.unique = hll_estimate(part.hll)
    s.unique_exact = plan.exact_unique
    if part.count == 0:
        return
    s.nan_count = max(0, part.count - part.not_nan)
    s.inf_count = part.inf
    if part.n == 0:
        return
    s.min, s.max, s.mean = part.lo, part.hi, part.mean
    s.std = math.sqrt(part.m2 / (part.n - 1)) if part.n > 1 else None
    points = np.quantile(np.concatenate(part.samples), QUANTILES)
    s.quantiles = {quantile_key(q): float(v) for q, v in zip(QUANTILES, points, strict=True)}
    if part.lo == part.hi:
        s.histogram = Histogram(edges=[part.lo, part.hi], counts=[part.n])
    elif part.bins is not None and bounds == (part.lo, part.hi):  # the footers told the truth
        edges = histogram_edges(part.lo, part.hi)
        s.histogram = Histogram(edges=edges, counts=[int(c) for c in part.bins])
