"""The data schema: what a team expects of its data, kept as a reviewed YAML file.

Following TensorFlow Data Validation, a schema is first inferred from data
with conservative heuristics, then reviewed by people, kept in version control
and evolved through suggested updates (``mlstage data schema update``). Per
feature it records the type, the minimum presence, a value domain for
categorical features, a range for numeric ones, whether NaN and infinity may
appear, and the comparator (method and threshold) for drift and for
training-serving skew; optional row-count bounds apply to the whole dataset.

The YAML keeps a fixed key order (features in column order, fields in the
order of ``FeatureSchema``), so a diff of two versions reads as what changed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlstage.data.frames import CATEGORICAL_TYPES, NUMERIC_TYPES, FeatureType
from mlstage.data.statistics import DatasetStatistics, FeatureStatistics
from mlstage.errors import InvalidInput, NotFound

SCHEMA_VERSION = 1
MAX_DOMAIN_SIZE = 100
"""A string feature with more distinct values gets no domain (ids, free text): TFDV's default."""

Method = Literal["linf", "jsd", "psi", "ks", "chi2"]
METHODS: tuple[Method, ...] = ("linf", "jsd", "psi", "ks", "chi2")
DEFAULT_THRESHOLDS: dict[str, float] = {
    "linf": 0.05,
    "jsd": 0.02,
    "psi": 0.2,
    "ks": 0.05,
    "chi2": 0.05,
}
"""Built-in thresholds; ``drift_linf_threshold`` and ``drift_jsd_threshold`` settings override two.

linf, jsd and psi are distances (drift above the threshold); ks and chi2 are
tests (drift when the p-value is below it).
"""

HEADER = (
    "# mlstage data schema (TensorFlow Data Validation semantics).\n"
    "# Review it and keep it in version control; `mlstage data validate FILE --schema THIS`\n"
    "# checks data against it, `mlstage data schema update FILE --schema THIS` suggests edits.\n"
)


class Comparator(BaseModel):
    """How a feature's distributions are compared: a method and its threshold."""

    model_config = ConfigDict(extra="forbid")

    method: Method
    threshold: float = Field(ge=0)


class FeatureSchema(BaseModel):
    """Expectations for one feature; ``None`` fields are not checked."""

    model_config = ConfigDict(extra="forbid")

    type: FeatureType
    min_fraction: float = Field(default=1.0, ge=0, le=1)
    """Least share of rows holding a value (TFDV ``presence.min_fraction``)."""
    domain: list[str] | None = None
    """Allowed values of a categorical feature."""
    min_domain_mass: float = Field(default=1.0, ge=0, le=1)
    """Least share of values inside the domain (TFDV ``distribution_constraints``)."""
    min: float | None = None
    max: float | None = None
    allow_nan: bool | None = None
    """Float features only: whether NaN may appear."""
    allow_inf: bool | None = None
    """Float features only: whether +/-infinity may appear."""
    pii: str | None = None
    """The kind of personal data the feature held when inferred (email, phone, ...)."""
    drift: Comparator | None = None
    skew: Comparator | None = None

    @property
    def categorical(self) -> bool:
        return self.type in CATEGORICAL_TYPES


class Schema(BaseModel):
    """The schema of a dataset: its features, in column order, and row-count bounds."""

    model_config = ConfigDict(extra="forbid")

    version: int = SCHEMA_VERSION
    min_rows: int | None = Field(default=None, ge=0)
    max_rows: int | None = Field(default=None, ge=0)
    features: dict[str, FeatureSchema] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"this mlstage reads schema version {SCHEMA_VERSION}, got {value}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain data with unset (None) fields left out, in a stable order."""
        out: dict[str, Any] = {"version": self.version}
        if self.min_rows is not None:
            out["min_rows"] = self.min_rows
        if self.max_rows is not None:
            out["max_rows"] = self.max_rows
        out["features"] = {
            name: _whole_numbers(feature.model_dump(mode="json", exclude_none=True))
            for name, feature in self.features.items()
        }
        return out

    def to_yaml(self) -> str:
        import yaml

        body = yaml.safe_dump(
            self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
        )
        return HEADER + str(body)

    @classmethod
    def from_yaml(cls, text: str, source: str = "schema") -> Schema:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{source}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidInput(f"{source}: a schema is a mapping with 'features', got {data!r:.80}")
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "schema") -> Schema:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise InvalidInput(f"{source}: not a valid schema: {problems}") from exc


def load_schema(path: str | Path) -> Schema:
    """Read a schema YAML file."""
    path = Path(path)
    if not path.is_file():
        raise NotFound(f"{path}: no such schema file (make one with `mlstage data schema infer`)")
    return Schema.from_yaml(path.read_text(encoding="utf-8"), source=str(path))


