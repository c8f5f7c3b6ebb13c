"""Monitors and alert rules of a deployment (or a model), declared in YAML or Python.

    # monitoring.yaml (next to mlstage.toml)
    deployment: churn-prod          # or: model: churn
    monitors:
      - type: feature_drift
        reference: data/train.parquet
      - type: performance
        task: classification
        slices: [plan]
        thresholds: {accuracy: {alert_below: 0.8}}
      - type: service_health
        thresholds: {latency_p95_ms: {warn_above: 50, alert_above: 200}}
    alerts:
      - name: drift
        metric: drift_share
        comparison: ">="
        threshold: 0.5
        cooldown: 1h
        webhook: {url: "https://hooks.example.com/ml", secret_env: MLSTAGE_ALERT_SECRET}

A Python file declares the same as ``monitoring = Monitoring(...)`` (or a
list of them), where a reference may be a DataFrame. A file may hold several
deployments as a list. Relative paths are taken from the file's folder.
Unknown keys are refused, with the key's place in the file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlstage.errors import InvalidInput
from mlstage.monitoring.trigger_definitions import (
    RetrainSpec,
    Trigger,
    check_loop,
    check_release,
)

Status = Literal["ok", "warn", "alert"]
STATUS_RANK: dict[str, int] = {"ok": 0, "warn": 1, "alert": 2}
CONFIG_NAMES = ("monitoring.yaml", "monitoring.yml", "monitoring.py")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,99}")


def parse_duration(value: str | float | int, field: str = "window") -> float:
    """Seconds of ``90s``, ``30m``, ``12h``, ``1d``, ``2w`` or a number of seconds."""
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a duration like 30m, 12h or 1d; got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value))
        if not match:
            raise InvalidInput(
                f"{field} must be a duration like 90s, 30m, 12h, 1d or 2w; got {value!r}"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InvalidInput(f"{field} must be a positive duration; got {value!r}")
    return seconds


def metric_matches(pattern: str, metric: str) -> bool:
    """Whether ``metric`` fits ``pattern``, where ``*`` is the only wildcard (brackets are text)."""
    if pattern == metric:
        return True
    if "*" not in pattern:
        return False
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), metric) is not None


def worst(statuses: list[str]) -> Status:
    """The most severe of ``statuses`` (``ok`` for none)."""
    found = max(statuses, key=lambda s: STATUS_RANK[s], default="ok")
    return found  # type: ignore[return-value]


class Bound(BaseModel):
    """Limits of one metric: past ``warn_*`` it warns, past ``alert_*`` it alerts."""

    model_config = ConfigDict(extra="forbid")

    warn_above: float | None = None
    alert_above: float | None = None
    warn_below: float | None = None
    alert_below: float | None = None

    def status(self, value: float | None) -> Status:
        if value is None or not math.isfinite(value):
            return "ok"
        if (self.alert_above is not None and value > self.alert_above) or (
            self.alert_below is not None and value < self.alert_below
        ):
            return "alert"
        if (self.warn_above is not None and value > self.warn_above) or (
            self.warn_below is not None and value < self.warn_below
        ):
            return "warn"
        return "ok"


class _Monitor(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str = ""
    """Defaults to the type; two monitors of one type need names."""
    thresholds: dict[str, Bound] = Field(default_factory=dict)
    """Metric name (or a pattern like ``accuracy[*]``) -> its limits."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value and not _NAME.fullmatch(value):
            raise ValueError("must be 1-100 lower-case letters, digits, '_', '.' or '-'")
        return value

    @property
    def label(self) -> str:
        return self.name or str(getattr(self, "type", "monitor"))

    def bound_status(self, metric: str, value: float | None) -> Status:
        """The worst status the thresholds give ``metric`` (exact names, then patterns)."""
        found: list[str] = []
        for pattern, bound in self.thresholds.items():
            if metric_matches(pattern, metric):
                found.append(bound.status(value))
        return worst(found)


Reference = Any
"""A CSV/Parquet path (relative to the config file) or, from Python, a DataFrame or Arrow table."""


class FeatureDrift(_Monitor):
    """Serving inputs against the training reference, feature by feature (``data.drift``)."""

    type: Literal["feature_drift"] = "feature_drift"
    reference: Reference
    features: list[str] | None = None
    """Features to compare (default: every reference column logged as an input)."""
    method: str | None = None
    threshold: float | None = None
    alert_share: float | None = None
    """Share of drifted features at which ``drift_share`` alerts (default: ``drift_share``)."""
    min_rows: int = Field(default=100, ge=1)


