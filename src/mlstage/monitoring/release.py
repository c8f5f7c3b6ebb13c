"""Whether a canary (or shadow) candidate is promoted, held, or rolled back.

``judge_canary`` compares the candidate of a deployment with its primary
over ``[since_ms, now_ms]`` (``release_figures.canary_figures``: the request
log and the feedback labels) and decides, by the deployment's
``ReleasePolicy``:

- **rollback** as soon as the candidate's error rate exceeds the primary's
  by more than ``max_error_rate_increase``, or, once both arms have
  ``min_labels`` labelled predictions, its ``metric`` is worse than the
  primary's by more than ``max_metric_drop`` (lower is better for
  ``rmse``, ``mae``, ``mape``, ``log_loss`` and ``calibration_error``),
  even before the window ends;
- **promote** once ``window`` has passed since ``since_ms``, the candidate
  made ``min_predictions`` predictions (and has ``min_labels`` labels when a
  metric is set) and nothing is worse; with ``approval: manual`` the answer
  stays **hold**, with ``figures["ready"]`` true, until a maintainer promotes;
- **hold** otherwise, the reasons saying what is missing.

The decision is a pure function of the stored log, the labels and
``now_ms``, so a simulated clock (the demo) gets the same answers as a real one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from mlstage.errors import InvalidInput
from mlstage.monitoring.definitions import parse_duration
from mlstage.monitoring.release_figures import canary_figures, known_metrics

if TYPE_CHECKING:
    from mlstage.artifacts.store import ArtifactStore
    from mlstage.serving.deployments import Deployment
    from mlstage.store.database import Database

__all__ = ["ReleaseDecision", "ReleasePolicy", "canary_figures", "judge_canary"]


class ReleasePolicy(BaseModel):
    """How a deployment releases a candidate; bad values raise ``InvalidInput`` naming the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["canary", "shadow"] = "canary"
    weight: float = 10.0
    """Percent of requests the canary answers (0 < weight < 100); unused by a shadow."""
    window: str | float = "1d"
    """How long the candidate must hold before promotion: ``12h``, ``1d`` or seconds."""
    approval: Literal["auto", "manual"] = "auto"
    min_predictions: int = 100
    """Candidate predictions needed before promotion."""
    max_error_rate_increase: float = 0.01
    """The candidate's error rate may exceed the primary's by at most this (0.01 = 1 point)."""
    metric: str | None = None
    """A performance metric judged once labels arrive (roc_auc, accuracy, f1, rmse, mae, ...)."""
    max_metric_drop: float = 0.0
    """How much worse than the primary's the candidate's metric may be."""
    min_labels: int = 30
    """Labelled predictions each arm needs before the metric counts."""

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise InvalidInput(policy_error(exc)) from None

    @field_validator("weight")
    @classmethod
    def _weight(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 < value < 100):
            raise ValueError(f"must be a percentage between 0 and 100 (exclusive), got {value}")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | float) -> str | float:
        try:
            parse_duration(value, "window")
        except InvalidInput as exc:
            raise ValueError(exc.message.removeprefix("window ")) from None
        return value

    @field_validator("min_predictions", "min_labels")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @field_validator("max_error_rate_increase")
    @classmethod
    def _rate(cls, value: float) -> float:
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"must be a fraction from 0 to 1 (0.01 = 1 point), got {value}")
        return value

    @field_validator("max_metric_drop")
    @classmethod
    def _drop(cls, value: float) -> float:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"must be 0 or more, got {value}")
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str | None) -> str | None:
        if value is None:
            return None
        classification, regression, _ = known_metrics()
        if value not in classification + regression:
            raise ValueError(f"{value!r} is not one of {', '.join(classification + regression)}")
        return value

    @property
    def window_ms(self) -> int:
        return int(parse_duration(self.window, "window") * 1000)

    @classmethod
    def parse(cls, data: Any) -> ReleasePolicy:
        """A policy from a mapping (YAML, JSON, a form); ``InvalidInput`` names the bad field."""
        if isinstance(data, ReleasePolicy):
            return data
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(policy_error(exc)) from None