def save_schema(schema: Schema, path: str | Path) -> Path:
    """Write a schema YAML file (the parent folder must exist)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidInput(f"{path}: the folder {path.parent} does not exist")
    path.write_text(schema.to_yaml(), encoding="utf-8")
    return path


def default_comparator(ftype: FeatureType) -> Comparator | None:
    """L-infinity for categorical features, Jensen-Shannon for numeric ones (TFDV's pairing)."""
    from mlstage.config import get_settings

    settings = get_settings()
    if ftype in CATEGORICAL_TYPES:
        return Comparator(method="linf", threshold=settings.drift_linf_threshold)
    if ftype in NUMERIC_TYPES:
        return Comparator(method="jsd", threshold=settings.drift_jsd_threshold)
    return None


def infer_schema(data: Any, *, row_bounds: bool = False, detect_pii: bool = True) -> Schema:
    """A conservative schema for ``data`` (anything ``compute_statistics`` takes) or statistics.

    - presence: 1.0 for complete features, else five points under the observed share,
      to a multiple of 0.05;
    - domain: the observed values of string features with at most ``MAX_DOMAIN_SIZE``;
    - range of numeric features: a bound at an extreme seen at least twice (a hard
      limit, such as 0 or 18, rather than the tail of a sample); else a minimum of 0
      for non-negative features; else none. From statistics alone, integer
      features whose every value in range was seen get their observed range;
    - NaN and infinity allowed only where seen;
    - row counts (``row_bounds=True``): from half to twice the observed count;
    - drift and skew comparators: the defaults of the feature's type.

    Review the result: it describes this data, not yet what the team expects.
    """
    pii: dict[str, str] = {}
    extremes: dict[str, tuple[int, int]] = {}
    if isinstance(data, DatasetStatistics):
        stats = data
    else:
        from mlstage.data.frames import open_frame
        from mlstage.data.pii import pii_columns
        from mlstage.data.statistics import statistics_of

        frame = open_frame(data)
        try:
            stats = statistics_of(frame)
            if detect_pii:
                pii = dict(pii_columns(frame))
            _complete_domains(frame, stats)
            extremes = _extreme_counts(frame, stats)
        finally:
            frame.con.close()
    features = {
        name: infer_feature(s, pii.get(name), extremes.get(name))
        for name, s in stats.features.items()
    }
    schema = Schema(features=features)
    if row_bounds:
        schema.min_rows = stats.num_rows // 2
        schema.max_rows = stats.num_rows * 2
    return schema


def infer_feature(
    stats: FeatureStatistics, pii: str | None = None, extremes: tuple[int, int] | None = None
) -> FeatureSchema:
    """The schema of one feature from its statistics (``extremes``: how often min and max occur)."""
    feature = FeatureSchema(type=stats.type, min_fraction=presence_floor(stats.presence))
    unique = stats.unique or 0
    small = stats.unique_exact and len(stats.top_values) >= unique and unique <= MAX_DOMAIN_SIZE
    if stats.type == "string" and small:
        feature.domain = sorted(v.value for v in stats.top_values)
    if stats.type in NUMERIC_TYPES and isinstance(stats.min, float):
        assert isinstance(stats.max, float)
        if extremes is None:
            dense = stats.type == "int" and stats.unique_exact
            dense = dense and stats.unique == int(stats.max - stats.min) + 1
            extremes = (2, 2) if dense else (1, 1)
        feature.min = stats.min if extremes[0] >= 2 else (0.0 if stats.min >= 0 else None)
        feature.max = stats.max if extremes[1] >= 2 else None
    if stats.type == "float":
        feature.allow_nan = stats.nan_count > 0
        feature.allow_inf = stats.inf_count > 0
    feature.pii = pii
    feature.drift = default_comparator(stats.type)
    feature.skew = default_comparator(stats.type)
    return feature


def presence_floor(presence: float) -> float:
    if presence >= 1.0:
        return 1.0
    return max(0.0, math.floor(presence * 20) / 20 - 0.05)


def _whole_numbers(feature: dict[str, Any]) -> dict[str, Any]:
    """Whole bounds as ints in YAML (``max: 120``, not ``max: 120.0``)."""
    if "domain" not in feature:
        feature.pop("min_domain_mass", None)  # meaningless without a domain
    for key in ("min", "max"):
        value = feature.get(key)
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            feature[key] = int(value)
    return feature


def _complete_domains(frame: Any, stats: DatasetStatistics) -> None:
    """Top values hold at most TOP_K values: read the full value set of small string domains."""
    from mlstage.data.statistics import ValueCount

    for name, s in stats.features.items():
        unique = s.unique or 0
        if s.type == "string" and s.unique_exact and len(s.top_values) < unique <= MAX_DOMAIN_SIZE:
            rows, _, _ = frame.value_counts(name)
            s.top_values = [ValueCount(value=v, count=n) for v, n in rows]


def _extreme_counts(frame: Any, stats: DatasetStatistics) -> dict[str, tuple[int, int]]:
    """How many rows hold each numeric feature's min and its max (one scan)."""
    from mlstage.data.frames import quote

    names = [
        n
        for n, s in stats.features.items()
        if s.type in NUMERIC_TYPES and isinstance(s.min, float) and isinstance(s.max, float)
    ]
    selects, params = [], []
    for name in names:
        col = quote(name)
        selects += [f"count(*) FILTER (WHERE {col} = ?)", f"count(*) FILTER (WHERE {col} = ?)"]
        params += [stats.features[name].min, stats.features[name].max]
    row = frame.aggregate(selects, params)
    return {n: (int(row[2 * i]), int(row[2 * i + 1])) for i, n in enumerate(names)}
