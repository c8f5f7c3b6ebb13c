"""Drift between two datasets, and training-serving skew, feature by feature.

``compare(reference, current)`` compares each feature's distribution with
TFDV's comparators by default: the L-infinity distance of value shares for
categorical features and the Jensen-Shannon divergence of histograms for
numeric ones; PSI, Kolmogorov-Smirnov and chi-square can be chosen per call
or per feature in the schema (``drift:`` / ``skew:`` comparators, with their
thresholds). ``skew(training, serving)`` is the same comparison framed as
training-serving skew, using the schema's ``skew`` comparators.

The data is scanned by DuckDB where it lies: the current data once (its
histograms on the reference's bins, its value counts), the reference twice
(its range, which fixes the bins, then its histograms and counts). Numeric
bins are equal-width over the reference's finite range, the outer two open
so that current values outside that range are counted, not dropped; NumPy
counts them (``mlstage.data.arrays``), DuckDB counts categories.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlstage.data.distances import COMPARATORS, TESTS
from mlstage.data.frames import CATEGORICAL_TYPES, NUMERIC_TYPES, FeatureType, Frame, quote
from mlstage.data.schema import DEFAULT_THRESHOLDS, METHODS, Method, Schema, load_schema
from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt

NUMERIC_BINS = 20
KS_BINS = 100
"""KS is computed at bin edges: finer bins bring it closer to the exact statistic."""
MAX_SHOWN_VALUES = 30
"""Categorical values kept in a report (the largest shares); the rest are summed as ``(other)``."""
OTHER = "(other)"


class FeatureDrift(BaseModel):
    """One feature's comparison: score, threshold, verdict, and the two distributions."""

    model_config = ConfigDict(extra="forbid")

    feature: str
    type: FeatureType
    method: Method
    threshold: float
    score: float
    """The distance (linf, jsd, psi) or the test statistic (ks, chi2)."""
    p_value: float | None = None
    drifted: bool
    bins: list[str]
    """Value or bin labels, in order."""
    reference_shares: list[float]
    current_shares: list[float]
    reference_count: int
    current_count: int
    reference_missing: int
    current_missing: int
    note: str = ""


class DriftReport(BaseModel):
    """Per-feature results and the overall verdict; ``to_dict``, ``to_json`` and ``to_html``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["drift", "skew"] = "drift"
    reference_label: str = "reference"
    current_label: str = "current"
    reference_rows: int
    current_rows: int
    features: dict[str, FeatureDrift]
    skipped: dict[str, str] = Field(default_factory=dict)
    """Features not compared, with the reason (absent on one side, no values, type)."""
    drift_share: float
    """Share of drifted features at or above which the dataset counts as drifted."""

    @property
    def drifted_features(self) -> list[str]:
        return [name for name, f in self.features.items() if f.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    @property
    def drifted(self) -> bool:
        return bool(self.drifted_features) and self.share >= self.drift_share

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        summary = {
            "drifted": self.drifted,
            "share": self.share,
            "drifted_features": self.drifted_features,
        }
        return {"kind": data.pop("kind"), **summary, **data}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(_finite(self.to_dict()), indent=indent)

    def to_html(self, title: str | None = None) -> str:
        from mlstage.data.drift_html import render_html

        return render_html(self, title)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


def compare(
    reference: Any,
    current: Any,
    schema: Schema | str | Path | None = None,
    method: str | None = None,
    *,
    threshold: float | None = None,
) -> DriftReport:
    """Compare ``current`` with ``reference`` feature by feature (each anything
    ``compute_statistics`` takes).

    ``method`` (linf, jsd, psi, ks, chi2) applies to every feature and
    ``threshold`` overrides every threshold; otherwise each feature uses the
    schema's ``drift`` comparator, else the default for its type.
    """
    return _run("drift", reference, current, schema, method, threshold)


def skew(
    training: Any,
    serving: Any,
    schema: Schema | str | Path | None = None,
    method: str | None = None,
    *,
    threshold: float | None = None,
) -> DriftReport:
    """Training-serving skew: ``serving`` inputs compared with ``training`` data.

    The same comparators as ``compare``, taken from the schema's ``skew``
    comparators.
    """
    return _run("skew", training, serving, schema, method, threshold)


def _run(
    kind: Literal["drift", "skew"],
    reference: Any,
    current: Any,
    schema: Schema | str | Path | None,
    method: str | None,
    threshold: float | None,
) -> DriftReport:
    import duckdb

    from mlstage.config import get_settings
    from mlstage.data.frames import open_frame

    if method is not None and method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if threshold is not None and not (threshold >= 0 and math.isfinite(threshold)):
        raise InvalidInput(f"threshold must be a finite number >= 0; got {threshold!r}")
    if schema is not None and not isinstance(schema, Schema):
        schema = load_schema(schema)
    con = duckdb.connect()
    try:
        ref = open_frame(reference, "reference", con)
        cur = open_frame(current, "current", con)
        plan = _plan(kind, ref, cur, schema, method, threshold)
        results = _compute(ref, cur, plan.features)
    finally:
        con.close()
    return DriftReport(
        kind=kind,
        reference_label=ref.label,
        current_label=cur.label,
        reference_rows=ref.num_rows,
        current_rows=cur.num_rows,
        features=results,
        skipped=plan.skipped,
        drift_share=get_settings().drift_share,
    )


class _Spec:
    """What to compare for one feature: its type, method, threshold, and a note."""

    def __init__(self, ftype: FeatureType, method: Method, threshold: float, note: str) -> None:
        self.type = ftype
        self.method = method
        self.threshold = threshold
        self.note = note
        self.bins = NUMERIC_BINS
        self.range: tuple[float, float] | None = None
        """The reference's finite min and max: bins are equal-width over it, the outer two open."""


