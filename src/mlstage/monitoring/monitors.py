"""What each monitor computes over a window of the request log.

Every evaluator takes the declaration and a ``CheckContext`` and returns
``MetricResult`` rows; the window is the DuckDB view ``predictions`` (shadow
rows left out: their answers were never returned). Inputs come back as an
Arrow table with the logged names (``input.`` dropped), scanned in place by
``data.drift.compare`` and ``data.validation.validate``. Labels join by
prediction id inside DuckDB; only the labelled rows reach Python, for
scikit-learn's metrics.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput, MlstageError
from mlstage.monitoring.definitions import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    DataQuality,
    FeatureDrift,
    Monitoring,
    Performance,
    PredictionDrift,
    ServiceHealth,
    Staleness,
    Status,
    worst,
)
from mlstage.monitoring.results import MetricResult
from mlstage.monitoring.window import VIEW, LogWindow, quote

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlstage.config import Settings
    from mlstage.monitoring.results import SqlMonitorResults
    from mlstage.monitoring.sql_feedback import SqlFeedbackStore
    from mlstage.serving.deployments import Deployment

DAY_MS = 86_400_000


@dataclass
class CheckContext:
    """What a monitor may read: the window, the subject, the stores, the clock."""

    window: LogWindow
    monitoring: Monitoring
    model: str
    deployment: Deployment | None
    settings: Settings
    feedback: SqlFeedbackStore
    results: SqlMonitorResults
    now_ms: int
    fetch: Callable[[str], str] | None = None
    """GET a URL's text (``/metrics`` scrapes); injectable for tests."""
    _rows: int | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """The rows monitors look at: answered ones, of the deployment if the subject is one."""
        return self.where_for("")

    def where_for(self, alias: str) -> str:
        """``where`` with the columns qualified by ``alias`` (``p`` -> ``p.route``)."""
        prefix = f"{alias}." if alias else ""
        clause = f"{prefix}route <> 'shadow'"
        if self.deployment is not None:
            name = self.deployment.name.replace("'", "''")
            clause += f" AND {prefix}deployment = '{name}'"
        return clause

    @property
    def rows(self) -> int:
        if self._rows is None:
            self._rows = self.window.count(self.where)
        return self._rows

    def result(
        self,
        monitor: str,
        metric: str,
        value: float | None,
        status: Status = "ok",
        **details: Any,
    ) -> MetricResult:
        return MetricResult(
            subject=self.monitoring.subject,
            model=self.model,
            deployment=self.deployment.name if self.deployment else None,
            monitor=monitor,
            window_start=self.window.since_ms,
            window_end=self.window.until_ms,
            metric=metric,
            value=value,
            status=status,
            details={k: v for k, v in details.items() if v is not None},
        )

    def inputs(self, names: list[str] | None = None) -> pa.Table:
        """The window's input columns (all, or ``names`` that were logged) as an Arrow table."""
        logged = self.window.inputs
        chosen = [n for n in (names if names is not None else logged) if n in logged]
        if not chosen:
            import pyarrow as pa

            return pa.table({})
        columns = ", ".join(f"{quote('input.' + n)} AS {quote(n)}" for n in chosen)
        query = f"SELECT {columns} FROM {VIEW} WHERE {self.where}"  # noqa: S608
        return self.window.con.sql(query).to_arrow_table()


def _reference(monitoring: Monitoring, value: Any, field_name: str) -> Any:
    if isinstance(value, str | bytes) or hasattr(value, "__fspath__"):
        return monitoring.path(str(value), field_name)
    return value


def _bounded(spec: Any, result: MetricResult) -> MetricResult:
    """The result with its thresholds applied: the worse of its own status and theirs."""
    status = worst([result.status, spec.bound_status(result.metric, result.value)])
    return result.model_copy(update={"status": status})


# -- drift ------------------------------------------------------------------------------------


