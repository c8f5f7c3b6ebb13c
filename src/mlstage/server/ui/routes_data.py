"""Pages of data: datasets, a version's schema, statistics and lineage, drift, validation reports.

The dataset store is built on the server's own tracking store (its database
and artifact root), never on the process settings. Statistics are the JSON
blob computed when the version was registered; drift is computed here from
the two snapshots (hash-checked on read) and kept in a small cache, so the
page and its download agree and a reload costs nothing. The downloadable
HTML report is an attachment with ``nosniff``: it is never rendered under
the server's origin.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from mlstage.data.dataset_refs import check_dataset_name, parse_ref
from mlstage.errors import InvalidInput, MlstageError, NotFound
from mlstage.models.sql_store import SqlRegistryStore
from mlstage.server.deps import tracking_store
from mlstage.server.responses import attachment
from mlstage.server.routers.registry import registry_store
from mlstage.server.ui import svg
from mlstage.server.ui.render import page
from mlstage.tracking.sql_store import SqlTrackingStore

if TYPE_CHECKING:
    from mlstage.data.dataset_entities import DatasetLineage, DatasetVersion
    from mlstage.data.dataset_store import SqlDatasetStore
    from mlstage.data.drift import DriftReport
    from mlstage.data.statistics import DatasetStatistics, FeatureStatistics

Tracking = Annotated[SqlTrackingStore, Depends(tracking_store)]
Registry = Annotated[SqlRegistryStore, Depends(registry_store)]
VERSIONS_PER_PAGE = 50
TOP_VALUES_SHOWN = 5
SPARK_VALUES = 12
DRIFT_CACHE_SIZE = 16
VALIDATION_REPORT = "validation/report.json"


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/datasets", datasets, methods=["GET"])
    router.add_api_route("/datasets/{name}", dataset, methods=["GET"])
    router.add_api_route("/datasets/{name}/versions/{version}", dataset_version, methods=["GET"])
    router.add_api_route("/datasets/{name}/drift", drift, methods=["GET"])
    router.add_api_route("/datasets/{name}/drift/report.html", drift_download, methods=["GET"])
    router.add_api_route("/runs/{run_id}/validation", validation, methods=["GET"])


def dataset_store(tracking: SqlTrackingStore) -> SqlDatasetStore:
    from mlstage.data.dataset_store import SqlDatasetStore

    return SqlDatasetStore(tracking.db, tracking.artifacts)


# -- the list and one dataset ---------------------------------------------------------------


def datasets(request: Request, tracking: Tracking) -> Response:
    found = dataset_store(tracking).list_datasets()
    return page(request, "datasets.html", section="datasets", datasets=found)


def dataset(
    request: Request,
    name: str,
    tracking: Tracking,
    registry: Registry,
    page_arg: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    """The versions (newest first, paged), and the latest version's schema, statistics, lineage."""
    check_dataset_name(name)
    store = dataset_store(tracking)
    versions = list(reversed(store.list_versions(name)))
    return _version_page(
        request, store, tracking, registry, versions, versions[0], page_number(page_arg)
    )


def dataset_version(
    request: Request, name: str, version: str, tracking: Tracking, registry: Registry
) -> Response:
    """One version (``3``, ``latest`` or a digest prefix) with the same sections."""
    store = dataset_store(tracking)
    shown = store.get(parse_ref(f"{check_dataset_name(name)}@{version}"))
    versions = list(reversed(store.list_versions(name)))
    return _version_page(request, store, tracking, registry, versions, shown, 1)


