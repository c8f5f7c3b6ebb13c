"""Per-feature statistics of a dataset, as TensorFlow Data Validation computes them.

A few passes, whatever the number of columns, over the data where it lies
(a DataFrame or Arrow table in place, files streamed):

1. SQL (DuckDB): counts and distinct counts of every column;
2. NumPy, over the numeric columns: min, max, mean, standard deviation (merged
   batch by batch), NaN and infinity counts, and a uniform sample for the
   quantiles;
3. NumPy again for the equal-width histograms (their edges need pass 2's
   range), and SQL for the value frequencies of categorical features.

Quantiles are exact up to ``QUANTILE_SAMPLE`` values and estimated from a
uniform sample of that size above (rank error about 0.3%); distinct counts
of numeric features are exact up to ``EXACT_UNIQUE_ROWS`` rows and a
HyperLogLog estimate above (``unique_exact`` says which). Categorical
distinct counts are exact unless a feature has more than ``MAP_LIMIT`` values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mlstage.data.frames import NUMERIC_TYPES, FeatureType, Frame, open_frame, quote

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
HISTOGRAM_BINS = 20
TOP_K = 20
QUANTILE_SAMPLE = 200_000
"""Values per feature the quantiles are computed from: all of them up to this many."""
QUANTILE_SEED = 20240601
EXACT_UNIQUE_ROWS = 100_000
MAP_LIMIT = 10_000
"""Categorical features with more distinct values (estimated) get their top values by GROUP BY."""


class Histogram(BaseModel):
    """Counts of finite values in ``len(counts)`` bins: bin i is [edges[i], edges[i+1]), the
    last one closed (NumPy's convention)."""

    model_config = ConfigDict(extra="forbid")

    edges: list[float]
    counts: list[int]


class ValueCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str
    count: int


class FeatureStatistics(BaseModel):
    """What one column holds. ``count`` is non-missing values, NaN included (as in TFDV)."""

    model_config = ConfigDict(extra="forbid")

    type: FeatureType
    count: int
    missing: int
    nan_count: int = 0
    inf_count: int = 0
    min: float | str | None = None
    """Smallest finite value; an ISO string for datetime features."""
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = Field(default_factory=dict)
    """``p1``, ``p5``, ``p25``, ``p50``, ``p75``, ``p95``, ``p99`` of the finite values."""
    histogram: Histogram | None = None
    top_values: list[ValueCount] = Field(default_factory=list)
    """The most frequent values of categorical features, most frequent first."""
    unique: int | None = None
    unique_exact: bool = True

    @property
    def presence(self) -> float:
        total = self.count + self.missing
        return self.count / total if total else 0.0


class DatasetStatistics(BaseModel):
    """Statistics of every feature of a dataset, in column order; JSON-serialisable."""

    model_config = ConfigDict(extra="forbid")

    num_rows: int
    features: dict[str, FeatureStatistics]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetStatistics:
        return cls.model_validate(data)


def quantile_key(q: float) -> str:
    return f"p{round(q * 100):d}"


def compute_statistics(data: Any) -> DatasetStatistics:
    """Statistics of a DataFrame, an Arrow table, or a CSV/Parquet file or Parquet folder."""
    frame = open_frame(data)
    try:
        return statistics_of(frame)
    finally:
        frame.con.close()


def statistics_of(frame: Frame) -> DatasetStatistics:
    """Statistics of a frame already registered on a DuckDB connection."""
    from mlstage.data.arrays import reusable_arrays

    first = _first_pass(frame)
    numeric = [n for n, s in first.items() if s.type in NUMERIC_TYPES and s.count > 0]
    arrays = reusable_arrays(frame, numeric)
    _numeric_moments(first, arrays(), frame.num_rows)
    _histograms(first, arrays())
    _second_pass(frame, first)
    return DatasetStatistics(num_rows=frame.num_rows, features=first)


# -- pass 1 ---------------------------------------------------------------------------


def _first_pass(frame: Frame) -> dict[str, FeatureStatistics]:
    """Counts and distinct counts of every column, the range of datetime ones (SQL)."""
    selects: list[str] = []
    layout: list[tuple[str, FeatureType, int]] = []  # column, type, number of values
    for name, ftype in frame.columns.items():
        col = quote(name)
        if ftype in NUMERIC_TYPES:
            exact = frame.num_rows <= EXACT_UNIQUE_ROWS
            distinct = f"count(DISTINCT {col})" if exact else f"approx_count_distinct({col})"
            parts = [f"count({col})", distinct]
        elif ftype == "datetime":
            parts = [f"count({col})", f"min({col})", f"max({col})"]
            parts.append(f"approx_count_distinct({col})")
        elif ftype in ("string", "bool"):
            parts = [f"count({col})", f"approx_count_distinct({col})"]
        else:
            parts = [f"count({col})"]
        selects += parts
        layout.append((name, ftype, len(parts)))
    values = frame.aggregate(selects)
    out: dict[str, FeatureStatistics] = {}
    pos = 0
    for name, ftype, width in layout:
        row = values[pos : pos + width]
        pos += width
        count = int(row[0] or 0)
        stats = FeatureStatistics(type=ftype, count=count, missing=frame.num_rows - count)
        if ftype in NUMERIC_TYPES:
            stats.unique = int(row[1] or 0)
            stats.unique_exact = frame.num_rows <= EXACT_UNIQUE_ROWS
        elif ftype == "datetime":
            stats.min, stats.max = _iso(row[1]), _iso(row[2])
            stats.unique, stats.unique_exact = int(row[3] or 0), False
        elif ftype in ("string", "bool"):
            stats.unique, stats.unique_exact = int(row[1] or 0), False  # exact after pass 2
        out[name] = stats
    return out


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return None if value is None else str(value)


class _Moments:
    """Running count, min, max, mean and sum of squared deviations (Chan et al.), NaN, infinity."""

    def __init__(self) -> None:
        self.n = 0
        self.lo = math.inf
        self.hi = -math.inf
        self.mean = 0.0
        self.m2 = 0.0
        self.not_nan = 0
        self.inf = 0
        self.samples: list[Any] = []

    def add(self, values: Any, sample_share: float, rng: Any) -> None:
        import numpy as np

        not_nan = int(values.size - np.count_nonzero(np.isnan(values)))
        finite_mask = np.isfinite(values)
        finite = values if finite_mask.all() else values[finite_mask]
        self.not_nan += not_nan
        self.inf += not_nan - int(finite.size)
        if finite.size == 0:
            return
        n_b = int(finite.size)
        mean_b = float(finite.mean())
        m2_b = float(np.square(finite - mean_b).sum())
        delta = mean_b - self.mean
        total = self.n + n_b
        self.m2 += m2_b + delta * delta * self.n * n_b / total
        self.mean += delta * n_b / total
        self.n = total
        self.lo = min(self.lo, float(finite.min()))
        self.hi = max(self.hi, float(finite.max()))
        if sample_share >= 1.0:
            self.samples.append(finite.copy() if finite is values else finite)
        else:
            size = min(n_b, max(1, round(n_b * sample_share)))
            self.samples.append(finite[rng.integers(0, n_b, size=size)])


def _numeric_moments(
    stats: dict[str, FeatureStatistics], arrays: Iterable[dict[str, Any]], num_rows: int
) -> None:
    """Range, mean, std, NaN/infinity counts and quantiles of numeric features (NumPy, one read).

    Quantiles come from a uniform sample of ``QUANTILE_SAMPLE`` values per feature:
    exact up to that many values, a rank error of about 0.3% above.
    """
    import numpy as np

    moments: dict[str, _Moments] = {}
    share = QUANTILE_SAMPLE / num_rows if num_rows else 1.0
    rng = np.random.default_rng(QUANTILE_SEED)
    for batch in arrays:
        for name, values in batch.items():
            moments.setdefault(name, _Moments()).add(values, share, rng)
    for name, m in moments.items():
        s = stats[name]
        s.nan_count = max(0, s.count - m.not_nan)
        s.inf_count = m.inf
        if m.n == 0:
            continue
        s.min, s.max, s.mean = m.lo, m.hi, m.mean
        s.std = math.sqrt(m.m2 / (m.n - 1)) if m.n > 1 else None
        sample = np.concatenate(m.samples)
        points = np.quantile(sample, QUANTILES)
        s.quantiles = {quantile_key(q): float(v) for q, v in zip(QUANTILES, points, strict=True)}


# -- pass 2 ---------------------------------------------------------------------------


def histogram_edges(lo: float, hi: float, bins: int = HISTOGRAM_BINS) -> list[float]:
    step = (hi - lo) / bins
    return [lo + i * step for i in range(bins)] + [hi]


def _second_pass(frame: Frame, stats: dict[str, FeatureStatistics]) -> None:
    selects: list[str] = []
    names: list[str] = []
    for name, s in stats.items():
        if s.type in ("string", "bool") and s.count > 0:
            if (s.unique or 0) <= MAP_LIMIT:
                selects.append(f"histogram({quote(name)})")
                names.append(name)
            else:
                _top_by_group(frame, name, s)
    for name, value in zip(names, frame.aggregate(selects), strict=True):
        s = stats[name]
        freq = {_label(k): int(v) for k, v in (value or {}).items()}
        s.unique, s.unique_exact = len(freq), True
        top = sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_K]
        s.top_values = [ValueCount(value=k, count=v) for k, v in top]


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _histograms(stats: dict[str, FeatureStatistics], arrays: Iterable[dict[str, Any]]) -> None:
    """Equal-width histograms of the finite values of numeric features (NumPy, one pass)."""
    from mlstage.data.arrays import bin_counts

    wanted: set[str] = set()
    for name, s in stats.items():
        finite = s.count - s.nan_count - s.inf_count
        if s.type not in NUMERIC_TYPES or finite <= 0:
            continue
        assert isinstance(s.min, float) and isinstance(s.max, float)
        if s.min == s.max:
            s.histogram = Histogram(edges=[s.min, s.max], counts=[finite])
        else:
            wanted.add(name)
    totals: dict[str, Any] = {}
    for batch in arrays:
        for name, values in batch.items():
            if name not in wanted:
                continue
            s = stats[name]
            assert isinstance(s.min, float) and isinstance(s.max, float)
            counts = bin_counts(values, s.min, s.max, HISTOGRAM_BINS, finite_only=True)
            totals[name] = counts if name not in totals else totals[name] + counts
    for name, counts in totals.items():
        s = stats[name]
        assert isinstance(s.min, float) and isinstance(s.max, float)
        edges = histogram_edges(s.min, s.max)
        s.histogram = Histogram(edges=edges, counts=[int(c) for c in counts])


def _top_by_group(frame: Frame, name: str, s: FeatureStatistics) -> None:
    rows, _, distinct = frame.value_counts(name, limit=TOP_K)
    s.top_values = [ValueCount(value=v, count=n) for v, n in rows]
    s.unique, s.unique_exact = distinct, True