def feature_drift(spec: FeatureDrift, ctx: CheckContext) -> list[MetricResult]:
    from mlstage.data.drift import compare
    from mlstage.data.frames import open_frame

    name = spec.label
    reference = _reference(ctx.monitoring, spec.reference, "reference")
    if ctx.rows < spec.min_rows:
        return [
            ctx.result(name, "drift_share", None, rows=ctx.rows, note="too few rows to compare")
        ]
    if spec.features is not None:
        wanted = spec.features
    else:
        frame = open_frame(reference)
        try:
            wanted = list(frame.columns)
        finally:
            frame.con.close()
    current = ctx.inputs(wanted)
    if current.num_columns == 0:
        raise InvalidInput(
            f"monitor {name!r}: none of the reference's columns ({', '.join(wanted[:10])}) "
            f"was logged as an input of model {ctx.model!r}"
        )
    if spec.features is not None:
        reference = _only(reference, current.column_names)
    report = compare(reference, current, method=spec.method, threshold=spec.threshold)
    alert_share = spec.alert_share if spec.alert_share is not None else report.drift_share
    share = report.share
    status: Status = "alert" if report.features and share >= alert_share else "ok"
    if status == "ok" and report.drifted_features:
        status = "warn"
    out = [
        ctx.result(
            name,
            "drift_share",
            share,
            status,
            drifted=report.drifted_features,
            rows=report.current_rows,
            reference_rows=report.reference_rows,
            skipped=report.skipped or None,
        )
    ]
    for feature, result in report.features.items():
        out.append(
            ctx.result(
                name,
                f"drift_score[{feature}]",
                result.score,
                "alert" if result.drifted else "ok",
                method=result.method,
                threshold=result.threshold,
                p_value=result.p_value,
                bins=result.bins,
                reference_shares=result.reference_shares,
                current_shares=result.current_shares,
            )
        )
    return [_bounded(spec, r) for r in out]


def _only(reference: Any, columns: list[str]) -> Any:
    """The reference cut to ``columns`` (a path is read lazily by DuckDB as it is)."""
    if hasattr(reference, "select") and hasattr(reference, "num_rows"):  # Arrow
        return reference.select([c for c in columns if c in reference.column_names])
    if hasattr(reference, "loc") and hasattr(reference, "columns"):  # pandas
        return reference[[c for c in columns if c in reference.columns]]
    return _ParquetColumns(reference, columns).table()


class _ParquetColumns:
    """A reference file cut to some columns, read once through DuckDB."""

    def __init__(self, path: Any, columns: list[str]) -> None:
        self.path = path
        self.columns = columns

    def table(self) -> Any:
        from mlstage.data.frames import open_frame

        frame = open_frame(self.path, "reference_file")
        try:
            kept = [c for c in self.columns if c in frame.columns]
            query = f"SELECT {', '.join(quote(c) for c in kept)} FROM {frame.table}"  # noqa: S608
            return frame.con.sql(query).to_arrow_table()
        finally:
            frame.con.close()


def prediction_drift(spec: PredictionDrift, ctx: CheckContext) -> list[MetricResult]:
    from mlstage.data.drift import compare

    name = spec.label
    reference = _reference(ctx.monitoring, spec.reference, "reference")
    if ctx.rows < spec.min_rows:
        return [ctx.result(name, "prediction_drift", None, rows=ctx.rows, note="too few rows")]
    ref = _only(reference, [spec.column])
    columns = ref.column_names if hasattr(ref, "column_names") else list(ref.columns)
    if spec.column not in columns:
        raise InvalidInput(
            f"monitor {name!r}: the reference has no column {spec.column!r} (set `column`)"
        )
    ref = (
        ref.rename_columns(["prediction"])
        if hasattr(ref, "rename_columns")
        else (ref.rename(columns={spec.column: "prediction"}))
    )
    current: pa.Table = ctx.window.con.sql(
        f"SELECT output AS prediction FROM {VIEW} WHERE {ctx.where}"  # noqa: S608
    ).to_arrow_table()
    report = compare(ref, current, method=spec.method, threshold=spec.threshold)
    if "prediction" not in report.features:
        why = report.skipped.get("prediction", "not comparable")
        return [ctx.result(name, "prediction_drift", None, note=why)]
    result = report.features["prediction"]
    out = ctx.result(
        name,
        "prediction_drift",
        result.score,
        "alert" if result.drifted else "ok",
        method=result.method,
        threshold=result.threshold,
        p_value=result.p_value,
        bins=result.bins,
        reference_shares=result.reference_shares,
        current_shares=result.current_shares,
    )
    return [_bounded(spec, out)]


# -- data quality -----------------------------------------------------------------------------


