"""Triggers and the retraining they start, declared per deployment next to its monitors.

    - deployment: churn-prod
      check_every: 1h                     # the scheduler runs the monitors this often
      monitors: [...]
      triggers:
        - {name: drift, monitor: input-drift, metric: drift_share, above: 0.3}
        - {name: decay, monitor: performance, metric: roc_auc, below: 0.8}
        - {name: weekly, schedule: "0 3 * * 1"}
        - {name: new-data, dataset: churn, new_rows: 10000}
        - {name: stale, max_age: 30d}
      retrain: {pipeline: pipeline.py:training, params: {data: churn@latest}, cooldown: 1d}
      release: {strategy: canary, weight: 10, window: 1d, approval: auto, min_predictions: 200}

A trigger's kind follows from its keys: ``monitor`` (a threshold on the newest
stored result of that monitor's metric), ``schedule`` (a cron expression, UTC),
``dataset`` (rows added to a registered dataset since the champion's data),
``max_age`` (the serving version's age). The same models declare them in Python.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,99}")
_NAME_RULE = "must be 1-100 lower-case letters, digits, '_', '.' or '-'"


def _duration(value: str | float, field: str) -> float:
    """Seconds of a duration, with pydantic's error type for a bad one."""
    from mlstage.errors import InvalidInput
    from mlstage.monitoring.definitions import parse_duration

    try:
        return parse_duration(value, field)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError(_NAME_RULE)
        return value


class ThresholdTrigger(_Trigger):
    """Fires when the newest result of ``monitor``'s ``metric`` is above or below a limit.

    Only results computed after the deployment's last retraining count, so one
    drifted window does not start a second retraining once the first is over.
    """

    kind: Literal["threshold"] = "threshold"
    monitor: str
    metric: str
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_limit(self) -> ThresholdTrigger:
        if (self.above is None) == (self.below is None):
            raise ValueError(f"trigger {self.name!r}: give exactly one of above or below")
        return self

    @property
    def threshold(self) -> float:
        limit = self.above if self.above is not None else self.below
        assert limit is not None
        return limit

    def fires(self, value: float) -> bool:
        return value > self.threshold if self.above is not None else value < self.threshold


class ScheduleTrigger(_Trigger):
    """Fires once at each time the cron expression (UTC) names, missed times once."""

    kind: Literal["schedule"] = "schedule"
    schedule: str

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from mlstage.errors import InvalidInput
        from mlstage.pipelines.cron import parse_cron

        try:
            parse_cron(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value


class DataTrigger(_Trigger):
    """Fires when a registered dataset has ``new_rows`` more rows than the champion's data."""

    kind: Literal["new_data"] = "new_data"
    dataset: str
    new_rows: int = Field(ge=1)


class StalenessTrigger(_Trigger):
    """Fires when the serving (primary) version is older than ``max_age``."""

    kind: Literal["staleness"] = "staleness"
    max_age: str | float

    @field_validator("max_age")
    @classmethod
    def _age(cls, value: str | float) -> str | float:
        _duration(value, "max_age")
        return value

    @property
    def max_age_ms(self) -> int:
        return int(_duration(self.max_age, "max_age") * 1000)


_KEYS = {
    "monitor": "threshold",
    "schedule": "schedule",
    "dataset": "new_data",
    "max_age": "staleness",
}


def _kind(value: Any) -> str | None:
    if isinstance(value, ThresholdTrigger | ScheduleTrigger | DataTrigger | StalenessTrigger):
        return value.kind
    if not isinstance(value, dict):
        return None
    if "kind" in value:
        return str(value["kind"])
    found = [kind for key, kind in _KEYS.items() if key in value]
    return found[0] if len(found) == 1 else None


Trigger = Annotated[
    Annotated[ThresholdTrigger, Tag("threshold")]
    | Annotated[ScheduleTrigger, Tag("schedule")]
    | Annotated[DataTrigger, Tag("new_data")]
    | Annotated[StalenessTrigger, Tag("staleness")],
    Discriminator(
        _kind,
        custom_error_type="trigger_kind",
        custom_error_message=(
            "a trigger needs a name and exactly one of: monitor + metric + above|below, "
            "schedule (cron), dataset + new_rows, max_age"
        ),
    ),
]


class RetrainSpec(BaseModel):
    """The training pipeline a trigger runs, with its parameters, and the quiet time after."""

    model_config = ConfigDict(extra="forbid")

    pipeline: str
    """``FILE.py:NAME`` (relative to the monitoring file), as ``mlstage pipelines run`` takes."""
    params: dict[str, Any] = Field(default_factory=dict)
    cooldown: str | float = "1d"
    """After a retraining ends, no trigger starts another one of the deployment for this long."""
    timeout: str | float = "6h"
    """A retraining still training after this long is marked failed (its process died)."""

    @field_validator("pipeline")
    @classmethod
    def _target(cls, value: str) -> str:
        path = value.rpartition(":")[0] if ":" in value else value
        if not path.endswith(".py"):
            raise ValueError(f"must be FILE.py or FILE.py:PIPELINE, got {value!r}")
        return value

    @field_validator("cooldown", "timeout")
    @classmethod
    def _durations(cls, value: str | float, info: Any) -> str | float:
        _duration(value, info.field_name)
        return value

    @property
    def cooldown_ms(self) -> int:
        return int(_duration(self.cooldown, "cooldown") * 1000)

    @property
    def timeout_ms(self) -> int:
        return int(_duration(self.timeout, "timeout") * 1000)

    def target(self, base: Path | None) -> str:
        """The pipeline target with its file resolved against the monitoring file's folder."""
        path, sep, name = self.pipeline.rpartition(":") if ":" in self.pipeline else ("", "", "")
        path = path or self.pipeline
        found = Path(path)
        if not found.is_absolute() and base is not None:
            found = base / found
        return f"{found}{sep}{name}"


def check_release(value: Any) -> dict[str, Any] | None:
    """A ``release:`` mapping (or a ``ReleasePolicy``) checked by the release policy's rules."""
    if value is None:
        return None
    from mlstage.errors import InvalidInput
    from mlstage.monitoring.release import ReleasePolicy

    try:
        policy = ReleasePolicy.parse(value)
    except InvalidInput as exc:
        # the last "release policy: FIELD: problem" part names the field
        raise ValueError(exc.message.rpartition("release policy: ")[2]) from None
    return policy.model_dump(mode="json")


def check_loop(
    name: str,
    check_every: str | float | None,
    triggers: list[Any],
    retrain: RetrainSpec | None,
    release: dict[str, Any] | None,
) -> None:
    """The loop fields of one deployment's declaration belong together."""
    if check_every is not None:
        _duration(check_every, "check_every")
    names = [t.name for t in triggers]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ValueError(f"two triggers named {', '.join(doubled)}: trigger names must be unique")
    if triggers and retrain is None:
        raise ValueError(f"{name}: triggers need a retrain: {{pipeline: FILE.py:NAME}} to run")
    if retrain is not None and release is None:
        raise ValueError(f"{name}: retrain needs a release: policy (strategy canary or shadow)")