def _version_page(
    request: Request,
    store: SqlDatasetStore,
    tracking: SqlTrackingStore,
    registry: SqlRegistryStore,
    versions: list[DatasetVersion],
    shown: DatasetVersion,
    page_number: int,
) -> Response:
    pages = max(1, -(-len(versions) // VERSIONS_PER_PAGE))
    if page_number > pages:
        raise NotFound(f"page {page_number} is past the last page of versions ({pages})")
    start = (page_number - 1) * VERSIONS_PER_PAGE
    stats, stats_error = _statistics(store, shown)
    stats = _masked_statistics(request, stats, shown.name)
    previous = next((v for v in versions if v.version < shown.version), None)
    return page(
        request,
        "dataset.html",
        section="datasets",
        name=shown.name,
        versions=versions[start : start + VERSIONS_PER_PAGE],
        num_versions=len(versions),
        page_number=page_number,
        pages=pages,
        dv=shown,
        is_latest=shown.version == versions[0].version,
        previous=previous,
        stats=stats,
        stats_error=stats_error,
        features=_feature_rows(shown, stats),
        lineage=_visible(store.lineage(shown), tracking, registry),
    )


def page_number(text: str) -> int:
    """The ``page`` query parameter: a whole number from 1."""
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise InvalidInput(f"page must be a whole number from 1, got {text[:40]!r}")
    return int(text)


def _statistics(
    store: SqlDatasetStore, version: DatasetVersion
) -> tuple[DatasetStatistics | None, str]:
    """The statistics stored at registration, or why there are none to show."""
    from mlstage.data.statistics import DatasetStatistics

    if version.statistics_sha256 is None:
        return None, "No statistics were computed when this version was registered."
    try:
        raw = json.loads(store.artifacts.get_bytes(version.statistics_sha256))
        return DatasetStatistics.from_dict(raw), ""
    except MlstageError as exc:
        return None, f"The statistics of {version.ref} cannot be read: {exc.message}"
    except ValueError as exc:
        return None, f"The statistics of {version.ref} are not valid: {exc}"


def _masked_statistics(
    request: Request, stats: DatasetStatistics | None, name: str
) -> DatasetStatistics | None:
    """Statistics with the values of personal-data columns masked or hashed (issue 9)."""
    from mlstage.governance.pii_masking import mask_statistics

    return mask_statistics(stats, request.app.state.settings, name=name)


def _masked_drift(request: Request, report: DriftReport, name: str) -> DriftReport:
    """A drift report whose categorical bins of personal-data columns are hidden (issue 9)."""
    from mlstage.governance.pii_masking import mask_drift

    return mask_drift(report, request.app.state.settings, name=name)


@dataclass(frozen=True)
class FeatureRow:
    """One column of the version: its type and, when computed, its statistics and chart."""

    name: str
    type: str
    stats: FeatureStatistics | None
    top: list[tuple[str, int]]
    more_values: int
    chart: svg.BarChart | None


def _feature_rows(version: DatasetVersion, stats: DatasetStatistics | None) -> list[FeatureRow]:
    rows = []
    for column in version.columns:
        s = stats.features.get(column.name) if stats is not None else None
        top: list[tuple[str, int]] = []
        chart = None
        more = 0
        if s is not None:
            top = [(v.value, v.count) for v in s.top_values]
            more = max(0, (s.unique or len(top)) - TOP_VALUES_SHOWN)
            if s.histogram is not None and s.histogram.counts:
                chart = svg.histogram_sparkline(s.histogram.edges, s.histogram.counts)
            elif top:
                shown = top[:SPARK_VALUES]
                chart = svg.sparkline(
                    [float(c) for _, c in shown], [f"{v}: {c:,}" for v, c in shown]
                )
        rows.append(FeatureRow(column.name, column.type, s, top[:TOP_VALUES_SHOWN], more, chart))
    return rows


def _visible(
    lineage: DatasetLineage, tracking: SqlTrackingStore, registry: SqlRegistryStore
) -> DatasetLineage:
    """The lineage less runs and models of projects the caller cannot read (when scoped)."""
    from mlstage.governance.scope import current_scope

    if current_scope() is None:
        return lineage
    experiments = {e.experiment_id for e in tracking.list_experiments()}
    runs = [u for u in lineage.runs if u.experiment_id in experiments]
    models = []
    if lineage.models:
        readable = {m.name for m in registry.list_registered_models()}
        models = [m for m in lineage.models if m.name in readable]
    return lineage.model_copy(update={"runs": runs, "models": models})


# -- drift ---------------------------------------------------------------------------------


_drift_cache: OrderedDict[tuple[str, str, float], DriftReport] = OrderedDict()
_drift_lock = threading.Lock()


def _drift_pair(
    store: SqlDatasetStore, name: str, base: str, current: str
) -> tuple[list[DatasetVersion], DatasetVersion, DatasetVersion]:
    """The versions, and the two compared: ``current`` defaults to the latest, ``base`` to the
    version before it."""
    check_dataset_name(name)
    versions = list(reversed(store.list_versions(name)))
    after = store.get(parse_ref(f"{name}@{current or 'latest'}", "current"))
    if base:
        before = store.get(parse_ref(f"{name}@{base}", "base"))
    else:
        earlier = [v for v in versions if v.version < after.version]
        if not earlier:
            raise InvalidInput(
                f"dataset {name!r} has no version before {after.version} to compare with; "
                "register another version, or choose base and current"
            )
        before = earlier[0]
    return versions, before, after


def _drift_report(
    request: Request, store: SqlDatasetStore, before: DatasetVersion, after: DatasetVersion
) -> DriftReport:
    """The drift of ``after`` against ``before`` over the columns they share (cached)."""
    from mlstage.data.dataset_snapshot import read_snapshot_table
    from mlstage.data.drift import compare

    share = float(request.app.state.settings.drift_share)
    key = (before.snapshot_sha256, after.snapshot_sha256, share)
    with _drift_lock:
        cached = _drift_cache.get(key)
        if cached is not None:
            _drift_cache.move_to_end(key)
    if cached is not None:
        return cached.model_copy(update={"reference_label": before.ref, "current_label": after.ref})
    types = {c.name: c.type for c in after.columns}
    shared = [c.name for c in before.columns if types.get(c.name) == c.type]
    if not shared:
        raise InvalidInput(f"{before.ref} and {after.ref} share no column with the same type")
    tables = [
        read_snapshot_table(store.artifacts.get_bytes(v.snapshot_sha256), shared)
        for v in (before, after)
    ]
    report = compare(tables[0], tables[1]).model_copy(
        update={"reference_label": before.ref, "current_label": after.ref, "drift_share": share}
    )
    with _drift_lock:
        _drift_cache[key] = report
        while len(_drift_cache) > DRIFT_CACHE_SIZE:
            _drift_cache.popitem(last=False)
    return report


@dataclass(frozen=True)
class DriftRow:
    feature: Any
    chart: svg.BarChart | None


def drift(
    request: Request, name: str, tracking: Tracking, base: str = "", current: str = ""
) -> Response:
    """Per-feature drift of ``current`` against ``base`` (version numbers), with a chart each."""
    store = dataset_store(tracking)
    versions, before, after = _drift_pair(store, name, base, current)
    report = _masked_drift(request, _drift_report(request, store, before, after), name)
    ordered = sorted(report.features.values(), key=lambda f: (not f.drifted, f.feature))
    rows = [
        DriftRow(
            f,
            svg.grouped_bars(f.bins, f.reference_shares, f.current_shares, (before.ref, after.ref)),
        )
        for f in ordered
    ]
    return page(
        request,
        "drift.html",
        section="datasets",
        name=before.name,
        versions=versions,
        before=before,
        after=after,
        report=report,
        rows=rows,
    )


def drift_download(
    request: Request, name: str, tracking: Tracking, base: str = "", current: str = ""
) -> Response:
    """The self-contained HTML report, as an attachment a browser saves and never renders here."""
    store = dataset_store(tracking)
    _, before, after = _drift_pair(store, name, base, current)
    report = _masked_drift(request, _drift_report(request, store, before, after), name)
    html = report.to_html().encode("utf-8")
    filename = f"drift-{before.name}-{before.version}-{after.version}.html"
    return attachment(html, hashlib.sha256(html).hexdigest(), filename)


# -- validation reports ------------------------------------------------------------------


def validation(request: Request, run_id: str, tracking: Tracking) -> Response:
    """The anomalies the ``validate_data`` step logged to ``run_id`` (404 when it logged none)."""
    run = tracking.get_run(run_id)
    listed = tracking.list_artifacts(run_id, VALIDATION_REPORT.rsplit("/", 1)[0])
    if not any(a.path == VALIDATION_REPORT and not a.is_dir for a in listed):
        raise NotFound(f"run {run_id} has no validation report ({VALIDATION_REPORT})")
    try:
        report = json.loads(tracking.read_artifact(run_id, VALIDATION_REPORT))
    except ValueError as exc:
        raise InvalidInput(f"run {run_id}: {VALIDATION_REPORT} is not JSON ({exc})") from exc
    if not isinstance(report, dict):
        raise InvalidInput(f"run {run_id}: {VALIDATION_REPORT} is not a validation report")
    anomalies = [a for a in report.get("anomalies") or [] if isinstance(a, dict)]
    anomalies.sort(key=lambda a: (a.get("severity") != "error", str(a.get("feature") or "")))
    updates = [u for u in report.get("updates") or [] if isinstance(u, dict)]
    errors = sum(1 for a in anomalies if a.get("severity") == "error")
    return page(
        request,
        "validation.html",
        section="experiments",
        run=run,
        experiment=tracking.get_experiment(run.experiment_id),
        ok=bool(report.get("ok", errors == 0)),
        num_rows=report.get("num_rows"),
        anomalies=anomalies,
        errors=errors,
        updates=updates,
        as_text=_as_text,
    )


def _as_text(value: Any) -> str:
    """A schema update's old or new value, as the schema file would say it."""
    if value is None:
        return "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)
