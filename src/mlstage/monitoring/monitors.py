"""What each monitor computes over a window of the request log.

Every evaluator takes the declaration and a ``CheckContext`` and returns
``MetricResult`` rows; the window is the DuckDB view ``predictions`` (shadow
rows left out: their answers were never returned). Inputs come back as an
Arrow table with the logged names (``input.`` dropped), scanned in place by
``data.drift.compare`` and ``data.validation.validate``. Labels join by
prediction id inside DuckDB; only the labelled rows reach Python, for
scikit-learn's metrics. Drift is in ``monitors_drift``, performance in
``monitors_performance``; data quality, service health and staleness here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlstage.errors import MlstageError
from mlstage.monitoring.definitions import (
    DataQuality,
    ServiceHealth,
    Staleness,
    Status,
)
from mlstage.monitoring.results import MetricResult
from mlstage.monitoring.window import VIEW

if TYPE_CHECKING:
    pass

from mlstage.monitoring.check_context import DAY_MS, CheckContext, bounded
from mlstage.monitoring.monitors_drift import feature_drift, prediction_drift
from mlstage.monitoring.monitors_performance import performance

__all__ = ["EVALUATORS", "CheckContext"]

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
    return [bounded(spec, r) for r in out]


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
    elif "error" in ctx.window.columns:
        out.append(_logged_error_rate(spec, ctx))
    return [bounded(spec, r) for r in out]


def _logged_error_rate(spec: ServiceHealth, ctx: CheckContext) -> MetricResult:
    """Failed model calls per scored row, from the request log (one replica or many)."""
    row = ctx.window.sql(
        "SELECT count(*), count(*) FILTER (WHERE error IS NOT NULL) "  # noqa: S608
        f"FROM {VIEW} WHERE {ctx.where_for('', answered=False)}"
    )[0]
    rows, errors = int(row[0]), int(row[1])
    rate = errors / rows if rows else None
    return ctx.result(spec.label, "error_rate", rate, rows=rows, errors=errors, source="log")


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
    return [bounded(spec, r) for r in out]


EVALUATORS: dict[str, Callable[[Any, CheckContext], list[MetricResult]]] = {
    "feature_drift": feature_drift,
    "prediction_drift": prediction_drift,
    "data_quality": data_quality,
    "performance": performance,
    "service_health": service_health,
    "staleness": staleness,
}
