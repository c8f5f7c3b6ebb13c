"""Garbage collection of the content-addressed artifact store.

Two kinds of garbage: the artifact records of deleted runs (a deleted run
keeps its metadata, params and metrics, but no longer its files), and blobs
nothing in the database names any more (``orphans``: left by those records,
by retention, by a write whose row never committed). A blob is kept while
anything references it: a live run's artifact, a model version's files, a
dataset version's snapshot or statistics, a request-log file, a pipeline
step's output, a feature view's pinned source; tables this module does not
know are scanned for sha256-shaped text, so a newer table's references are
safe too. Blobs younger than ``gc_grace_seconds`` are never collected: their
row may not be committed yet. Temporary files of interrupted local writes
older than that go too.

Order: database rows first (one transaction per batch of runs), blobs
after; the listing of blobs is taken before the references are read, so a
blob referenced while the collector runs is never deleted. A dry run
reports the same without changing anything.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, String, Text, delete, select

from mlstage.errors import InvalidInput
from mlstage.store import tables as t

if TYPE_CHECKING:
    from mlstage.artifacts.store import ArtifactStore
    from mlstage.config import Settings
    from mlstage.store.database import Database

RUN_BATCH = 200
"""Deleted runs whose artifact records go in one transaction."""
BLOB_BATCH = 1000
_SHA = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")

NO_REFERENCES = frozenset(
    {
        "experiments", "experiment_tags", "runs", "params", "tags", "metrics",
        "latest_metrics", "logged_batches", "datasets", "run_inputs", "registered_models",
        "registered_model_tags", "model_version_tags", "model_aliases", "model_history",
        "deployments", "deployment_history", "projects", "users", "role_grants", "api_tokens",
        "sessions", "audit_log", "assessment_answers", "assessments", "feedback",
        "monitor_results", "alert_deliveries", "pipeline_definitions", "pipeline_runs",
        "pipeline_schedules", "pipeline_schedule_fires", "scheduler_leases",
        "registered_datasets", "feature_entities", "feature_materializations",
        "alembic_version",
    }
)  # fmt: skip
"""Tables known to name no blob (hashes of tokens, sessions and audit text are not blobs)."""
READ_EXPLICITLY = frozenset(
    {
        "artifacts", "model_versions", "dataset_versions", "prediction_logs",
        "pipeline_step_runs", "feature_views",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int
    modified_ms: int


@dataclass
class GcReport:
    """What a collection deleted, or with ``dry_run`` what it would delete."""

    dry_run: bool
    deleted_runs: list[str] = field(default_factory=list)
    """Deleted runs whose artifact records go."""
    artifact_records: int = 0
    blobs: list[Blob] = field(default_factory=list)
    """Unreferenced blobs older than the grace period."""
    young_orphans: int = 0
    """Unreferenced blobs kept because they are younger than the grace period."""
    temp_files: int = 0
    temp_bytes: int = 0

    @property
    def bytes(self) -> int:
        return sum(b.size for b in self.blobs) + self.temp_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "deleted_runs": self.deleted_runs,
            "artifact_records": self.artifact_records,
            "blobs": [{"sha256": b.sha256, "size": b.size} for b in self.blobs],
            "young_orphans": self.young_orphans,
            "temp_files": self.temp_files,
            "bytes": self.bytes,
        }


# -- the artifact store ----------------------------------------------------------------------


def blob_key(store: ArtifactStore, sha: str) -> str:
    """Where ``store`` keeps blob ``sha`` (its documented layout, ``sha256/ab/cd/<hex>``)."""
    return f"{store.root}/sha256/{sha[:2]}/{sha[2:4]}/{sha}"


def _ms(stamp: Any) -> int:
    if isinstance(stamp, datetime):
        return int(stamp.timestamp() * 1000)
    if isinstance(stamp, int | float):
        return int(stamp * 1000)
    return int(time.time() * 1000)  # unknown age: treated as new, so never collected


def list_blobs(store: ArtifactStore) -> Iterator[Blob]:
    """Every blob of the store, with its size and last-modified time."""
    if store.is_local:
        base = Path(store.root) / "sha256"
        for folder, _, names in os.walk(base):
            for name in names:
                if _SHA.fullmatch(name):
                    try:
                        info = os.stat(os.path.join(folder, name))
                    except FileNotFoundError:
                        continue
                    yield Blob(name, info.st_size, int(info.st_mtime * 1000))
        return
    try:
        found = store.fs.find(f"{store.root}/sha256", detail=True)
    except FileNotFoundError:
        return
    for key, info in found.items():
        name = str(key).rsplit("/", 1)[-1]
        if _SHA.fullmatch(name):
            stamp = info.get("LastModified") or info.get("mtime") or info.get("created")
            yield Blob(name, int(info.get("size") or 0), _ms(stamp))


def blob_size(store: ArtifactStore, sha: str) -> int:
    """The blob's size in bytes; 0 when it is gone already."""
    try:
        if store.is_local:
            return os.path.getsize(blob_key(store, sha))
        return int(store.fs.size(blob_key(store, sha)))
    except FileNotFoundError:
        return 0


def delete_blobs(store: ArtifactStore, shas: Iterable[str]) -> None:
    """Delete blobs; ones already gone are fine (a repeated or interrupted run)."""
    keys = [blob_key(store, sha) for sha in shas]
    if store.is_local:
        for key in keys:
            Path(key).unlink(missing_ok=True)
        return
    for start in range(0, len(keys), BLOB_BATCH):
        batch = keys[start : start + BLOB_BATCH]
        present = [k for k in batch if store.fs.exists(k)]
        if present:
            store.fs.rm(present)


# -- references ------------------------------------------------------------------------------