def data_quality(spec: DataQuality, ctx: CheckContext) -> list[MetricResult]:
    from mlstage.data.schema import Schema, load_schema
    from mlstage.data.validation import validate

    name = spec.label
    schema = spec.schema_
    if not isinstance(schema, Schema):
        schema = load_schema(ctx.monitoring.path(str(schema), "schema"))
    if ctx.rows == 0:
        return [ctx.result(name, "anomalies", None, note="no predictions in the window")]
    report = validate(ctx.inputs(list(schema.features)), schema, detect_pii=spec.detect_pii)
    errors, warnings = report.errors, report.warnings
    out = [
        ctx.result(
            name,
            "anomalies",
            float(len(report.anomalies)),
            "alert" if errors else ("warn" if warnings else "ok"),
            rows=report.num_rows,
            anomalies=[a.model_dump(mode="json") for a in report.anomalies[:50]],
        ),
    ]
    by_feature: dict[str, list[str]] = {}
    for anomaly in report.anomalies:
        by_feature.setdefault(anomaly.feature or "(dataset)", []).append(anomaly.severity)
    for feature, severities in sorted(by_feature.items()):
        status: Status = "alert" if "error" in severities else "warn"
        out.append(ctx.result(name, f"anomalies[{feature}]", float(len(severities)), status))
    return [_bounded(spec, r) for r in out]


# -- performance -------------------------------------------------------------------------


def _key(value: Any) -> str:
    """A label or output as a class key: bools as 0/1, whole floats as integers."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item"):
        return _key(value.item())
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _class_order(probabilities: list[Any], predicted: list[str]) -> list[str] | None:
    """The class of each probability column, learnt from which column each answer's argmax is."""
    votes: dict[int, dict[str, int]] = {}
    width = 0
    for probs, label in zip(probabilities, predicted, strict=True):
        if probs is None or len(probs) == 0:
            continue
        width = max(width, len(probs))
        best = max(range(len(probs)), key=lambda i: probs[i])
        votes.setdefault(best, {}).setdefault(label, 0)
        votes[best][label] += 1
    if width == 0:
        return None
    order = [max(votes[i], key=lambda k: votes[i][k]) if i in votes else "" for i in range(width)]
    if len(set(order)) != width:
        return None  # some column never won: its class cannot be told
    return order


def _score(
    task: str,
    metric: str,
    truth: list[str] | np.ndarray,
    predicted: list[str] | np.ndarray,
    probabilities: list[Any] | None,
    classes: list[str] | None,
) -> tuple[float | None, str]:
    """The metric and, when it is undefined on these rows, why."""
    import numpy as np
    from sklearn import metrics as m

    try:
        if task == "regression":
            y, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
            if metric == "mae":
                return float(m.mean_absolute_error(y, p)), ""
            if metric == "rmse":
                return float(math.sqrt(m.mean_squared_error(y, p))), ""
            if len(y) < 2:
                return None, "r2 needs at least two labels"
            return float(m.r2_score(y, p)), ""
        seen = sorted(set(truth) | set(predicted))
        if metric == "accuracy":
            return float(m.accuracy_score(truth, predicted)), ""
        if metric == "f1":
            if classes is not None and len(classes) == 2:
                return float(m.f1_score(truth, predicted, pos_label=classes[1])), ""
            if len(seen) <= 2 and classes is None:
                positive = seen[-1]
                return float(m.f1_score(truth, predicted, pos_label=positive)), ""
            return float(m.f1_score(truth, predicted, average="macro")), ""
        if probabilities is None or classes is None:
            return None, "roc_auc needs the logged probabilities"
        if len(set(truth)) < 2:
            return None, "roc_auc needs labels of two classes at least"
        scores = np.asarray(probabilities, dtype=float)
        if len(classes) == 2:
            y = np.asarray([t == classes[1] for t in truth])
            return float(m.roc_auc_score(y, scores[:, 1])), ""
        return float(m.roc_auc_score(truth, scores, multi_class="ovr", labels=classes)), ""
    except ValueError as exc:
        return None, str(exc).splitlines()[0]