class _Plan:
    def __init__(self) -> None:
        self.features: dict[str, _Spec] = {}
        self.skipped: dict[str, str] = {}


def _plan(
    kind: str,
    ref: Frame,
    cur: Frame,
    schema: Schema | None,
    method: str | None,
    threshold: float | None,
) -> _Plan:
    from mlstage.data.schema import default_comparator

    plan = _Plan()
    for name, rtype in ref.columns.items():
        ctype = cur.columns.get(name)
        if ctype is None:
            plan.skipped[name] = f"not in the {'serving' if kind == 'skew' else 'current'} data"
            continue
        numeric = rtype in NUMERIC_TYPES and ctype in NUMERIC_TYPES
        categorical = rtype in CATEGORICAL_TYPES and ctype == rtype
        if not (numeric or categorical):
            why = f"type {rtype}" if rtype == ctype else f"type {rtype} vs {ctype}"
            plan.skipped[name] = f"not comparable ({why})"
            continue
        ftype: FeatureType = "float" if numeric and "float" in (rtype, ctype) else rtype
        feature = schema.features.get(name) if schema is not None else None
        configured = (feature.skew if kind == "skew" else feature.drift) if feature else None
        fallback = default_comparator(ftype)
        assert fallback is not None
        chosen = method or (configured.method if configured else fallback.method)
        note = ""
        if chosen == "ks" and categorical:
            chosen, note = "chi2", "ks applies to ordered values only: chi2 used instead"
        limit = threshold
        if limit is None and configured is not None and configured.method == chosen:
            limit = configured.threshold
        if limit is None:
            limit = fallback.threshold if fallback.method == chosen else DEFAULT_THRESHOLDS[chosen]
        plan.features[name] = _Spec(ftype, chosen, limit, note)  # type: ignore[arg-type]
    for name in cur.columns:
        if name not in ref.columns:
            plan.skipped[name] = f"not in the {'training' if kind == 'skew' else 'reference'} data"
    return plan


# -- scans ----------------------------------------------------------------------------


def _compute(ref: Frame, cur: Frame, specs: dict[str, _Spec]) -> dict[str, FeatureDrift]:
    import numpy as np

    from mlstage.data.arrays import finite_range, reusable_arrays

    numeric = [n for n, s in specs.items() if s.type in NUMERIC_TYPES]
    ref_arrays = reusable_arrays(ref, numeric)
    ranges = finite_range(iter(ref_arrays()))
    for name in numeric:
        spec = specs[name]
        spec.bins = KS_BINS if spec.method == "ks" else NUMERIC_BINS
        spec.range = ranges.get(name)
    ref_present, ref_values = _scan(ref, specs, ref_arrays())
    cur_present, cur_values = _scan(cur, specs, None)
    out: dict[str, FeatureDrift] = {}
    for name, spec in specs.items():
        r_values, c_values = ref_values[name], cur_values[name]
        if isinstance(r_values, dict) and isinstance(c_values, dict):
            labels = sorted(set(r_values) | set(c_values))
            rv = np.array([r_values.get(k, 0) for k in labels], dtype=float)
            cv = np.array([c_values.get(k, 0) for k in labels], dtype=float)
        else:
            labels = _bin_labels(spec)
            rv = np.asarray(r_values, dtype=float)
            cv = np.asarray(c_values, dtype=float)
        r_n, c_n = ref_present[name], cur_present[name]
        out[name] = _judge(
            name, spec, labels, rv, cv, (r_n, ref.num_rows - r_n), (c_n, cur.num_rows - c_n)
        )
    return out


