"""One monitor check: a deployment's (or model's) monitors over a window, stored, alerted on.

    report = run_check("churn-prod", window="1d")       # what ``mlstage monitor check`` runs

The window ends at ``now`` (default: the clock) and reaches back ``window``.
Each monitor runs on the same DuckDB view of the request log; a monitor that
fails is recorded as an ``alert`` result named ``error`` with the message,
and the others still run. The results are written in one transaction, then
the alert rules fire on them. Checks read and write the metadata database
directly: run them where the database is (the scheduler, the server host),
not through a platform server URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from mlstage.errors import InvalidInput, MlstageError, NotFound
from mlstage.monitoring.alerts import AlertSender, Delivery
from mlstage.monitoring.definitions import (
    Monitoring,
    Status,
    find_monitoring,
    parse_duration,
    worst,
)
from mlstage.monitoring.results import MetricResult

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.monitoring.webhooks import Resolver
    from mlstage.store.database import Database


class CheckReport(BaseModel):
    """Everything one check computed and what its alert rules did."""

    subject: str
    model: str
    deployment: str | None
    window_start: int
    window_end: int
    predictions: int
    status: Status
    results: list[MetricResult]
    deliveries: list[Delivery] = Field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def database_of(settings: Settings) -> Database:
    """The metadata database of the settings; monitoring needs one, not a server URL."""
    from mlstage.store.database import get_database

    if settings.tracking_uri.split(":", 1)[0].lower() in ("http", "https"):
        raise InvalidInput(
            f"monitor checks read the metadata database, but the tracking URI is the server "
            f"{settings.tracking_uri}; run them on the server host with its database URI "
            "(--tracking-uri sqlite:///... or postgresql+psycopg://...)"
        )
    return get_database(
        settings.tracking_uri,
        busy_timeout=settings.sqlite_busy_timeout,
        synchronous=settings.sqlite_synchronous,
    )


def run_check(
    subject: str,
    *,
    window: str | float = "1d",
    monitoring: Monitoring | None = None,
    config: str | Path | None = None,
    settings: Settings | None = None,
    now_ms: int | None = None,
    store: bool = True,
    alerts: bool = True,
    only: Sequence[str] | None = None,
    fetch: Callable[[str], str] | None = None,
    resolver: Resolver | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry_delays: Sequence[float] | None = None,
) -> CheckReport:
    """Evaluate the monitors of ``subject`` (a deployment or model) over the last ``window``.

    ``monitoring`` (or the file ``config``, else the project's
    ``monitoring.yaml``) declares them; ``only`` picks monitors by name.
    With ``store`` the results join the time series; with ``alerts`` the
    rules fire on them.
    """
    from mlstage.artifacts.store import get_artifact_store
    from mlstage.config import get_settings
    from mlstage.monitoring.monitors import EVALUATORS, CheckContext
    from mlstage.monitoring.results import SqlMonitorResults
    from mlstage.monitoring.sql_feedback import SqlFeedbackStore
    from mlstage.monitoring.window import open_window
    from mlstage.serving.request_log_store import SqlPredictionLogStore

    started = time.perf_counter()
    settings = settings or get_settings()
    if monitoring is None:
        monitoring = find_monitoring(subject, config, settings.project_root)
    elif subject not in (monitoring.deployment, monitoring.model):
        raise InvalidInput(f"the monitoring given is for {monitoring.subject!r}, not {subject!r}")
    seconds = parse_duration(window)
    end = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    start = end - int(seconds * 1000)
    db = database_of(settings)
    artifacts = get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)
    deployment = None
    if monitoring.deployment is not None:
        from mlstage.serving.sql_deployments import SqlDeploymentStore

        deployment = SqlDeploymentStore(db).get_deployment(monitoring.deployment)
        model = deployment.model
    else:
        from mlstage.models.names import canonical_model_name

        model = canonical_model_name(monitoring.model or "")
    feedback = SqlFeedbackStore(db, artifacts, lookback_days=settings.feedback_lookback_days)
    results_store = SqlMonitorResults(db)
    monitors = [m for m in monitoring.monitors if only is None or m.label in only]
    if only is not None:
        missing = sorted(set(only) - {m.label for m in monitoring.monitors})
        if missing:
            raise NotFound(
                f"no monitor named {', '.join(missing)} for {monitoring.subject!r}; "
                f"declared: {', '.join(m.label for m in monitoring.monitors) or 'none'}"
            )
    results: list[MetricResult] = []
    with open_window(SqlPredictionLogStore(db, artifacts), model, start, end) as log_window:
        ctx = CheckContext(
            window=log_window,
            monitoring=monitoring,
            model=model,
            deployment=deployment,
            settings=settings,
            feedback=feedback,
            results=results_store,
            now_ms=end,
            fetch=fetch,
        )
        rows = ctx.rows
        for spec in monitors:
            try:
                results.extend(EVALUATORS[spec.type](spec, ctx))
            except MlstageError as exc:
                results.append(ctx.result(spec.label, "error", None, "alert", error=exc.message))
    if store:
        results = results_store.add(results)
    deliveries: list[Delivery] = []
    if alerts and monitoring.alerts:
        sender = AlertSender(
            db, settings, resolver=resolver, sleep=sleep, retry_delays=retry_delays
        )
        deliveries = sender.process(monitoring, results)
    return CheckReport(
        subject=monitoring.subject,
        model=model,
        deployment=deployment.name if deployment else None,
        window_start=start,
        window_end=end,
        predictions=rows,
        status=worst([r.status for r in results]),
        results=results,
        deliveries=deliveries,
        seconds=time.perf_counter() - started,
    )
