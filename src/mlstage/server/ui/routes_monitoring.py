"""Pages of monitoring: every monitored deployment or model, and one with its history.

``/monitoring`` lists each subject of the ``monitor_results`` time series
with its monitors' latest status and its recent alerts, and the deployments
nobody monitors yet. ``/monitoring/{name}`` shows one subject over a range
(``?range=30d``, ending at its last check): drift per feature, prediction
drift, performance with the label coverage, service health, the alerts sent,
and, for a deployment, its retrainings with their trigger, states and
release decision. Charts are Plotly, drawn by ``monitoring.js`` from specs
in ``data-*`` attributes; the series are folded in SQL
(``monitoring_reads``), so a year of hourly checks sends a few hundred
points a metric.

A subject belongs to the project of its model: under a project scope, a
subject whose model the caller cannot read is not listed, and its page is
"not found", as if it did not exist.
"""

from __future__ import annotations

import hashlib
import re
import time
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from mlstage.errors import InvalidInput, NotFound
from mlstage.server.deps import tracking_store
from mlstage.server.routers.deployments import deployment_store
from mlstage.server.ui import assets, monitoring_charts, monitoring_reads
from mlstage.server.ui.render import page
from mlstage.serving.sql_deployments import SqlDeploymentStore
from mlstage.tracking.sql_store import SqlTrackingStore

if TYPE_CHECKING:
    from mlstage.serving.deployments import Deployment
    from mlstage.store.database import Database

Tracking = Annotated[SqlTrackingStore, Depends(tracking_store)]
Deployments = Annotated[SqlDeploymentStore, Depends(deployment_store)]
SCRIPT_PATH = "/ui/monitoring.js"
"""The page's script: behind the pages' auth, like the pages (the static route lists its files)."""
DAY_MS = 86_400_000
RANGES: dict[str, int | None] = {
    "1d": DAY_MS,
    "7d": 7 * DAY_MS,
    "30d": 30 * DAY_MS,
    "90d": 90 * DAY_MS,
    "1y": 365 * DAY_MS,
    "all": None,
}
DEFAULT_RANGE = "30d"
RECENT_ALERTS_MS = 7 * DAY_MS
ALERTS_SHOWN = 50
RETRAININGS_SHOWN = 20
_SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/monitoring", monitoring, methods=["GET"])
    router.add_api_route(SCRIPT_PATH, script, methods=["GET"])
    router.add_api_route("/monitoring/{name}", monitor, methods=["GET"])


def check_subject(name: str) -> str:
    if not _SUBJECT.fullmatch(name) or ".." in name:
        raise InvalidInput(
            f"{name[:120]!r} is not a deployment or model name: letters, digits, '_', '-' "
            "and '.', starting with a letter or digit"
        )
    return name


def _visible(db: Database) -> frozenset[str] | None:
    """Lower-case names of the models the caller may read, or ``None`` when unrestricted."""
    from mlstage.governance.scope import readable_projects

    projects = readable_projects()
    return None if projects is None else monitoring_reads.model_names(db, projects)


def _readable(model: str, visible: frozenset[str] | None) -> bool:
    return visible is None or model.lower() in visible


# -- the list ----------------------------------------------------------------------------------