def performance(spec: Performance, ctx: CheckContext) -> list[MetricResult]:
    name = spec.label
    labels = ctx.feedback.label_table(ctx.model, ctx.window.since_ms, ctx.window.until_ms)
    con = ctx.window.con
    con.register("labels", labels)
    try:
        total = ctx.rows
        slice_columns = []
        for s in spec.slices:
            if s in ("version", "route", "deployment"):
                slice_columns.append(f"CAST(p.{s} AS VARCHAR) AS {quote('slice:' + s)}")
            elif s in ctx.window.inputs:
                slice_columns.append(
                    f"CAST(p.{quote('input.' + s)} AS VARCHAR) AS {quote('slice:' + s)}"
                )
            else:
                raise InvalidInput(
                    f"monitor {name!r}: slice {s!r} is neither an input of model "
                    f"{ctx.model!r} nor version, route or deployment"
                )
        extra = "".join(", " + c for c in slice_columns)
        query = (
            f"SELECT p.timestamp, p.output, p.probabilities, l.label{extra} FROM {VIEW} p "  # noqa: S608
            f"JOIN labels l USING (prediction_id) WHERE {ctx.where_for('p')}"
        )
        joined = con.execute(query).df()
    finally:
        con.unregister("labels")
    labelled = len(joined)
    coverage = labelled / total if total else None
    out = [
        ctx.result(name, "labels", float(labelled), predictions=total),
        ctx.result(name, "label_coverage", coverage, labels=labelled, predictions=total),
    ]
    if labelled < spec.min_labels:
        note = f"{labelled} label(s), fewer than min_labels ({spec.min_labels})"
        out.append(ctx.result(name, "performance", None, note=note))
        return [_bounded(spec, r) for r in out]
    known = CLASSIFICATION_METRICS if spec.task == "classification" else REGRESSION_METRICS
    wanted = spec.metrics or list(known)
    out.extend(_metrics(spec, ctx, name, joined, wanted, ""))
    for s in spec.slices:
        column = f"slice:{s}"
        counts = joined[column].fillna("(missing)").value_counts()
        for value in list(counts.index)[: spec.max_slice_values]:
            part = joined[joined[column].fillna("(missing)") == value]
            out.extend(_metrics(spec, ctx, name, part, wanted, f"[{s}={value}]"))
    if spec.bucket is not None:
        out.extend(_buckets(spec, ctx, name, joined, wanted))
    return [_bounded(spec, r) for r in out]