class PredictionDrift(_Monitor):
    """The distribution of the model's outputs against the reference's predictions."""

    type: Literal["prediction_drift"] = "prediction_drift"
    reference: Reference
    column: str = "prediction"
    """The reference column holding predictions (or the training target)."""
    method: str | None = None
    threshold: float | None = None
    min_rows: int = Field(default=100, ge=1)


class DataQuality(_Monitor):
    """Serving inputs validated against the data schema (``data.validation``)."""

    type: Literal["data_quality"] = "data_quality"
    schema_: Any = Field(alias="schema")
    """A schema YAML path (relative to the config file) or a ``Schema``."""
    detect_pii: bool = False

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, populate_by_name=True)


class Performance(_Monitor):
    """The task's metrics on the predictions whose labels have arrived, overall and per slice."""

    type: Literal["performance"] = "performance"
    task: Literal["classification", "regression"]
    metrics: list[str] | None = None
    """classification: accuracy, f1, roc_auc; regression: mae, rmse, r2 (default: all)."""
    slices: list[str] = Field(default_factory=list)
    """Input names (or ``version``, ``route``) to break the metrics down by."""
    min_labels: int = Field(default=1, ge=1)
    max_slice_values: int = Field(default=20, ge=1, le=1000)
    bucket: str | None = None
    """Also compute the metrics per sub-window of this length (``1h``): those rows carry the
    sub-window as their window, so performance over time reads off the results."""

    @model_validator(mode="after")
    def _known_metrics(self) -> Performance:
        if self.bucket is not None:
            parse_duration(self.bucket, "bucket")
        known = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        unknown = [m for m in self.metrics or [] if m not in known]
        if unknown:
            raise ValueError(
                f"unknown {self.task} metric(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        return self


CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc")
REGRESSION_METRICS = ("mae", "rmse", "r2")


class ServiceHealth(_Monitor):
    """Latency percentiles and throughput from the request log; error rate from ``/metrics``."""

    type: Literal["service_health"] = "service_health"
    metrics_urls: list[str] = Field(default_factory=list)
    """``/metrics`` URLs of the service's replicas: the error rate comes from their counters."""


class Staleness(_Monitor):
    """Age of the serving model version and of the data it was trained on, in days."""

    type: Literal["staleness"] = "staleness"


Monitor = Annotated[
    FeatureDrift | PredictionDrift | DataQuality | Performance | ServiceHealth | Staleness,
    Field(discriminator="type"),
]


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    secret: str = ""
    """The HMAC key (prefer ``secret_env``: secrets do not belong in committed files)."""
    secret_env: str = ""
    """Environment variable holding the HMAC key."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    def key(self) -> bytes:
        import os

        if self.secret_env:
            found = os.environ.get(self.secret_env, "")
            if not found:
                raise InvalidInput(
                    f"webhook secret: the environment variable {self.secret_env} is not set"
                )
            return found.encode()
        return self.secret.encode()


class Email(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Annotated[list[str], Field(min_length=1)]

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+", address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return value


Comparison = Literal[">", ">=", "<", "<=", "==", "!="]


class AlertRule(BaseModel):
    """When a monitor result alerts: ``metric comparison threshold``, else its status.

    Without ``comparison``, the rule fires on results whose status reaches
    ``status`` (``alert`` by default). ``cooldown`` is the quiet time after a
    delivery during which the rule does not fire again for the same subject.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    metric: str = "*"
    """A metric name or pattern (``drift_score[*]``)."""
    monitor: str | None = None
    comparison: Comparison | None = None
    threshold: float | None = None
    status: Literal["warn", "alert"] = "alert"
    cooldown: str | float = "1h"
    webhook: Webhook | None = None
    email: Email | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("must be 1-100 lower-case letters, digits, '_', '.' or '-'")
        return value

    @model_validator(mode="after")
    def _complete(self) -> AlertRule:
        if (self.comparison is None) != (self.threshold is None):
            raise ValueError("comparison and threshold go together")
        if self.webhook is None and self.email is None:
            raise ValueError("needs a webhook or an email target")
        parse_duration(self.cooldown, "cooldown")
        return self

    @property
    def cooldown_ms(self) -> int:
        return int(parse_duration(self.cooldown, "cooldown") * 1000)

    def matches(self, monitor: str, metric: str, value: float | None, status: str) -> bool:
        """Whether a result fires this rule (cool-down aside)."""
        if self.monitor is not None and self.monitor != monitor:
            return False
        if not metric_matches(self.metric, metric):
            return False
        if self.comparison is None:
            return STATUS_RANK[status] >= STATUS_RANK[self.status]
        if value is None or not math.isfinite(value) or self.threshold is None:
            return False
        limit = self.threshold
        return {
            ">": value > limit,
            ">=": value >= limit,
            "<": value < limit,
            "<=": value <= limit,
            "==": value == limit,
            "!=": value != limit,
        }[self.comparison]


class Monitoring(BaseModel):
    """The monitors and alert rules of one deployment or model."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    deployment: str | None = None
    model: str | None = None
    monitors: list[Monitor] = Field(default_factory=list)
    alerts: list[AlertRule] = Field(default_factory=list)
    check_every: str | float | None = None
    """The scheduler runs the monitors this often (``1h``), over the last ``check_window``."""
    check_window: str | float | None = None
    """How far back a scheduled check looks (default: ``check_every``)."""
    triggers: list[Trigger] = Field(default_factory=list)
    """Conditions that start a retraining (``trigger_definitions``)."""
    retrain: RetrainSpec | None = None
    release: dict[str, Any] | None = None
    """The ``ReleasePolicy`` of retrained candidates (``monitoring.release``), as a mapping."""
    base: Path | None = Field(default=None, exclude=True)
    """The folder relative paths start from (the config file's)."""

    @model_validator(mode="after")
    def _subject(self) -> Monitoring:
        if (self.deployment is None) == (self.model is None):
            raise ValueError("give either deployment or model")
        labels = [m.label for m in self.monitors]
        doubled = sorted({n for n in labels if labels.count(n) > 1})
        if doubled:
            raise ValueError(f"two monitors named {', '.join(doubled)}: give them names")
        rules = [r.name for r in self.alerts]
        if len(set(rules)) != len(rules):
            raise ValueError("alert rule names must be unique")
        if self.check_window is not None:
            parse_duration(self.check_window, "check_window")
        check_loop(self.subject, self.check_every, self.triggers, self.retrain, self.release)
        if self.triggers and self.deployment is None:
            raise ValueError("triggers retrain a deployment: give deployment, not model")
        return self

    @field_validator("release", mode="before")
    @classmethod
    def _release(cls, value: Any) -> dict[str, Any] | None:
        return check_release(value)

    @property
    def subject(self) -> str:
        return self.deployment or self.model or ""

    def path(self, value: str | Path, field: str) -> Path:
        """A path from the file, relative to its folder, that must exist."""
        path = Path(value)
        if not path.is_absolute() and self.base is not None:
            path = self.base / path
        if not path.exists():
            raise InvalidInput(f"{field}: {value} does not exist (looked at {path})")
        return path


def _validated(data: Any, source: str, base: Path | None) -> list[Monitoring]:
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Monitoring):
            found = item
        else:
            try:
                found = Monitoring.model_validate(item)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "(top level)"
                prefix = f"[{i}]." if isinstance(data, list) else ""
                raise InvalidInput(f"{source}: {prefix}{where}: {first['msg']}") from None
        if found.base is None:
            found.base = base
        out.append(found)
    return out


def load_monitoring(path: str | Path) -> list[Monitoring]:
    """Every ``Monitoring`` a YAML or Python file declares."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such monitoring file")
    if path.suffix == ".py":
        import runpy

        namespace = runpy.run_path(str(path))
        if "monitoring" not in namespace:
            raise InvalidInput(f"{path}: define `monitoring = Monitoring(...)` (or a list of them)")
        return _validated(namespace["monitoring"], str(path), path.parent.resolve())
    if path.suffix not in (".yaml", ".yml"):
        raise InvalidInput(f"{path}: a monitoring file is .yaml, .yml or .py")
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML: {exc}") from None
    return _validated(data, str(path), path.parent.resolve())


def find_monitoring(subject: str, path: str | Path | None, project_root: str) -> Monitoring:
    """The declaration of ``subject`` (a deployment or model name) in ``path`` or the project."""
    if path is None:
        found = [Path(project_root) / n for n in CONFIG_NAMES if (Path(project_root) / n).is_file()]
        if not found:
            raise InvalidInput(
                f"no monitoring file: write {CONFIG_NAMES[0]} next to mlstage.toml "
                "or pass --config FILE"
            )
        path = found[0]
    declared = load_monitoring(path)
    for item in declared:
        if subject in (item.deployment, item.model):
            return item
    names = ", ".join(item.subject for item in declared) or "none"
    raise InvalidInput(f"{path} declares no monitors for {subject!r} (it declares: {names})")
