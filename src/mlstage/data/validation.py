"""Check data against a schema: anomalies in TFDV's categories, and the schema edits that fit.

Each anomaly names the feature, what the schema expected, what came, and a
severity: ``error`` anomalies mean the data should not be used as it is
(``ValidationReport.ok`` is false, ``mlstage data validate`` exits non-zero);
``warning`` anomalies (a column the schema does not know, personal data) are
reported and do not fail. When the data looks like natural evolution, the
report's ``updates`` say how the schema would change to accept it, and
``suggested_schema()`` applies them, for a person to review and commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mlstage.data.frames import NUMERIC_TYPES, Frame, open_frame, quote
from mlstage.data.schema import (
    MAX_DOMAIN_SIZE,
    FeatureSchema,
    Schema,
    infer_feature,
    load_schema,
    presence_floor,
)
from mlstage.data.statistics import DatasetStatistics, FeatureStatistics, statistics_of

Severity = Literal["error", "warning"]

CATEGORIES: dict[str, Severity] = {
    "missing_column": "error",
    "unexpected_column": "warning",
    "type_mismatch": "error",
    "out_of_domain": "error",
    "out_of_range": "error",
    "low_presence": "error",
    "nan_not_allowed": "error",
    "inf_not_allowed": "error",
    "row_count": "error",
    "pii": "warning",
}
"""Every anomaly category and its severity (TFDV: SCHEMA_MISSING_COLUMN, SCHEMA_NEW_COLUMN,
UNEXPECTED_DATA_TYPE, ENUM_TYPE_UNEXPECTED_STRING_VALUES, *_SMALL_/_BIG_INT/FLOAT,
FEATURE_TYPE_LOW_FRACTION_PRESENT, FLOAT_TYPE_HAS_NAN, FLOAT_TYPE_HAS_INF,
DATASET_LOW/HIGH_NUM_EXAMPLES; PII is mlstage's own)."""

SHOWN_VALUES = 5


class Anomaly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature: str | None
    """The column, or None for the dataset (row count)."""
    category: str
    severity: Severity
    expected: str
    actual: str
    description: str


class SchemaUpdate(BaseModel):
    """One suggested schema edit: ``field`` of ``feature`` goes from ``old`` to ``new``.

    ``field == "feature"`` adds (old None) or removes (new None) the whole feature;
    ``feature is None`` edits the dataset-level fields (``min_rows``, ``max_rows``).
    """

    model_config = ConfigDict(extra="forbid")

    feature: str | None
    field: str
    old: Any = None
    new: Any = None
    reason: str


class ValidationReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_rows: int
    anomalies: list[Anomaly]
    updates: list[SchemaUpdate] = Field(default_factory=list)
    statistics: DatasetStatistics
    schema_: Schema = Field(alias="schema")

    @property
    def ok(self) -> bool:
        """No error anomalies (warnings allowed)."""
        return not any(a.severity == "error" for a in self.anomalies)

    @property
    def errors(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.severity == "error"]

    @property
    def warnings(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.severity == "warning"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "num_rows": self.num_rows,
            "anomalies": [a.model_dump(mode="json") for a in self.anomalies],
            "updates": [u.model_dump(mode="json") for u in self.updates],
        }

    def suggested_schema(self) -> Schema:
        """The schema with every suggested update applied (review before committing it)."""
        return apply_updates(self.schema_, self.updates)


def apply_updates(schema: Schema, updates: list[SchemaUpdate]) -> Schema:
    result = schema.model_copy(deep=True)
    for update in updates:
        if update.feature is None:
            setattr(result, update.field, update.new)
        elif update.field == "feature":
            if update.new is None:
                result.features.pop(update.feature, None)
            else:
                result.features[update.feature] = FeatureSchema.model_validate(update.new)
        elif update.feature in result.features:
            setattr(result.features[update.feature], update.field, update.new)
    return Schema.model_validate(result.model_dump())  # re-checked as a whole


def validate(
    data: Any, schema: Schema | str | Path, *, detect_pii: bool = True
) -> ValidationReport:
    """Check ``data`` (anything ``compute_statistics`` takes) against ``schema`` or its path."""
    if not isinstance(schema, Schema):
        schema = load_schema(schema)
    frame = open_frame(data)
    try:
        stats = statistics_of(frame)
        checker = _Checker(frame, schema, stats)
        checker.run(detect_pii)
    finally:
        frame.con.close()
    return ValidationReport(
        num_rows=stats.num_rows,
        anomalies=checker.anomalies,
        updates=checker.updates,
        statistics=stats,
        schema=schema,
    )


def _fmt(value: float | str | None) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return "-" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.3g}%" if whole else "0%"