def _buckets(
    spec: Performance, ctx: CheckContext, name: str, joined: pd.DataFrame, wanted: list[str]
) -> list[MetricResult]:
    """Coverage and metrics per sub-window, each row carrying its sub-window."""
    from mlstage.monitoring.definitions import parse_duration

    step = int(parse_duration(spec.bucket or "", "bucket") * 1000)
    since, until = ctx.window.since_ms, ctx.window.until_ms
    totals = dict(
        ctx.window.sql(
            f"SELECT (timestamp - {since}) // {step} AS b, count(*) FROM {VIEW} "  # noqa: S608
            f"WHERE {ctx.where} GROUP BY b"
        )
    )
    index = (joined["timestamp"] - since) // step
    out: list[MetricResult] = []
    for b in range(-(-(until - since) // step)):
        start, end = since + b * step, min(since + (b + 1) * step, until)
        part = joined[index == b]
        total = int(totals.get(b, 0))
        rows = [
            ctx.result(
                name,
                "label_coverage",
                len(part) / total if total else None,
                labels=len(part),
                predictions=total,
                bucket=True,
            )
        ]
        if len(part) >= spec.min_labels:
            rows += _metrics(spec, ctx, name, part, wanted, "")
        for row in rows:
            row.details["bucket"] = True
            out.append(row.model_copy(update={"window_start": start, "window_end": end}))
    return out


def _metrics(
    spec: Performance,
    ctx: CheckContext,
    name: str,
    rows: pd.DataFrame,
    wanted: list[str],
    suffix: str,
) -> list[MetricResult]:
    labels = [json.loads(v) for v in rows["label"]]
    outputs = list(rows["output"])
    probabilities: list[Any] | None = None
    classes: list[str] | None = None
    if spec.task == "classification":
        truth: Any = [_key(v) for v in labels]
        predicted: Any = [_key(_parse_output(v)) for v in outputs]
        raw = [p if hasattr(p, "__len__") and len(p) else None for p in rows["probabilities"]]
        if any(p is not None for p in raw):
            probabilities = [list(p) if p is not None else None for p in raw]
            classes = _class_order(probabilities, predicted)
            if classes is not None and any(p is None for p in probabilities):
                probabilities = None
    else:
        truth = [float(v) for v in labels]
        predicted = [float(_parse_output(v)) for v in outputs]
    out = []
    for metric in wanted:
        value, why = _score(spec.task, metric, truth, predicted, probabilities, classes)
        out.append(ctx.result(name, metric + suffix, value, labels=len(rows), note=why or None))
    return out


def _parse_output(value: Any) -> Any:
    """An output as logged: mixed-type outputs were written as JSON text."""
    if isinstance(value, str) and value[:1] in ('"', "[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- service health ----------------------------------------------------------------------


def service_health(spec: ServiceHealth, ctx: CheckContext) -> list[MetricResult]:
    name = spec.label
    seconds = (ctx.window.until_ms - ctx.window.since_ms) / 1000
    row = ctx.window.sql(
        "SELECT count(*), quantile_cont(latency_ms, [0.5, 0.95, 0.99]) "  # noqa: S608
        f"FROM {VIEW} WHERE {ctx.where}"
    )[0]
    count = int(row[0])
    p50, p95, p99 = row[1] if row[1] is not None else (None, None, None)
    out = [
        ctx.result(name, "predictions", float(count)),
        ctx.result(name, "throughput_per_s", count / seconds if seconds else None),
        ctx.result(name, "latency_p50_ms", p50),
        ctx.result(name, "latency_p95_ms", p95),
        ctx.result(name, "latency_p99_ms", p99),
    ]
    if spec.metrics_urls:
        out.append(_error_rate(spec, ctx))
    return [_bounded(spec, r) for r in out]


def _error_rate(spec: ServiceHealth, ctx: CheckContext) -> MetricResult:
    """Errors per request since the previous check, from the replicas' Prometheus counters."""
    from mlstage.monitoring.prometheus import scrape_totals

    fetch = ctx.fetch or _http_get
    requests = errors = 0.0
    failed: list[str] = []
    for url in spec.metrics_urls:
        try:
            got = scrape_totals(fetch(url))
        except (OSError, ValueError, MlstageError) as exc:
            failed.append(f"{url}: {exc}")
            continue
        requests += got["requests"]
        errors += got["errors"]
    previous = ctx.results.latest(ctx.monitoring.subject, spec.label, "error_rate")
    base_requests = base_errors = 0.0
    if previous is not None:
        before = previous.details.get("counters", {})
        if before.get("requests", 0.0) <= requests and before.get("errors", 0.0) <= errors:
            base_requests, base_errors = before.get("requests", 0.0), before.get("errors", 0.0)
    asked = requests - base_requests
    rate = (errors - base_errors) / asked if asked > 0 else None
    return ctx.result(
        spec.label,
        "error_rate",
        rate,
        "warn" if failed else "ok",
        requests=asked,
        counters={"requests": requests, "errors": errors},
        unreachable=failed or None,
    )


def _http_get(url: str) -> str:
    import httpx

    return httpx.get(url, timeout=10.0).raise_for_status().text


# -- staleness ---------------------------------------------------------------------------


def staleness(spec: Staleness, ctx: CheckContext) -> list[MetricResult]:
    from mlstage.models.api import get_registry_store
    from mlstage.tracking.store import get_tracking_store

    name = spec.label
    registry = get_registry_store(ctx.settings.tracking_uri)
    if ctx.deployment is not None:
        version = ctx.deployment.primary_version
    else:
        seen = ctx.window.sql(
            f"SELECT version, count(*) AS n FROM {VIEW} WHERE {ctx.where} "  # noqa: S608
            "GROUP BY version ORDER BY n DESC LIMIT 1"
        )
        if seen:
            version = int(seen[0][0])
        else:
            versions = registry.list_model_versions(ctx.model)
            if not versions:
                return [ctx.result(name, "model_age_days", None, note="no version served")]
            version = max(v.version for v in versions)
    mv = registry.get_model_version(ctx.model, version)
    model_age = (ctx.now_ms - mv.created_at) / DAY_MS
    out = [ctx.result(name, "model_age_days", model_age, version=version)]
    data_age: float | None = None
    note = "the version has no training run"
    if mv.run_id:
        run = get_tracking_store(ctx.settings.tracking_uri).get_run(mv.run_id)
        data_age = (ctx.now_ms - run.start_time) / DAY_MS
        inputs = [i.dataset.name for i in run.inputs if i.context == "training"]
        note = "measured from the start of the training run (the data is at least this old)"
        out.append(
            ctx.result(
                name,
                "training_data_age_days",
                data_age,
                version=version,
                run_id=run.run_id,
                datasets=inputs or None,
                note=note,
            )
        )
    else:
        out.append(ctx.result(name, "training_data_age_days", None, version=version, note=note))
    return [_bounded(spec, r) for r in out]


EVALUATORS: dict[str, Callable[[Any, CheckContext], list[MetricResult]]] = {
    "feature_drift": feature_drift,
    "prediction_drift": prediction_drift,
    "data_quality": data_quality,
    "performance": performance,
    "service_health": service_health,
    "staleness": staleness,
}
