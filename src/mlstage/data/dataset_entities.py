"""Entities of versioned datasets, shared by the store, the public API, the CLI and the UI.

Pydantic models, like the tracking and registry entities: rows never leave
the store, these do. Times are milliseconds since the epoch.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstage.tracking.entities import Entity


class Column(Entity):
    """A column of a snapshot: its name and Arrow type (``int64``, ``string``, ``timestamp[s]``)."""

    name: str
    type: str


class DatasetSource(Entity):
    """Where a version's rows came from; never holds a password."""

    kind: str
    """csv, parquet, parquet-folder, sql or dataframe."""
    location: str = ""
    """An absolute path, or a database URL with the password hidden."""
    query: str = ""
    files: int = 0
    """How many Parquet files a folder held."""

    def __str__(self) -> str:
        if self.kind == "sql":
            return f"sql {self.location}: {self.query}"
        if self.kind == "dataframe":
            return "in-memory data frame"
        if self.kind == "parquet-folder":
            return f"parquet folder {self.location} ({self.files} files)"
        return f"{self.kind} {self.location}"


class DatasetVersion(Entity):
    """One immutable snapshot of a named dataset, addressed as ``name@version``."""

    name: str
    version: int
    digest: str
    """sha256 of the rows and the schema: the same data always has the same digest."""
    num_rows: int
    num_columns: int
    columns: list[Column]
    snapshot_sha256: str
    """The Parquet snapshot in the artifact store; every load checks it."""
    snapshot_size: int
    statistics_sha256: str | None = None
    """The statistics blob (JSON), when they were computed at registration."""
    source: DatasetSource
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    created_by: str = ""
    created_at: int

    @property
    def ref(self) -> str:
        """``name@version``: how the rest of the platform addresses this version."""
        return f"{self.name}@{self.version}"

    @property
    def short_digest(self) -> str:
        return self.digest[:12]


class RegisteredDataset(Entity):
    """A dataset name and a summary of its versions."""

    name: str
    description: str = ""
    created_at: int
    updated_at: int
    num_versions: int
    latest: DatasetVersion | None = None


class RunUsage(Entity):
    """A run that logged a dataset version as an input."""

    run_id: str
    run_name: str
    experiment_id: str
    experiment_name: str
    status: str
    context: str
    start_time: int


class ModelUsage(Entity):
    """A model version registered from a run that used the dataset version."""

    name: str
    version: int
    run_id: str
    status: str
    created_at: int


class DatasetLineage(Entity):
    """Where a dataset version went: the runs that used it and the models they produced."""

    dataset: DatasetVersion
    runs: list[RunUsage] = Field(default_factory=list)
    models: list[ModelUsage] = Field(default_factory=list)


class ColumnChange(Entity):
    name: str
    before: str | None
    """The type in the first version; None when the column was added."""
    after: str | None
    """The type in the second version; None when the column was removed."""


class DatasetDiff(Entity):
    """What changed between two versions: columns, row count, and drift per feature."""

    before: str
    after: str
    added: list[Column] = Field(default_factory=list)
    removed: list[Column] = Field(default_factory=list)
    retyped: list[ColumnChange] = Field(default_factory=list)
    rows_before: int
    rows_after: int
    same_content: bool
    drift: dict[str, Any] | None = None
    """The drift report's ``to_dict()`` over the shared columns, when it could be computed."""
    drift_note: str = ""
    """Why there is no drift report, if there is none."""

    @property
    def rows_change(self) -> int:
        return self.rows_after - self.rows_before
