"""The tracking store interface, served by the SQL store and the HTTP store alike.

The fluent API (``mlstage.log_metric`` and friends), the CLI and the server's
routers all speak to a ``TrackingStore``; which one is chosen from the
tracking URI's scheme by ``get_tracking_store``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from mlstage.tracking.entities import (
    ArtifactInfo,
    DatasetInput,
    Experiment,
    Metric,
    Run,
    RunContext,
    RunPage,
    RunStatus,
)

DEFAULT_EXPERIMENT = "Default"
MAX_PAGE_SIZE = 50_000


@runtime_checkable
class TrackingStore(Protocol):
    """Experiments, runs and what they log; every mutation is one transaction."""

    def create_experiment(
        self, name: str, tags: Mapping[str, str] | None = None, project: str | None = None
    ) -> Experiment: ...

    def get_experiment(self, experiment_id: str) -> Experiment: ...

    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    def get_or_create_experiment(self, name: str, project: str | None = None) -> Experiment: ...

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]: ...

    def delete_experiment(self, experiment_id: str) -> None: ...

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        context: RunContext | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run: ...

    def end_run(self, run_id: str, status: RunStatus, reason: str = "") -> None: ...

    def heartbeat(self, run_ids: Sequence[str]) -> None: ...

    def get_run(self, run_id: str) -> Run: ...

    def delete_run(self, run_id: str) -> None: ...

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        batch_id: str | None = None,
    ) -> None:
        """Write a batch atomically; a repeated ``batch_id`` is applied once (safe retries)."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> RunPage: ...

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None: ...

    def log_artifact(self, run_id: str, path: str, data: bytes) -> ArtifactInfo: ...

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]: ...

    def read_artifact(self, run_id: str, path: str) -> bytes: ...


def get_tracking_store(uri: str | None = None) -> TrackingStore:
    """The store for ``uri`` (default: the configured tracking URI), shared per process."""
    from mlstage.config import get_settings

    settings = get_settings()
    uri = uri or settings.tracking_uri
    scheme = uri.split(":", 1)[0].lower()
    if scheme in ("http", "https"):
        from mlstage.tracking.http_store import HttpTrackingStore

        return HttpTrackingStore.shared(uri, settings)
    if scheme.startswith(("sqlite", "postgresql")):
        from mlstage.tracking.sql_store import SqlTrackingStore

        return SqlTrackingStore.shared(uri, settings)
    from mlstage.errors import InvalidInput

    raise InvalidInput(
        f"tracking URI {uri!r}: unknown scheme {scheme!r}; use sqlite:///path.db, "
        "postgresql+psycopg://user@host/db or http(s)://host:port"
    )
