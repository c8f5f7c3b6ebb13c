"""Versioned datasets: ``mlstage.datasets.register("churn", "data/churn.csv")``.

A version is an immutable Parquet snapshot in the artifact store, named by
the digest of its rows and schema, numbered 1, 2, 3 per dataset, and
recorded with its row count, columns, statistics and source::

    import mlstage

    v1 = mlstage.datasets.register("churn", "data/churn.csv")            # CSV
    mlstage.datasets.register("churn", "data/churn.parquet")             # Parquet file
    mlstage.datasets.register("events", "data/events/")                  # folder of Parquet
    query = mlstage.datasets.SqlSource("sqlite:///crm.db", "SELECT * FROM customers ORDER BY id")
    mlstage.datasets.register("customers", query)                        # SQL query
    df = mlstage.datasets.load("churn@latest")     # or churn@1, churn@3f2a9c1e (digest prefix)
    with mlstage.start_run():
        mlstage.log_input(v1)                       # the run used exactly churn@1
    mlstage.datasets.lineage("churn@1")             # runs that used it, models registered from them

Registering content the dataset already holds returns that version, so a
pipeline may register its input on every run. Versions live in the metadata
database named by the tracking URI (SQLite or PostgreSQL).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstage.data.dataset_entities import (
    DatasetDiff,
    DatasetLineage,
    DatasetVersion,
    RegisteredDataset,
)
from mlstage.data.dataset_refs import check_dataset_name, parse_ref
from mlstage.data.dataset_sources import Source, SqlSource
from mlstage.errors import IntegrityError, InvalidInput, NotFound

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mlstage.data.dataset_store import SqlDatasetStore
    from mlstage.data.drift import DriftReport
    from mlstage.data.schema import Schema
    from mlstage.data.statistics import DatasetStatistics
    from mlstage.tracking.entities import Dataset

__all__ = [
    "DatasetVersion",
    "SqlSource",
    "diff",
    "drift_report",
    "get",
    "lineage",
    "list_datasets",
    "list_versions",
    "load",
    "register",
    "register_or_get",
    "statistics",
]

VersionRef = str | DatasetVersion
"""``name``, ``name@latest``, ``name@3``, ``name@<8+ hex of the digest>``, or a version."""


def _store() -> SqlDatasetStore:
    """The dataset store on the configured tracking database and artifact root."""
    from mlstage.config import get_settings
    from mlstage.data.dataset_store import SqlDatasetStore
    from mlstage.tracking.sql_store import SqlTrackingStore

    settings = get_settings()
    uri = settings.tracking_uri
    if uri.split(":", 1)[0].lower() in ("http", "https"):
        raise InvalidInput(
            f"tracking URI {uri!r}: dataset versions are kept in the metadata database; "
            "set MLSTAGE_TRACKING_URI to its sqlite:/// or postgresql+psycopg:// URL"
        )
    tracking = SqlTrackingStore.shared(uri, settings)
    return SqlDatasetStore(tracking.db, tracking.artifacts)


def register(
    name: str,
    source: Source,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> DatasetVersion:
    """Snapshot ``source`` as the next version of ``name``, or return the version it equals.

    ``source``: a CSV file (``.csv``, ``.csv.gz``), a Parquet file (``.parquet``,
    ``.pq``), a folder of Parquet files (``key=value`` sub-folders become
    columns), a ``SqlSource(url, query)``, a pandas DataFrame or a pyarrow Table.
    An unnamed pandas index is not data and is dropped; a named one becomes a column.
    Raises ``InvalidInput`` naming the field for a bad name, path, query or tag, and
    ``Conflict`` for a name that differs from a registered one only in case.
    """
    return register_or_get(name, source, description=description, tags=tags)[0]


def register_or_get(
    name: str,
    source: Source,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> tuple[DatasetVersion, bool]:
    """As ``register``, and whether the version is new (``False``: the content was there)."""
    from mlstage.data.dataset_snapshot import canonical_table, columns_of, content_digest
    from mlstage.data.dataset_sources import read_source
    from mlstage.models.sql_checks import check_tags, check_text
    from mlstage.tracking.context import collect_context

    check_dataset_name(name)
    text = check_text(description or "", "description")
    checked_tags = check_tags(tags)
    store = _store()
    store.refuse_clash(name)  # before the (maybe long) read of the source
    raw, origin = read_source(source)
    table = canonical_table(raw)
    digest = content_digest(table)
    existing = store.find(name, digest)
    if existing is not None:
        return existing, False
    with tempfile.TemporaryDirectory(prefix="mlstage-dataset-") as folder:
        from mlstage.data.dataset_snapshot import write_snapshot

        path = Path(folder) / "snapshot.parquet"
        write_snapshot(table, path)
        snapshot = store.artifacts.put_file(path)
    stats_sha = _store_statistics(store, table)
    return store.add_version(
        name,
        digest=digest,
        snapshot=snapshot,
        num_rows=table.num_rows,
        columns=columns_of(table),
        statistics_sha256=stats_sha,
        source=origin,
        description=text,
        tags=checked_tags,
        created_by=collect_context().user,
    )


def _store_statistics(store: SqlDatasetStore, table: pa.Table) -> str:
    """Compute the version's statistics (TFDV's per-feature set) and store them as JSON."""
    from mlstage.data.statistics import compute_statistics

    stats = compute_statistics(table)
    data = json.dumps(stats.to_dict(), sort_keys=True).encode("utf-8")
    return store.artifacts.put_bytes(data)[0]


def get(ref: VersionRef) -> DatasetVersion:
    """The version ``ref`` names: ``churn``/``churn@latest``, ``churn@3``, ``churn@3f2a9c1e``."""
    if isinstance(ref, DatasetVersion):
        return ref
    return _store().get(parse_ref(ref))


def load(ref: VersionRef, *, columns: list[str] | None = None) -> pd.DataFrame:
    """The version's rows as a DataFrame, read from its snapshot after checking its hash."""
    from mlstage.data.dataset_snapshot import read_snapshot

    store = _store()
    version = ref if isinstance(ref, DatasetVersion) else store.get(parse_ref(ref))
    if _in_environment():
        from mlstage.governance.policy import enforce_here

        name = version.name
        enforce_here(lambda c: c.dataset(name))
    if columns is not None:
        known = {c.name for c in version.columns}
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise InvalidInput(
                f"columns {unknown!r} are not in dataset {version.ref} "
                f"(columns: {', '.join(sorted(known))})"
            )
    return read_snapshot(_snapshot_bytes(store, version), columns)


