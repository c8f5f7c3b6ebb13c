"""The tracking store over the platform server's REST API (``http(s)://host:port``).

Same interface as the SQL store, and the same errors. The transport (pooled
client, retries, error mapping, checked downloads) is ``mlstage.http_client``:
creates are sent twice only when the first attempt never left; ``log_batch``
carries a batch id the server applies once, so it is retried like the calls
that are safe to repeat.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlstage.artifacts.paths import canonical_artifact_path
from mlstage.errors import InvalidInput, NotFound
from mlstage.http_client import API, HttpApi, dumps, response_body, text_map
from mlstage.tracking import validation as v
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
from mlstage.tracking.store import MAX_PAGE_SIZE

if TYPE_CHECKING:
    import pyarrow as pa

    from mlstage.tracking.store import TrackingStore


class HttpTrackingStore(HttpApi):
    """``TrackingStore`` over HTTP, one pooled ``httpx.Client`` per store."""

    # -- experiments -----------------------------------------------------------------

    def create_experiment(
        self, name: str, tags: Mapping[str, str] | None = None, project: str | None = None
    ) -> Experiment:
        body = {"name": name, "tags": text_map(tags, "tag"), "project": project}
        return Experiment.model_validate(self._json("POST", "/experiments", body))

    def get_experiment(self, experiment_id: str) -> Experiment:
        path = f"/experiments/{_experiment_id(experiment_id)}"
        return Experiment.model_validate(self._json("GET", path))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self._json("GET", "/experiments/by-name", params={"name": name})
        except NotFound:
            return None
        return Experiment.model_validate(data)

    def get_or_create_experiment(self, name: str, project: str | None = None) -> Experiment:
        body = {"name": name, "project": project}
        data = self._json("POST", "/experiments/get-or-create", body, idempotent=True)
        return Experiment.model_validate(data)

    def list_experiments(self, include_deleted: bool = False) -> list[Experiment]:
        params = {"include_deleted": "true" if include_deleted else "false"}
        data = self._json("GET", "/experiments", params=params)
        return [Experiment.model_validate(e) for e in data["experiments"]]

    def delete_experiment(self, experiment_id: str) -> None:
        self._json("DELETE", f"/experiments/{_experiment_id(experiment_id)}")

    # -- runs ----------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        context: RunContext | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        body = {
            "experiment_id": _experiment_id(experiment_id),
            "name": name,
            "context": None if context is None else context.model_dump(mode="json"),
            "tags": text_map(tags, "tag"),
        }
        return Run.model_validate(self._json("POST", "/runs", body))

    def end_run(self, run_id: str, status: RunStatus, reason: str = "") -> None:
        body = {"status": RunStatus(status).value, "reason": reason}
        self._json("POST", f"/runs/{v.check_run_id(run_id)}/end", body, idempotent=True)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        ids = [v.check_run_id(r) for r in run_ids]
        if ids:
            self._json("POST", "/runs/heartbeat", {"run_ids": ids}, idempotent=True)

    def get_run(self, run_id: str) -> Run:
        return Run.model_validate(self._json("GET", f"/runs/{v.check_run_id(run_id)}"))

    def delete_run(self, run_id: str) -> None:
        self._json("DELETE", f"/runs/{v.check_run_id(run_id)}")

    # -- logging -------------------------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        batch_id: str | None = None,
    ) -> None:
        v.check_run_id(run_id)
        v.check_batch_sizes(len(metrics), len(params or {}), len(tags or {}))
        body = {
            # With an id the server applies the batch once, so every failure may be retried.
            "batch_id": v.check_batch_id(batch_id) if batch_id else uuid.uuid4().hex,
            "metrics": [_metric_json(m) for m in metrics],
            "params": text_map(params, "param"),
            "tags": text_map(tags, "tag"),
        }
        self._json("POST", f"/runs/{run_id}/batch", body, idempotent=True)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        path = f"/runs/{v.check_run_id(run_id)}/metrics/history"
        data = self._json("GET", path, params={"key": key})
        return [Metric.model_validate(m) for m in data["metrics"]]

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> RunPage:
        body = _search_body(experiment_ids, filter, order_by, max_results, page_token)
        return RunPage.model_validate(self._json("POST", "/runs/search", body, idempotent=True))

    def search_runs_table(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> pa.Table | None:
        """The page as an Arrow table (for DataFrames); None from a server that answers JSON."""
        from mlstage.tracking.runs_table import ARROW_STREAM, from_stream

        body = _search_body(experiment_ids, filter, order_by, max_results, page_token)
        response = self._send(
            "POST",
            API + "/runs/search",
            content=dumps(body),
            headers={"Content-Type": "application/json", "Accept": ARROW_STREAM},
            idempotent=True,
        )
        if not response.headers.get("content-type", "").startswith(ARROW_STREAM):
            return None
        return from_stream(response.content)

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        body = {"inputs": [i.model_dump(mode="json", by_alias=True) for i in inputs]}
        self._json("POST", f"/runs/{v.check_run_id(run_id)}/inputs", body, idempotent=True)

    # -- artifacts -----------------------------------------------------------------------

    def _artifact_url(self, run_id: str, path: str) -> str:
        path = canonical_artifact_path(path)
        return f"{API}/runs/{v.check_run_id(run_id)}/artifacts/{quote(path, safe='/')}"

    def log_artifact(self, run_id: str, path: str, data: bytes) -> ArtifactInfo:
        response = self._send(
            "PUT",
            self._artifact_url(run_id, path),
            content=bytes(data),
            headers={"Content-Type": "application/octet-stream"},
        )
        return ArtifactInfo.model_validate(response_body(response))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        params = {} if path is None else {"path": path}
        data = self._json("GET", f"/runs/{v.check_run_id(run_id)}/artifacts", params=params)
        return [ArtifactInfo.model_validate(a) for a in data["artifacts"]]

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """The artifact's bytes; ``IntegrityError`` if they arrive cut short or altered."""
        what = f"artifact {canonical_artifact_path(path)!r} of run {run_id}"
        return self._download(self._artifact_url(run_id, path), what)


def _experiment_id(experiment_id: Any) -> str:
    """The id as the caller wrote it, once it is known to be a whole number."""
    v.check_experiment_id(experiment_id)
    return str(experiment_id)


def _metric_json(metric: Metric) -> dict[str, Any]:
    key, value, step = metric.key, metric.value, metric.step
    if type(value) is not float:
        value = v.check_metric_value(key, value)
    if type(step) is not int:
        step = v.check_step(key, step)
    return {"key": key, "value": value, "step": step, "timestamp": int(metric.timestamp)}


if TYPE_CHECKING:
    _conforms: type[TrackingStore] = HttpTrackingStore


def _search_body(
    experiment_ids: Sequence[str],
    filter: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
    page_token: str | None,
) -> dict[str, Any]:
    if not isinstance(max_results, int) or not 1 <= max_results <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"max_results must be between 1 and {MAX_PAGE_SIZE}, got {max_results!r}"
        )
    return {
        "experiment_ids": [str(e) for e in experiment_ids],
        "filter": filter,
        "order_by": None if order_by is None else list(order_by),
        "max_results": max_results,
        "page_token": page_token,
    }