class _Checker:
    def __init__(self, frame: Frame, schema: Schema, stats: DatasetStatistics) -> None:
        self.frame = frame
        self.schema = schema
        self.stats = stats
        self.anomalies: list[Anomaly] = []
        self.updates: list[SchemaUpdate] = []

    def add(
        self, feature: str | None, category: str, expected: str, actual: str, text: str
    ) -> None:
        severity = CATEGORIES[category]
        self.anomalies.append(
            Anomaly(
                feature=feature,
                category=category,
                severity=severity,
                expected=expected,
                actual=actual,
                description=text,
            )
        )

    def suggest(self, feature: str | None, field: str, old: Any, new: Any, reason: str) -> None:
        self.updates.append(
            SchemaUpdate(feature=feature, field=field, old=old, new=new, reason=reason)
        )

    def run(self, detect_pii: bool) -> None:
        self.check_rows()
        data_features = self.stats.features
        for name, expected in self.schema.features.items():
            if name not in data_features:
                self.add(
                    name,
                    "missing_column",
                    "present",
                    "absent",
                    f"column {name!r} is in the schema but not in the data",
                )
                self.suggest(name, "feature", expected.model_dump(mode="json"), None, "not in data")
        for name, actual in data_features.items():
            if name not in self.schema.features:
                self.add(
                    name,
                    "unexpected_column",
                    "not in schema",
                    actual.type,
                    f"column {name!r} ({actual.type}) is not in the schema",
                )
                new = infer_feature(actual).model_dump(mode="json", exclude_none=True)
                self.suggest(name, "feature", None, new, "new column")
        typed = self.check_types()
        self.check_values(typed)
        if detect_pii:
            self.check_pii()

    def check_rows(self) -> None:
        n = self.stats.num_rows
        lo, hi = self.schema.min_rows, self.schema.max_rows
        expected = (
            f"{_fmt(float(lo)) if lo is not None else 1} to {hi if hi is not None else 'any'}"
        )
        if n == 0 or (lo is not None and n < lo):
            self.add(
                None, "row_count", f"{expected} rows", str(n), f"{n} rows, fewer than expected"
            )
            if n > 0:
                self.suggest(None, "min_rows", lo, n, f"the data has {n} rows")
        if hi is not None and n > hi:
            self.add(None, "row_count", f"{expected} rows", str(n), f"{n} rows, more than {hi}")
            self.suggest(None, "max_rows", hi, n, f"the data has {n} rows")

    def check_types(self) -> list[str]:
        """Features present in both with compatible types; type mismatches reported."""
        both = [n for n in self.schema.features if n in self.stats.features]
        integral = self._integral_checks(both)
        out = []
        for name in both:
            expected = self.schema.features[name].type
            actual = self.stats.features[name].type
            ok = expected == actual or (expected == "float" and actual == "int")
            if expected == "int" and actual == "float":
                ok = integral.get(name, 0) == 0  # whole numbers, e.g. pandas ints with NaN
            if ok:
                out.append(name)
                continue
            detail = f"column {name!r} holds {actual} values; the schema expects {expected}"
            if expected == "int" and actual == "float":
                detail += f" ({integral[name]} values are not whole numbers)"
            self.add(name, "type_mismatch", expected, actual, detail)
            new = infer_feature(self.stats.features[name]).model_dump(
                mode="json", exclude_none=True
            )
            self.suggest(
                name,
                "feature",
                self.schema.features[name].model_dump(mode="json"),
                new,
                "type changed",
            )
        return out

    def _integral_checks(self, names: list[str]) -> dict[str, int]:
        wanted = [
            n
            for n in names
            if self.schema.features[n].type == "int" and self.stats.features[n].type == "float"
        ]
        if not wanted:
            return {}
        selects = [
            f"count(*) FILTER (WHERE isfinite({quote(n)}) AND {quote(n)} <> trunc({quote(n)}))"
            for n in wanted
        ]
        row = self.frame.aggregate(selects)
        return {n: int(v) for n, v in zip(wanted, row, strict=True)}

    def check_values(self, names: list[str]) -> None:
        ranges = self._range_counts(names)
        for name in names:
            expected = self.schema.features[name]
            actual = self.stats.features[name]
            self.check_presence(name, expected, actual)
            if name in ranges:
                self.check_range(name, expected, actual, ranges[name])
            if actual.type == "float":
                self.check_non_finite(name, expected, actual)
            if expected.domain is not None and actual.type == "string" and actual.count:
                self.check_domain(name, expected, actual)

    def check_presence(self, name: str, expected: FeatureSchema, actual: FeatureStatistics) -> None:
        n = self.stats.num_rows
        if n == 0 or actual.presence >= expected.min_fraction:
            return
        self.add(
            name,
            "low_presence",
            f"at least {expected.min_fraction:.3g} present",
            f"{actual.presence:.3g}",
            f"column {name!r} has values in {_pct(actual.count, n)} of rows "
            f"({actual.missing} missing); the schema expects at least {expected.min_fraction:.3g}",
        )
        floor = presence_floor(actual.presence)
        self.suggest(name, "min_fraction", expected.min_fraction, floor, "fewer values present")

    def _range_counts(self, names: list[str]) -> dict[str, int]:
        wanted: list[tuple[str, float | None, float | None]] = []
        for n in names:
            f = self.schema.features[n]
            if self.stats.features[n].type in NUMERIC_TYPES and (
                f.min is not None or f.max is not None
            ):
                wanted.append((n, f.min, f.max))
        if not wanted:
            return {}
        selects, params = [], []
        for n, lo, hi in wanted:
            col = quote(n)
            conds = []
            if lo is not None:
                conds.append(f"{col} < ?")
                params.append(lo)
            if hi is not None:
                conds.append(f"{col} > ?")
                params.append(hi)
            selects.append(f"count(*) FILTER (WHERE isfinite({col}) AND ({' OR '.join(conds)}))")
        row = self.frame.aggregate(selects, params)
        return {n: int(v) for (n, _, _), v in zip(wanted, row, strict=True)}

    def check_range(
        self, name: str, expected: FeatureSchema, actual: FeatureStatistics, outside: int
    ) -> None:
        if outside == 0:
            return
        lo, hi = expected.min, expected.max
        span = (
            f"[{_fmt(lo) if lo is not None else '-inf'}, {_fmt(hi) if hi is not None else 'inf'}]"
        )
        seen = f"[{_fmt(actual.min)}, {_fmt(actual.max)}]"
        self.add(
            name,
            "out_of_range",
            f"values in {span}",
            f"values in {seen}",
            f"column {name!r}: {outside} values ({_pct(outside, actual.count)}) outside {span}; "
            f"they range over {seen}",
        )
        if lo is not None and isinstance(actual.min, float) and actual.min < lo:
            self.suggest(name, "min", lo, actual.min, "smaller values seen")
        if hi is not None and isinstance(actual.max, float) and actual.max > hi:
            self.suggest(name, "max", hi, actual.max, "larger values seen")

    def check_non_finite(
        self, name: str, expected: FeatureSchema, actual: FeatureStatistics
    ) -> None:
        if actual.nan_count and expected.allow_nan is False:
            self.add(
                name,
                "nan_not_allowed",
                "no NaN",
                f"{actual.nan_count} NaN",
                f"column {name!r} holds {actual.nan_count} NaN values; the schema disallows NaN",
            )
            self.suggest(name, "allow_nan", False, True, "NaN values seen")
        if actual.inf_count and expected.allow_inf is False:
            self.add(
                name,
                "inf_not_allowed",
                "no infinity",
                f"{actual.inf_count} infinite",
                f"column {name!r} holds {actual.inf_count} infinite values; "
                "the schema disallows infinity",
            )
            self.suggest(name, "allow_inf", False, True, "infinite values seen")

    def check_domain(self, name: str, expected: FeatureSchema, actual: FeatureStatistics) -> None:
        domain = expected.domain or []
        rows, outside, kinds = self.frame.value_counts(
            name, exclude=domain, limit=MAX_DOMAIN_SIZE + 1
        )
        if not rows or outside / actual.count <= 1 - expected.min_domain_mass:
            return
        shown = ", ".join(repr(r[0]) for r in rows[:SHOWN_VALUES])
        more = f" and {kinds - SHOWN_VALUES} more" if kinds > SHOWN_VALUES else ""
        self.add(
            name,
            "out_of_domain",
            f"one of {len(domain)} values",
            f"{kinds} other values",
            f"column {name!r}: {outside} values ({_pct(outside, actual.count)}) outside the "
            f"domain: {shown}{more}",
        )
        if len(domain) + kinds <= MAX_DOMAIN_SIZE:
            new_domain = sorted({*domain, *(v for v, _ in rows)})
            self.suggest(name, "domain", domain, new_domain, f"{kinds} new values")
        else:
            self.suggest(name, "domain", domain, None, f"over {MAX_DOMAIN_SIZE} values: no domain")

    def check_pii(self) -> None:
        from mlstage.data.pii import pii_columns

        for name, kind in pii_columns(self.frame).items():
            declared = self.schema.features.get(name)
            note = " (the schema records it)" if declared and declared.pii == kind else ""
            self.add(
                name,
                "pii",
                "no personal data",
                kind,
                f"column {name!r} looks like personal data: {kind.replace('_', ' ')}{note}",
            )