def _in_environment() -> bool:
    from mlstage.config import get_settings

    return bool(get_settings().environment)


def _snapshot_bytes(store: SqlDatasetStore, version: DatasetVersion) -> bytes:
    try:
        return store.artifacts.get_bytes(version.snapshot_sha256)
    except IntegrityError as exc:
        raise IntegrityError(
            f"dataset {version.ref}: its snapshot was altered and is refused ({exc.message})"
        ) from exc
    except NotFound as exc:
        raise NotFound(f"dataset {version.ref}: its snapshot is missing ({exc.message})") from exc


def statistics(ref: VersionRef) -> DatasetStatistics | None:
    """The version's statistics, computed at registration (None if they were not)."""
    from mlstage.data.statistics import DatasetStatistics

    store = _store()
    version = ref if isinstance(ref, DatasetVersion) else store.get(parse_ref(ref))
    if version.statistics_sha256 is None:
        return None
    raw = json.loads(store.artifacts.get_bytes(version.statistics_sha256))
    return DatasetStatistics.from_dict(raw)


def list_datasets() -> list[RegisteredDataset]:
    """Every registered dataset with its latest version, by name."""
    return _store().list_datasets()


def list_versions(name: str) -> list[DatasetVersion]:
    """The versions of ``name``, oldest first."""
    return _store().list_versions(check_dataset_name(name))