def _shas_in(texts: Iterable[Any]) -> set[str]:
    found: set[str] = set()
    for text in texts:
        if text:
            found.update(_SHA.findall(str(text)))
    return found


def referenced_blobs(
    conn: Connection, *, live_runs_only: bool = True, prediction_logs: bool = True
) -> set[str]:
    """Every blob the database names. ``live_runs_only``: artifacts of deleted runs do not
    count; ``prediction_logs=False`` leaves the request log's files out (retention)."""
    refs: set[str] = set()
    a, r = t.artifacts.c, t.runs.c
    query = select(a.sha256).distinct()
    if live_runs_only:
        query = query.join(t.runs, r.run_id == a.run_id).where(r.lifecycle_stage != "deleted")
    refs.update(conn.execute(query).scalars())
    mv = t.model_versions.c
    for model_row in conn.execute(select(mv.manifest_sha256, mv.files, mv.card, mv.validation)):
        refs.update(_shas_in(model_row))
    dv = t.dataset_versions.c
    for snapshot, statistics in conn.execute(select(dv.snapshot_sha256, dv.statistics_sha256)):
        refs.add(snapshot)
        if statistics:
            refs.add(statistics)
    if prediction_logs:
        refs.update(conn.execute(select(t.prediction_logs.c.sha256)).scalars())
    refs.update(_shas_in(conn.execute(select(t.pipeline_step_runs.c.outputs)).scalars()))
    fv = t.feature_views.c
    for view_row in conn.execute(select(fv.source, fv.definition)):
        refs.update(_shas_in(view_row))
    for table in t.metadata.sorted_tables:
        if table.name in NO_REFERENCES or table.name in READ_EXPLICITLY:
            continue
        text_columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        if text_columns:
            for row in conn.execute(select(*text_columns)):
                refs.update(_shas_in(row))
    return refs


# -- collecting ------------------------------------------------------------------------------


def _deleted_runs(conn: Connection) -> tuple[list[str], int]:
    a, r = t.artifacts.c, t.runs.c
    rows = conn.execute(
        select(a.run_id, a.path)
        .join(t.runs, r.run_id == a.run_id)
        .where(r.lifecycle_stage == "deleted")
        .order_by(a.run_id)
    ).all()
    return list(dict.fromkeys(row.run_id for row in rows)), len(rows)


def _drop_artifact_records(db: Database, run_ids: list[str]) -> None:
    for start in range(0, len(run_ids), RUN_BATCH):
        batch = run_ids[start : start + RUN_BATCH]

        def work(conn: Connection, batch: list[str] = batch) -> None:
            # only runs still deleted: one restored meanwhile keeps its files
            still = select(t.runs.c.run_id).where(
                t.runs.c.run_id.in_(batch), t.runs.c.lifecycle_stage == "deleted"
            )
            conn.execute(delete(t.artifacts).where(t.artifacts.c.run_id.in_(still)))

        db.write(work)


def _old_temp_files(store: ArtifactStore, before_ms: int) -> list[tuple[Path, int]]:
    if not store.is_local:
        return []  # object stores have no temporary files: uploads are atomic
    folder = Path(store.root) / "tmp"
    found = []
    for path in folder.glob("*") if folder.is_dir() else []:
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        if path.is_file() and info.st_mtime * 1000 < before_ms:
            found.append((path, info.st_size))
    return found


def collect_garbage(
    db: Database,
    store: ArtifactStore,
    *,
    grace_seconds: float = 3600.0,
    dry_run: bool = False,
    now_ms: int | None = None,
) -> GcReport:
    """Drop the artifact records of deleted runs, then delete unreferenced blobs."""
    if grace_seconds < 0:
        raise InvalidInput(f"grace_seconds must be 0 or more, got {grace_seconds}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    before = now - int(grace_seconds * 1000)
    report = GcReport(dry_run=dry_run)
    with db.read() as conn:
        report.deleted_runs, report.artifact_records = _deleted_runs(conn)
    if not dry_run:
        _drop_artifact_records(db, report.deleted_runs)
    listed = list(list_blobs(store))  # before the references: a blob named meanwhile is kept
    with db.read() as conn:
        refs = referenced_blobs(conn)
    orphans = [b for b in listed if b.sha256 not in refs]
    report.blobs = sorted((b for b in orphans if b.modified_ms < before), key=lambda b: b.sha256)
    report.young_orphans = len(orphans) - len(report.blobs)
    temp = _old_temp_files(store, before)
    report.temp_files, report.temp_bytes = len(temp), sum(size for _, size in temp)
    if not dry_run:
        delete_blobs(store, [b.sha256 for b in report.blobs])
        for path, _ in temp:
            path.unlink(missing_ok=True)
    return report


def open_targets(settings: Settings) -> tuple[Database, ArtifactStore]:
    """The metadata database and artifact store ``settings`` name (never a remote server)."""
    from mlstage.artifacts.store import get_artifact_store
    from mlstage.store.database import get_database

    if settings.tracking_uri.split(":", 1)[0].lower() in ("http", "https"):
        raise InvalidInput(
            f"tracking URI {settings.tracking_uri!r} is a server: garbage collection and "
            "retention work on the metadata database itself; run them where the server "
            "runs, with its sqlite:/// or postgresql+psycopg:// URL"
        )
    db = get_database(
        settings.tracking_uri,
        busy_timeout=settings.sqlite_busy_timeout,
        synchronous=settings.sqlite_synchronous,
    )
    return db, get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)


def run_gc(settings: Settings, *, dry_run: bool = False, now_ms: int | None = None) -> GcReport:
    """``collect_garbage`` on the database and artifact store of ``settings``."""
    db, store = open_targets(settings)
    return collect_garbage(
        db, store, grace_seconds=settings.gc_grace_seconds, dry_run=dry_run, now_ms=now_ms
    )