def monitoring(request: Request, tracking: Tracking, deployments: Deployments) -> Response:
    """Every monitored subject with its monitors' latest status and alerts; the unmonitored."""
    db = tracking.db
    visible = _visible(db)
    found = [s for s in monitoring_reads.subjects(db) if _readable(s[1], visible)]
    counts = monitoring_reads.alert_counts(db, [s[0] for s in found], _now_ms() - RECENT_ALERTS_MS)
    summaries = []
    for name, model, deployment, last_end in found:
        recent, last_alert = counts.get(name, (0, None))
        summaries.append(
            monitoring_reads.SubjectSummary(
                subject=name,
                model=model,
                deployment=deployment,
                last_window_end=last_end,
                monitors=monitoring_reads.latest_states(db, name, last_end),
                alerts_recent=recent,
                last_alert_at=last_alert,
            )
        )
    monitored = {s.subject for s in summaries}
    idle = [d for d in deployments.list_deployments() if d.name not in monitored]
    return page(
        request,
        "monitoring.html",
        section="monitoring",
        subjects=summaries,
        idle=idle,
        alerting=sum(1 for s in summaries if s.status == "alert"),
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- one subject -------------------------------------------------------------------------------


def monitor(
    request: Request,
    name: str,
    tracking: Tracking,
    deployments: Deployments,
    range_: Annotated[str, Query(alias="range")] = DEFAULT_RANGE,
) -> Response:
    """One deployment's (or model's) monitors over ``range``, its alerts and retrainings."""
    check_subject(name)
    if range_ not in RANGES:
        raise InvalidInput(f"range must be one of {', '.join(RANGES)}; got {range_[:40]!r}")
    db = tracking.db
    found = monitoring_reads.subject(db, name)
    deployment = _deployment(deployments, name, found)
    if found is None and deployment is None:
        raise NotFound(f"{name!r} is neither a deployment nor a monitored model")
    model = deployment.model if deployment is not None else found[1] if found else ""
    if not _readable(model, _visible(db)):
        raise NotFound(f"{name!r} is neither a deployment nor a monitored model")
    context: dict[str, Any] = {
        "name": name,
        "model": model,
        "deployment": deployment,
        "ranges": list(RANGES),
        "chosen": range_,
        "states": [],
        "sections": [],
        "first_end": None,
        "last_end": None,
        "since": None,
        "width": None,
    }
    if found is not None:
        first_end, _, _, last_end = found
        span = RANGES[range_]
        since = first_end - 1 if span is None else max(last_end - span, first_end - 1)
        width = monitoring_reads.bucket_width(since, last_end)
        states = monitoring_reads.latest_states(db, name, last_end)
        series = monitoring_reads.series(db, name, since, last_end, width)
        context.update(
            states=states,
            sections=monitoring_charts.sections(states, series, since, last_end),
            first_end=first_end,
            last_end=last_end,
            since=since,
            width=width,
            folded=any(p.checks > 1 for s in series for p in s.points),
        )
    return page(
        request,
        "monitor.html",
        section="monitoring",
        status=monitoring_reads.worst(s.status for s in context["states"]),
        alerts=_alerts(request, db, name),
        retrainings=_retrainings(db, deployment),
        script=SCRIPT_PATH,
        plotly=assets.plotly_head() if context["sections"] else {},
        **context,
    )


def _deployment(
    deployments: SqlDeploymentStore,
    name: str,
    found: tuple[int, str, str | None, int] | None,
) -> Deployment | None:
    """The deployment the page is about: the subject's, or one named ``name`` without results."""
    from mlstage.serving.deployments import check_deployment_name

    wanted = found[2] if found is not None else name
    if wanted is None:
        return None  # a model's results
    try:
        return deployments.get_deployment(check_deployment_name(wanted))
    except (NotFound, InvalidInput):
        return None


def _alerts(request: Request, db: Database, name: str) -> list[Any]:
    from mlstage.monitoring.alerts import AlertSender

    return AlertSender(db, request.app.state.settings).list(name, limit=ALERTS_SHOWN)


def _retrainings(db: Database, deployment: Deployment | None) -> list[Any]:
    """The deployment's retrainings, newest first, each with its transitions (oldest first)."""
    if deployment is None:
        return []
    from mlstage.server.ui import monitoring_retrainings

    return monitoring_retrainings.history(db, deployment.name, RETRAININGS_SHOWN)


# -- the script ----------------------------------------------------------------------------


@cache
def _script_file() -> assets.StaticFile:
    body = resources.files("mlstage.server.ui").joinpath("static", "monitoring.js").read_bytes()
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    return assets.StaticFile(body, assets.MEDIA_TYPES[".js"], etag)


def script(request: Request) -> Response:
    """``monitoring.js``, or 304 when the browser has it (revalidated: an upgrade shows)."""
    file = _script_file()
    headers = {"ETag": file.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == file.etag:
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)