def lineage(ref: VersionRef) -> DatasetLineage:
    """The runs that logged this exact version as an input, and the model versions from them."""
    store = _store()
    version = ref if isinstance(ref, DatasetVersion) else store.get(parse_ref(ref))
    return store.lineage(version)


def run_dataset(ref: VersionRef) -> Dataset:
    """The version as a run records it (``log_input``): its name, digest, size and columns."""
    from mlstage.tracking.entities import ColumnSchema
    from mlstage.tracking.entities import Dataset as RunDataset

    version = get(ref)
    return RunDataset(
        name=version.name,
        digest=version.digest,
        num_rows=version.num_rows,
        num_columns=version.num_columns,
        schema_=[ColumnSchema(name=c.name, dtype=c.type) for c in version.columns],
        source=f"dataset {version.ref}",
    )


def diff(
    before: VersionRef,
    after: VersionRef,
    *,
    drift: bool = True,
    schema: Schema | str | Path | None = None,
) -> DatasetDiff:
    """Columns added, removed and retyped, the row count change, and drift per shared column.

    Drift compares the columns both versions hold with the same type, with
    ``mlstage.data.drift.compare`` (thresholds from ``schema`` if given).
    """
    store = _store()
    a = before if isinstance(before, DatasetVersion) else store.get(parse_ref(before))
    b = after if isinstance(after, DatasetVersion) else store.get(parse_ref(after))
    types_a = {c.name: c.type for c in a.columns}
    types_b = {c.name: c.type for c in b.columns}
    result: dict[str, Any] = {
        "before": a.ref,
        "after": b.ref,
        "added": [c for c in b.columns if c.name not in types_a],
        "removed": [c for c in a.columns if c.name not in types_b],
        "retyped": [
            {"name": c.name, "before": c.type, "after": types_b[c.name]}
            for c in a.columns
            if c.name in types_b and types_b[c.name] != c.type
        ],
        "rows_before": a.num_rows,
        "rows_after": b.num_rows,
        "same_content": a.digest == b.digest,
    }
    shared = [c.name for c in a.columns if types_b.get(c.name) == c.type]
    if result["same_content"]:
        result["drift_note"] = "same content: nothing drifted"
    elif not drift:
        result["drift_note"] = "drift not computed"
    elif not shared:
        result["drift_note"] = "no column with the same name and type in both versions"
    else:
        result["drift"] = _drift_report(store, a, b, shared, schema).to_dict()
    return DatasetDiff.model_validate(result)


def drift_report(
    before: VersionRef, after: VersionRef, *, schema: Schema | str | Path | None = None
) -> DriftReport:
    """The drift report of ``after`` against ``before`` over the columns they share.

    ``report.to_html()`` renders it as a page with a chart per column.
    """
    store = _store()
    a = before if isinstance(before, DatasetVersion) else store.get(parse_ref(before))
    b = after if isinstance(after, DatasetVersion) else store.get(parse_ref(after))
    types_b = {c.name: c.type for c in b.columns}
    shared = [c.name for c in a.columns if types_b.get(c.name) == c.type]
    if not shared:
        raise InvalidInput(f"{a.ref} and {b.ref} share no column with the same name and type")
    return _drift_report(store, a, b, shared, schema)


def _drift_report(
    store: SqlDatasetStore,
    a: DatasetVersion,
    b: DatasetVersion,
    columns: list[str],
    schema: Schema | str | Path | None,
) -> DriftReport:
    from mlstage.data.drift import compare

    report = compare(_snapshot_table(store, a, columns), _snapshot_table(store, b, columns), schema)
    return report.model_copy(update={"reference_label": a.ref, "current_label": b.ref})


def _snapshot_table(
    store: SqlDatasetStore, version: DatasetVersion, columns: list[str]
) -> pa.Table:
    from mlstage.data.dataset_snapshot import read_snapshot_table

    return read_snapshot_table(_snapshot_bytes(store, version), columns)