def _scan(
    frame: Frame, specs: dict[str, _Spec], arrays: Iterable[dict[str, Any]] | None
) -> tuple[dict[str, int], dict[str, Any]]:
    """Counts of values per feature, and histograms (numeric) or value counts (categorical).

    One SQL scan counts values and categories; NumPy bins the numeric columns.
    """
    import numpy as np

    from mlstage.data.arrays import bin_counts, constant_counts, numeric_arrays

    names = list(specs)
    categorical = [n for n in names if specs[n].type in CATEGORICAL_TYPES]
    selects = [f"count({quote(n)}), histogram({quote(n)})" for n in categorical]
    row = frame.aggregate(selects)
    present: dict[str, int] = {}
    values: dict[str, Any] = {}
    for i, name in enumerate(categorical):
        present[name] = int(row[2 * i] or 0)
        found: dict[Any, Any] = row[2 * i + 1] or {}
        values[name] = {_label(k): int(n) for k, n in found.items()}
    numeric = [n for n in names if specs[n].type in NUMERIC_TYPES]
    present.update(dict.fromkeys(numeric, 0))
    for name in numeric:
        spec = specs[name]
        size = 0 if spec.range is None else 3 if spec.range[0] == spec.range[1] else spec.bins
        values[name] = np.zeros(size, dtype=np.int64)
    for batch in arrays if arrays is not None else numeric_arrays(frame, numeric):
        for name, column in batch.items():
            present[name] += int(column.size - np.count_nonzero(np.isnan(column)))
            if specs[name].range is None:
                continue
            lo, hi = specs[name].range  # type: ignore[misc]
            if lo == hi:
                values[name] += constant_counts(column, lo)
            else:
                values[name] += bin_counts(column, lo, hi, specs[name].bins, finite_only=False)
    return present, values


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bin_labels(spec: _Spec) -> list[str]:
    if spec.range is None:
        return []
    lo, hi = spec.range
    if lo == hi:
        return [f"< {lo:.4g}", f"= {lo:.4g}", f"> {lo:.4g}"]
    step = (hi - lo) / spec.bins
    points = [f"{lo + i * step:.4g}" for i in range(1, spec.bins)]
    labels = [f"< {points[0]}"]
    labels += [f"{a} to {b}" for a, b in itertools.pairwise(points)]
    return [*labels, f"≥ {points[-1]}"]


def _judge(
    name: str,
    spec: _Spec,
    labels: list[str],
    rv: npt.NDArray[np.float64],
    cv: npt.NDArray[np.float64],
    ref_counts: tuple[int, int],
    cur_counts: tuple[int, int],
) -> FeatureDrift:
    note = spec.note
    if rv.sum() == 0 or cv.sum() == 0:
        side = "reference" if rv.sum() == 0 else "current"
        score, p_value, drifted = 0.0, None, False
        note = f"no values in the {side} data: not compared"
    else:
        score, p_value = COMPARATORS[spec.method](rv, cv)
        if spec.method in TESTS:
            drifted = p_value is not None and p_value < spec.threshold
        else:
            drifted = score > spec.threshold
    rs = (rv / rv.sum()).tolist() if rv.sum() else [0.0] * len(rv)
    cs = (cv / cv.sum()).tolist() if cv.sum() else [0.0] * len(cv)
    if spec.type in CATEGORICAL_TYPES and len(labels) > MAX_SHOWN_VALUES:
        labels, rs, cs = _top_values(labels, rs, cs)
    return FeatureDrift(
        feature=name,
        type=spec.type,
        method=spec.method,
        threshold=spec.threshold,
        score=score,
        p_value=p_value,
        drifted=drifted,
        bins=labels,
        reference_shares=rs,
        current_shares=cs,
        reference_count=ref_counts[0],
        current_count=cur_counts[0],
        reference_missing=ref_counts[1],
        current_missing=cur_counts[1],
        note=note,
    )


def _top_values(
    labels: list[str], rs: list[float], cs: list[float]
) -> tuple[list[str], list[float], list[float]]:
    order = sorted(range(len(labels)), key=lambda i: -max(rs[i], cs[i]))
    keep = sorted(order[: MAX_SHOWN_VALUES - 1])
    rest = order[MAX_SHOWN_VALUES - 1 :]
    return (
        [labels[i] for i in keep] + [OTHER],
        [rs[i] for i in keep] + [sum(rs[i] for i in rest)],
        [cs[i] for i in keep] + [sum(cs[i] for i in rest)],
    )
