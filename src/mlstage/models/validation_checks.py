"""The gate's thresholds: checked when given, then applied to two evaluations, one line per check.

Checking thresholds before any model is loaded turns a typo (``rocauc``) or
a bound that points the wrong way (``min_delta`` on a loss, which would
reward a worse model) into an immediate error instead of a wrong verdict.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mlstage.errors import InvalidInput
from mlstage.models.evaluation import EvaluationResult, metric_names
from mlstage.models.evaluation_metrics import LOWER_IS_BETTER

Bounds = dict[str, float]
BOUNDS = ("min", "max", "min_delta", "max_delta")
DELTAS = frozenset({"min_delta", "max_delta"})
Outcome = Literal["pass", "FAIL", "skipped"]


# -- thresholds -----------------------------------------------------------------------------


def check_thresholds(
    thresholds: Mapping[str, Mapping[str, float]] | None, task: str, where: str, *, slices: bool
) -> dict[str, Bounds]:
    """Bounds per metric, refused if a metric is unknown to the task or a bound misdirected."""
    if thresholds is None:
        return {}
    if not isinstance(thresholds, Mapping):
        raise InvalidInput(
            f"{where} must be a dict of metric to bounds, e.g. {{'f1': {{'min': 0.7}}}}"
        )
    known = [*metric_names(task), *(["count"] if slices else [])]
    unknown = sorted(str(m) for m in thresholds if m not in known)
    if unknown:
        raise InvalidInput(
            f"{where}: unknown metric(s) {', '.join(unknown)}; available for {task}: "
            f"{', '.join(known)}"
        )
    return {metric: _metric_bounds(metric, bounds, where) for metric, bounds in thresholds.items()}


def uses_deltas(*groups: Mapping[str, Bounds]) -> bool:
    return any(DELTAS & bounds.keys() for group in groups for bounds in group.values())


def _metric_bounds(metric: str, bounds: Any, where: str) -> Bounds:
    if not isinstance(bounds, Mapping) or not bounds:
        raise InvalidInput(
            f"{where}[{metric!r}] must be a non-empty dict of bounds ({', '.join(BOUNDS)}), "
            "e.g. {'min': 0.8}"
        )
    checked = {bound: _limit(metric, bound, limit, where) for bound, limit in bounds.items()}
    _check_direction(metric, checked, where)
    return checked


def _limit(metric: str, bound: Any, limit: Any, where: str) -> float:
    if bound not in BOUNDS:
        raise InvalidInput(f"{where}[{metric!r}]: unknown bound {bound!r}; use {', '.join(BOUNDS)}")
    if isinstance(limit, bool) or not isinstance(limit, numbers.Real) or not math.isfinite(limit):
        raise InvalidInput(f"{where}[{metric!r}][{bound!r}] must be a finite number, got {limit!r}")
    return float(limit)


def _check_direction(metric: str, bounds: Bounds, where: str) -> None:
    """``min_delta`` for metrics where higher is better, ``max_delta`` for losses and errors."""
    if metric == "count":
        if DELTAS & bounds.keys():
            raise InvalidInput(f"{where}['count']: the row count takes min and max only")
        return
    lower = metric in LOWER_IS_BETTER
    wrong, right, rule = (
        ("min_delta", "max_delta", "<=") if lower else ("max_delta", "min_delta", ">=")
    )
    if wrong in bounds:
        kind = "lower" if lower else "higher"
        raise InvalidInput(
            f"{where}[{metric!r}]: {metric} is {kind}-is-better; bound its change with {right} "
            f"(candidate - champion {rule} d), not {wrong}"
        )


# -- checks -----------------------------------------------------------------------------------


def fmt(x: float, whole: bool = False) -> str:
    if whole:
        return f"{x:.0f}"
    return f"{x:.3f}" if x == 0 or abs(x) >= 0.01 else f"{x:.3g}"


def _outcome(ok: bool) -> Outcome:
    return "pass" if ok else "FAIL"


def _absolute(
    label: str, value: float, bound: str, limit: float, whole: bool
) -> tuple[Outcome, str]:
    ok = value >= limit if bound == "min" else value <= limit
    op = (">=" if ok else "<") if bound == "min" else ("<=" if ok else ">")
    shown = f"{fmt(value, whole)} {op} {bound} {fmt(limit, whole and limit.is_integer())}"
    return _outcome(ok), f"{label} {shown}: {_outcome(ok)}"


def _relative(
    label: str, value: float, bound: str, limit: float, base: float, vs: str
) -> tuple[Outcome, str]:
    delta = value - base
    ok = delta >= limit if bound == "min_delta" else delta <= limit
    op = (">=" if ok else "<") if bound == "min_delta" else ("<=" if ok else ">")
    sign = "+" if delta >= 0 else ""
    line = f"{label} delta {sign}{fmt(delta)} {op} {bound} {fmt(limit)} vs champion {vs}"
    return _outcome(ok), f"{line}: {_outcome(ok)}"


@dataclass(frozen=True)
class Checker:
    """Applies thresholds to the candidate's evaluation, against the champion's if there is one."""

    candidate: EvaluationResult
    champion: EvaluationResult | None
    champion_label: str

    def run(
        self, overall: dict[str, Bounds], per_slice: dict[str, dict[str, Bounds]]
    ) -> tuple[list[str], bool]:
        """The reason lines, and whether no check failed (skipped checks do not fail)."""
        results: list[tuple[Outcome, str]] = []
        for metric, bounds in overall.items():
            base = self.champion.metrics if self.champion else {}
            for bound, limit in bounds.items():
                results.append(
                    self._one(metric, self.candidate.metrics, base, metric, bound, limit)
                )
        for column, by_metric in per_slice.items():
            for value, metrics in self.candidate.slices.get(column, {}).items():
                base = self.champion.slices.get(column, {}).get(value, {}) if self.champion else {}
                label = f"slice {column}={value}"
                for metric, bounds in by_metric.items():
                    for bound, limit in bounds.items():
                        results.append(
                            self._one(f"{label} {metric}", metrics, base, metric, bound, limit)
                        )
        return [line for _, line in results], all(outcome != "FAIL" for outcome, _ in results)

    def _one(
        self,
        label: str,
        metrics: dict[str, float],
        base: dict[str, float],
        metric: str,
        bound: str,
        limit: float,
    ) -> tuple[Outcome, str]:
        head = f"{label} {bound} {fmt(limit)}"
        if bound in DELTAS and self.champion is None:
            return "skipped", f"{head}: skipped, no champion baseline"
        value = metrics.get(metric)
        if value is None:
            if metric in self.candidate.metrics:  # defined overall, not on this slice's rows
                rows = int(metrics.get("count", 0))
                return "skipped", f"{head}: skipped, undefined on this slice ({rows} rows)"
            return "FAIL", f"{head}: not computed for the candidate: FAIL"
        if bound not in DELTAS:
            return _absolute(label, value, bound, limit, whole=metric == "count")
        champion_value = base.get(metric)
        if champion_value is None:
            return "skipped", f"{head}: skipped, no value for champion {self.champion_label}"
        return _relative(label, value, bound, limit, champion_value, self.champion_label)
