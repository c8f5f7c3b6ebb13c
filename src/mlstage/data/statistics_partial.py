"""Partial statistics of one partition, and how two partials merge (for ``statistics_dask``).

A partial is what one Dask task computes from its rows; partials merge two by
two in any order, so a tree of merges over thousands of partitions gives the
statistics of the whole. What merges exactly and what is estimated:

- counts, missing, NaN and infinity counts, min and max: exact;
- mean and standard deviation: Chan et al.'s parallel formulas on (count,
  mean, sum of squared deviations), equal to the one-process result up to
  floating-point rounding (a relative 1e-12 in practice);
- values of categorical (string, bool) features: exact counts per value,
  summed, so the top values and the distinct count are exact;
- distinct values of numeric features: the exact set of values when the
  dataset has at most ``EXACT_UNIQUE_ROWS`` rows (as in memory), else a
  HyperLogLog sketch (2**14 registers of the 64-bit hash, registers merged by
  maximum: a standard error of 0.8%); datetime features always use the sketch
  (in memory they use DuckDB's ``approx_count_distinct``);
- quantiles: every finite value up to ``QUANTILE_SAMPLE`` in the dataset
  (then exact, the very numbers the in-memory statistics compute), else a
  uniform sample of that size, drawn in each partition in proportion to its
  rows, as the in-memory statistics do (a rank error of about 0.3%).

Histograms need the global range first. Where the Parquet footers give every
row group's min and max (finite), the first pass counts the histograms over
that range, kept when the merged min and max agree with it; otherwise
``statistics_dask`` counts them in a second pass with the merged min and max.
Either way they are exact.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mlstage.data.frames import NUMERIC_TYPES, FeatureType
from mlstage.data.statistics import HISTOGRAM_BINS

HLL_PRECISION = 14
"""log2 of the HyperLogLog registers: 16,384 registers, a standard error of 1.04 / 128 = 0.8%."""
PIECE = 8_192
"""Values of a column worked on at a time (64 KiB of float64). Dask's nanny starts workers
with ``MALLOC_TRIM_THRESHOLD_=65536``: glibc then hands every larger freed array back to the
system, and whole-partition temporaries cost a page fault per 4 KiB page, every time (on
10,000,000 rows: 7 s of system time for 3 s of work). Small pieces reuse the same memory."""


@dataclass
class Plan:
    """What every task needs to know about the whole dataset before it starts."""

    columns: dict[str, FeatureType]
    sample_share: float
    """Share of each partition's finite values kept for the quantiles (1: all of them)."""
    exact_unique: bool
    """Distinct numeric values are collected exactly (small datasets), else sketched."""
    seed: int
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Finite min and max of numeric columns from the Parquet footers, where they tell:
    histograms over these are counted in the first pass, and kept if the merged range agrees."""


@dataclass
class NumericPart:
    count: int = 0
    not_nan: int = 0
    inf: int = 0
    n: int = 0
    lo: float = math.inf
    hi: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0
    samples: list[Any] = field(default_factory=list)
    distinct: Any = None
    """The distinct non-null values (an Arrow array) in exact mode."""
    hll: Any = None
    """HyperLogLog registers (uint8) otherwise."""
    bins: Any = None
    """Histogram counts over ``Plan.ranges`` (int64), when the plan has a range."""

    def merge(self, other: NumericPart) -> NumericPart:
        self.count += other.count
        self.not_nan += other.not_nan
        self.inf += other.inf
        if other.n:
            total = self.n + other.n
            delta = other.mean - self.mean
            self.m2 += other.m2 + delta * delta * self.n * other.n / total
            self.mean += delta * other.n / total
            self.n = total
            self.lo, self.hi = min(self.lo, other.lo), max(self.hi, other.hi)
        self.samples += other.samples
        self.distinct = _union(self.distinct, other.distinct)
        self.hll = _max_registers(self.hll, other.hll)
        if self.bins is not None and other.bins is not None:
            self.bins = self.bins + other.bins
        return self


@dataclass
class DatetimePart:
    count: int = 0
    lo: Any = None
    hi: Any = None
    hll: Any = None

    def merge(self, other: DatetimePart) -> DatetimePart:
        self.count += other.count
        if other.lo is not None:
            self.lo = other.lo if self.lo is None else min(self.lo, other.lo)
            self.hi = other.hi if self.hi is None else max(self.hi, other.hi)
        self.hll = _max_registers(self.hll, other.hll)
        return self


@dataclass
class CategoricalPart:
    count: int = 0
    freq: Counter[str] = field(default_factory=Counter)

    def merge(self, other: CategoricalPart) -> CategoricalPart:
        self.count += other.count
        self.freq.update(other.freq)
        return self


@dataclass
class OtherPart:
    count: int = 0

    def merge(self, other: OtherPart) -> OtherPart:
        self.count += other.count
        return self


Part = NumericPart | DatetimePart | CategoricalPart | OtherPart


@dataclass
class Partial:
    rows: int
    columns: dict[str, Part]


def merge_partials(*partials: Partial) -> Partial:
    """One partial of several (the first is updated in place)."""
    first, *rest = partials
    for other in rest:
        first.rows += other.rows
        for name, part in other.columns.items():
            first.columns[name] = first.columns[name].merge(part)  # type: ignore[arg-type]
    return first


# -- one partition ----------------------------------------------------------------------------


def partition_partial(table: Any, plan: Plan, number: int) -> Partial:
    """The partial statistics of one partition (an Arrow table)."""
    import numpy as np

    rng = np.random.default_rng([plan.seed, number])
    columns: dict[str, Part] = {}
    for name, ftype in plan.columns.items():
        array = table.column(name)
        count = len(array) - array.null_count
        if ftype in NUMERIC_TYPES:
            columns[name] = _numeric(array, count, plan, rng, plan.ranges.get(name))
        elif ftype == "datetime":
            columns[name] = _datetime(array, count)
        elif ftype in ("string", "bool"):
            columns[name] = _categorical(array, count)
        else:
            columns[name] = OtherPart(count=count)
    return Partial(rows=table.num_rows, columns=columns)


def _numeric(
    array: Any, count: int, plan: Plan, rng: Any, bounds: tuple[float, float] | None
) -> NumericPart:
    """One numeric column of a partition, ``PIECE`` values at a time (see ``PIECE``)."""
    import numpy as np
    import pyarrow.compute as pc

    from mlstage.data.arrays import _from_arrow, bin_counts

    values = _from_arrow(array)
    part = NumericPart(count=count)
    if bounds is not None:
        part.bins = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    for start in range(0, values.size, PIECE):
        piece = values[start : start + PIECE]
        not_nan = int(piece.size - np.count_nonzero(np.isnan(piece)))
        mask = np.isfinite(piece)
        finite = piece if mask.all() else piece[mask]
        part.not_nan += not_nan
        part.inf += not_nan - int(finite.size)
        if finite.size == 0:
            continue
        chunk = NumericPart(n=int(finite.size), mean=float(finite.mean()))
        chunk.m2 = float(np.square(finite - chunk.mean).sum())
        chunk.lo, chunk.hi = float(finite.min()), float(finite.max())
        if plan.sample_share >= 1.0:
            chunk.samples = [finite.copy()]
        else:
            size = min(chunk.n, max(1, round(chunk.n * plan.sample_share)))
            chunk.samples = [finite[rng.integers(0, chunk.n, size=size)]]
        if bounds is not None:
            part.bins += bin_counts(finite, *bounds, HISTOGRAM_BINS, finite_only=False)
        part.merge(chunk)
    present = array.drop_null()
    if plan.exact_unique:
        part.distinct = pc.unique(present)
    else:
        part.hll = hll_registers(present)
    return part


def _datetime(array: Any, count: int) -> DatetimePart:
    import pyarrow.compute as pc

    part = DatetimePart(count=count)
    if count:
        bounds = pc.min_max(array)
        part.lo, part.hi = bounds["min"].as_py(), bounds["max"].as_py()
    part.hll = hll_registers(array.drop_null())
    return part


def _categorical(array: Any, count: int) -> CategoricalPart:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = pc.cast(array, array.type.value_type)
    present = array.drop_null()
    counted = pc.value_counts(present)
    labels = [label(v) for v in counted.field("values").to_pylist()]
    freq = Counter(dict(zip(labels, counted.field("counts").to_pylist(), strict=True)))
    return CategoricalPart(count=count, freq=freq)


def label(value: Any) -> str:
    """A categorical value as text, as the in-memory statistics (DuckDB) write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _union(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.unique(pa.concat_arrays([a, b]))


# -- HyperLogLog -------------------------------------------------------------------------------


def hll_registers(array: Any) -> Any:
    """HyperLogLog registers of the distinct values of a non-null Arrow array."""
    import numpy as np
    import pandas as pd

    m = 1 << HLL_PRECISION
    values = array.to_numpy(zero_copy_only=False) if len(array) else np.empty(0)
    if values.dtype.kind in "mM":
        values = values.view(np.int64)
    registers = np.zeros(m, dtype=np.uint8)
    bits = 64 - HLL_PRECISION
    for start in range(0, values.size, PIECE):
        hashes = pd.util.hash_array(values[start : start + PIECE])
        index = (hashes >> np.uint64(bits)).astype(np.intp)
        rest = (hashes & np.uint64((1 << bits) - 1)).astype(np.float64)  # exact: under 2**53
        _, length = np.frexp(rest)  # the bit length of rest (0 for 0)
        rank = (bits + 1 - length).astype(np.uint8)  # the position of its first 1 bit
        np.maximum.at(registers, index, rank)
    return registers


def hll_estimate(registers: Any) -> int:
    """The number of distinct values a sketch saw (with the small-range correction)."""
    import numpy as np

    m = int(registers.size)
    alpha = 0.7213 / (1 + 1.079 / m)
    estimate = alpha * m * m / float(np.sum(np.ldexp(1.0, -registers.astype(np.int64))))
    zeros = int(np.count_nonzero(registers == 0))
    if estimate <= 2.5 * m and zeros:
        estimate = m * math.log(m / zeros)
    return round(estimate)


def _max_registers(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a if b is None else b
    import numpy as np

    return np.maximum(a, b)
