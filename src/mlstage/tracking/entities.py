"""Entities of experiment tracking, shared by the stores, the REST API and the CLI.

Pydantic models: the server validates requests with them and the HTTP
client parses responses with them. Times are milliseconds since the epoch.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


RUN_STATUSES: dict[str, RunStatus] = {status.value: status for status in RunStatus}


class Entity(BaseModel):
    # Schemas are built on first use, not at import: a process that loads one model
    # would otherwise build the schema of every entity it never touches.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


E = TypeVar("E", bound=BaseModel)


@contextmanager
def bulk_build() -> Iterator[None]:
    """Pause the cyclic garbage collector while thousands of entities are built.

    Entities hold no reference cycles, yet every 700 allocations the
    collector would walk the whole heap: that doubles the time of a 10,000
    point metric history.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_new = object.__new__
_set = object.__setattr__


def trusted(cls: type[E], fields: dict[str, Any]) -> E:
    """Build ``cls`` from values the stores already checked (rows read back), skipping validation.

    A search or a metric history builds thousands of entities; this is about
    four times faster than ``model_construct``. It relies on how pydantic 2
    lays out a model instance, which tests/tracking/test_entities.py pins.
    """
    instance = _new(cls)
    _set(instance, "__dict__", fields)
    _set(instance, "__pydantic_fields_set__", set(fields))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


class Experiment(Entity):
    experiment_id: str
    name: str
    lifecycle_stage: str = "active"
    created_at: int
    updated_at: int
    tags: dict[str, str] = Field(default_factory=dict)


class Metric(Entity):
    key: str
    value: float
    step: int = 0
    timestamp: int = 0

    def __eq__(self, other: object) -> bool:
        # NaN points compare equal to themselves, so histories round-trip.
        if not isinstance(other, Metric):
            return NotImplemented
        same_value = self.value == other.value or (
            math.isnan(self.value) and math.isnan(other.value)
        )
        return (
            same_value
            and self.key == other.key
            and self.step == other.step
            and self.timestamp == other.timestamp
        )

    def __hash__(self) -> int:
        return hash((self.key, self.step, self.timestamp))


class Param(Entity):
    key: str
    value: str


class Tag(Entity):
    key: str
    value: str


class ColumnSchema(Entity):
    name: str
    dtype: str


class Dataset(Entity):
    """A dataset as a run saw it: enough to tell whether two runs trained on the same data."""

    name: str
    digest: str
    num_rows: int
    num_columns: int
    schema_: list[ColumnSchema] = Field(default_factory=list, alias="schema")
    source: str = ""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class DatasetInput(Entity):
    dataset: Dataset
    context: str = "training"


class ArtifactInfo(Entity):
    path: str
    is_dir: bool = False
    size: int | None = None
    sha256: str | None = None


class RunContext(Entity):
    """Where and how a run was started, recorded once at its start."""

    user: str = ""
    host: str = ""
    source: str = ""
    command: str = ""
    git_commit: str | None = None
    git_dirty: bool | None = None
    python_version: str = ""
    packages: dict[str, str] = Field(default_factory=dict)


class Run(Entity):
    run_id: str
    experiment_id: str
    name: str
    status: RunStatus
    lifecycle_stage: str = "active"
    start_time: int
    end_time: int | None = None
    status_reason: str = ""
    context: RunContext = Field(default_factory=RunContext)
    metrics: dict[str, float] = Field(default_factory=dict)
    """The latest value of each metric (highest step, then newest)."""
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    inputs: list[DatasetInput] = Field(default_factory=list)

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time


class RunPage(Entity):
    runs: list[Run]
    next_page_token: str | None = None


def run_summary(run: Run) -> dict[str, Any]:
    """A flat dict of a run, for tables and DataFrames."""
    row: dict[str, Any] = {
        "run_id": run.run_id,
        "experiment_id": run.experiment_id,
        "run_name": run.name,
        "status": run.status.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "user": run.context.user,
        "git_commit": run.context.git_commit,
    }
    row.update({f"metrics.{k}": v for k, v in run.metrics.items()})
    row.update({f"params.{k}": v for k, v in run.params.items()})
    row.update({f"tags.{k}": v for k, v in run.tags.items()})
    return row