def policy_error(exc: ValidationError) -> str:
    """One sentence of the first problem: ``release policy: weight: must be ...``."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = str(first["msg"]).removeprefix("Value error, ")
    if message.startswith("release policy: "):  # a validator's own sentence names the field
        return message
    if first["type"] == "extra_forbidden":
        known = ", ".join(ReleasePolicy.model_fields)
        message = f"unknown setting (a release policy takes {known})"
    return f"release policy: {where}: {message}"


class ReleaseDecision(BaseModel):
    """What to do with the candidate, why, and the figures it rests on."""

    action: Literal["hold", "promote", "rollback"]
    reasons: list[str]
    figures: dict[str, Any]


def judge_canary(
    db: Database,
    artifacts: ArtifactStore,
    deployment: Deployment,
    policy: ReleasePolicy,
    since_ms: int,
    now_ms: int,
) -> ReleaseDecision:
    """Promote, hold or roll back ``deployment``'s candidate, judged on ``[since_ms, now_ms]``."""
    figures = canary_figures(db, artifacts, deployment, since_ms, now_ms, metric=policy.metric)
    ends = int(since_ms) + policy.window_ms
    figures.update(window_ends_ms=ends, ready=False)
    primary, candidate = figures["primary"], figures["candidate"]

    worse = _error_rate_worse(primary, candidate, policy)
    metric_ok = _metric_comparable(primary, candidate, policy)
    if metric_ok:
        worse += _metric_worse(primary, candidate, policy)
    if worse:
        return ReleaseDecision(action="rollback", reasons=worse, figures=figures)

    missing = []
    if now_ms < ends:
        missing.append(f"window ends in {duration_text(ends - now_ms)}")
    if candidate["predictions"] < policy.min_predictions:
        missing.append(f"{candidate['predictions']} of {policy.min_predictions} predictions")
    if policy.metric is not None and not metric_ok:
        missing.append(_metric_missing(primary, candidate, policy))
    if missing:
        return ReleaseDecision(action="hold", reasons=missing, figures=figures)

    held = _held(primary, candidate, policy)
    figures["ready"] = True
    if policy.approval == "manual":
        reasons = ["ready to promote; waiting for a maintainer's approval (approval: manual)"]
        return ReleaseDecision(action="hold", reasons=reasons + held, figures=figures)
    return ReleaseDecision(action="promote", reasons=held, figures=figures)


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _number(value: float) -> str:
    return f"{value:.4g}"


def _error_rate_worse(
    primary: dict[str, Any], candidate: dict[str, Any], policy: ReleasePolicy
) -> list[str]:
    rate = candidate["error_rate"]
    if rate is None:
        return []
    base = primary["error_rate"] or 0.0
    if rate <= base + policy.max_error_rate_increase + 1e-12:
        return []
    return [
        f"candidate error rate {_percent(rate)} > primary {_percent(base)} + "
        f"{_percent(policy.max_error_rate_increase)} ({candidate['errors']} of "
        f"{candidate['predictions']} predictions failed)"
    ]


def _metric_comparable(
    primary: dict[str, Any], candidate: dict[str, Any], policy: ReleasePolicy
) -> bool:
    return (
        policy.metric is not None
        and candidate["labelled"] >= policy.min_labels
        and primary["labelled"] >= policy.min_labels
        and candidate["metric"] is not None
        and primary["metric"] is not None
    )


def _metric_worse(
    primary: dict[str, Any], candidate: dict[str, Any], policy: ReleasePolicy
) -> list[str]:
    name, value, base = policy.metric, candidate["metric"], primary["metric"]
    drop = policy.max_metric_drop
    _, _, lower = known_metrics()
    if name in lower:
        if value <= base + drop + 1e-12:
            return []
        return [
            f"candidate {name} {_number(value)} > primary {_number(base)} + {_number(drop)} "
            f"(lower is better; {candidate['labelled']} labelled predictions)"
        ]
    if value >= base - drop - 1e-12:
        return []
    return [
        f"candidate {name} {_number(value)} < primary {_number(base)} - {_number(drop)} "
        f"({candidate['labelled']} labelled predictions)"
    ]


def _metric_missing(
    primary: dict[str, Any], candidate: dict[str, Any], policy: ReleasePolicy
) -> str:
    name = policy.metric
    for arm, figures in (("candidate", candidate), ("primary", primary)):
        if figures["labelled"] < policy.min_labels:
            return f"{figures['labelled']} of {policy.min_labels} labelled {arm} predictions"
    for arm, figures in (("candidate", candidate), ("primary", primary)):
        if figures["metric"] is None:
            return f"{arm} {name} cannot be computed: {figures['metric_note']}"
    return f"{name} not comparable"  # pragma: no cover - one of the above always holds


def _held(primary: dict[str, Any], candidate: dict[str, Any], policy: ReleasePolicy) -> list[str]:
    """Why promotion is safe, in figures."""
    base = primary["error_rate"] or 0.0
    reasons = [
        f"candidate held for {duration_text(policy.window_ms)} with "
        f"{candidate['predictions']} predictions; error rate {_percent(candidate['error_rate'])}"
        f" <= primary {_percent(base)} + {_percent(policy.max_error_rate_increase)}"
    ]
    if policy.metric is not None:
        _, _, lower = known_metrics()
        value, other = _number(candidate["metric"]), _number(primary["metric"])
        drop = _number(policy.max_metric_drop)
        if policy.metric in lower:
            reasons.append(f"candidate {policy.metric} {value} <= primary {other} + {drop}")
        else:
            reasons.append(f"candidate {policy.metric} {value} >= primary {other} - {drop}")
    return reasons


def duration_text(ms: int) -> str:
    """``3h``, ``1d 2h``, ``45m``, ``20s``: the largest unit and the next one, if not zero."""
    seconds = max(0, -(-int(ms) // 1000))
    units = (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1))
    first = next((i for i, (_, size) in enumerate(units) if seconds >= size), len(units) - 1)
    big, size = units[first]
    text = f"{seconds // size}{big}"
    if first + 1 < len(units):
        small, small_size = units[first + 1]
        rest = (seconds % size) // small_size
        if rest:
            text += f" {rest}{small}"
    return text
