"""The tracking store over the platform server's REST API (``http(s)://host:port``).

Same interface as the SQL store, and the same errors: the server answers
``{"error": {"code", "message"}}`` and this client raises the class that
code names, so a user sees one message whichever store is behind the URI.

Requests that can safely run twice (GET, PUT, DELETE and the POSTs marked
idempotent below) are retried with backoff on connection errors and on
429/502/503/504. Other POSTs (create, log_batch) are retried only when the
connection failed before the request left: a request that may have reached
the server is never sent twice from here. Downloads are checked against
the server's ``X-Content-SHA256`` and length.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from mlstage import __version__
from mlstage.artifacts.paths import canonical_artifact_path
from mlstage.config import Settings
from mlstage.errors import (
    Forbidden,
    IntegrityError,
    InvalidInput,
    MlstageError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    error_from_code,
)
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
    from mlstage.tracking.store import TrackingStore

API = "/api/v1"
SHA256_HEADER = "x-content-sha256"
RETRY_DELAYS = (0.1, 0.5, 1.5)
"""Seconds to wait before the 2nd, 3rd and 4th attempt (with jitter)."""
MAX_RETRY_AFTER = 10.0
KEEPALIVE_EXPIRY = 4.0
"""Idle pooled connections are dropped before the server's keep-alive closes them."""

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_FALLBACK_ERRORS: dict[int, type[MlstageError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    413: PayloadTooLarge,
    429: Unavailable,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


class HttpTrackingStore:
    """``TrackingStore`` over HTTP, one pooled ``httpx.Client`` per store."""

    def __init__(
        self,
        uri: str,
        settings: Settings | None = None,
        *,
        client: httpx.Client | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """A store for the server at ``uri``; token and timeout come from ``settings``.

        ``client`` replaces the pooled client (tests pass one bound to an
        in-process app or a mock transport).
        """
        if settings is None:
            from mlstage.config import get_settings

            settings = get_settings()
        self.uri = uri.rstrip("/")
        if client is None:
            timeout = settings.http_timeout
            client = httpx.Client(
                timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY),
            )
        client.base_url = httpx.URL(self.uri)
        client.headers["User-Agent"] = f"mlstage/{__version__}"
        client.headers["Accept"] = "application/json"
        if settings.tracking_token:
            client.headers["Authorization"] = f"Bearer {settings.tracking_token}"
        self._client = client
        self._retry_delays = tuple(retry_delays)
        self._sleep = sleep

    _shared: dict[tuple[str, str, float], HttpTrackingStore] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, uri: str, settings: Settings) -> HttpTrackingStore:
        """One store (and connection pool) per server, token and timeout in this process."""
        key = (uri.rstrip("/"), settings.tracking_token, settings.http_timeout)
        with cls._shared_lock:
            store = cls._shared.get(key)
            if store is None:
                store = cls(uri, settings)
                cls._shared[key] = store
            return store

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"HttpTrackingStore({self.uri!r})"

    # -- experiments -----------------------------------------------------------------

    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> Experiment:
        body = {"name": name, "tags": _text_map(tags, "tag")}
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

    def get_or_create_experiment(self, name: str) -> Experiment:
        data = self._json("POST", "/experiments/get-or-create", {"name": name}, idempotent=True)
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
            "tags": _text_map(tags, "tag"),
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
    ) -> None:
        v.check_run_id(run_id)
        v.check_batch_sizes(len(metrics), len(params or {}), len(tags or {}))
        body = {
            "metrics": [_metric_json(m) for m in metrics],
            "params": _text_map(params, "param"),
            "tags": _text_map(tags, "tag"),
        }
        self._json("POST", f"/runs/{run_id}/batch", body)

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
        if not isinstance(max_results, int) or not 1 <= max_results <= MAX_PAGE_SIZE:
            raise InvalidInput(
                f"max_results must be between 1 and {MAX_PAGE_SIZE}, got {max_results!r}"
            )
        body = {
            "experiment_ids": [str(e) for e in experiment_ids],
            "filter": filter,
            "order_by": None if order_by is None else list(order_by),
            "max_results": max_results,
            "page_token": page_token,
        }
        return RunPage.model_validate(self._json("POST", "/runs/search", body, idempotent=True))

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
        return ArtifactInfo.model_validate(_body(response))

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactInfo]:
        params = {} if path is None else {"path": path}
        data = self._json("GET", f"/runs/{v.check_run_id(run_id)}/artifacts", params=params)
        return [ArtifactInfo.model_validate(a) for a in data["artifacts"]]

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """The artifact's bytes; ``IntegrityError`` if they arrive cut short or altered."""
        url = self._artifact_url(run_id, path)
        what = f"artifact {canonical_artifact_path(path)!r} of run {run_id}"
        try:
            response = self._send("GET", url)
        except Unavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, httpx.RemoteProtocolError) and "message body" in str(cause):
                raise IntegrityError(f"download of {what} was cut short: {cause}") from exc
            raise
        data = response.content
        length = response.headers.get("content-length", "")
        encoded = response.headers.get("content-encoding", "identity") != "identity"
        if length.isdigit() and not encoded and len(data) != int(length):
            raise IntegrityError(
                f"download of {what} was cut short: got {len(data)} of {length} bytes"
            )
        expected = response.headers.get(SHA256_HEADER)
        if not expected:
            raise IntegrityError(f"the server sent {what} without its {SHA256_HEADER} header")
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected.lower():
            raise IntegrityError(
                f"download of {what} is corrupt: it hashes to {actual}, the server said {expected}"
            )
        return data

    # -- transport ----------------------------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send ``body`` as JSON (NaN and Infinity kept) and return the decoded answer."""
        content = None if body is None else _dumps(body)
        headers = None if body is None else {"Content-Type": "application/json"}
        response = self._send(
            method,
            API + path,
            content=content,
            params=params,
            headers=headers,
            idempotent=idempotent,
        )
        return _body(response)

    def _send(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS
        delays = iter(self._retry_delays)
        while True:
            try:
                response = self._client.request(
                    method, url, content=content, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                delay = next(delays, None) if idempotent or isinstance(exc, _NOT_SENT) else None
                if delay is None:
                    raise Unavailable(
                        f"the tracking server {self.uri} did not answer {method} {url} "
                        f"({type(exc).__name__}: {exc}); check MLSTAGE_TRACKING_URI and that "
                        "the server is running"
                    ) from exc
                self._sleep(_jitter(delay))
                continue
            if idempotent and response.status_code in _RETRY_STATUSES:
                delay = next(delays, None)
                if delay is not None:
                    self._sleep(_retry_after(response, delay))
                    continue
            if response.status_code >= 400:
                raise _error(response, method, url)
            return response


def _experiment_id(experiment_id: Any) -> str:
    """The id as the caller wrote it, once it is known to be a whole number."""
    v.check_experiment_id(experiment_id)
    return str(experiment_id)


def _dumps(body: Any) -> bytes:
    # httpx's own JSON encoder refuses NaN; metric values may be NaN or infinite.
    return json.dumps(body, allow_nan=True, separators=(",", ":")).encode("utf-8")


def _body(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def _metric_json(metric: Metric) -> dict[str, Any]:
    key, value, step = metric.key, metric.value, metric.step
    if type(value) is not float:
        value = v.check_metric_value(key, value)
    if type(step) is not int:
        step = v.check_step(key, step)
    return {"key": key, "value": value, "step": step, "timestamp": int(metric.timestamp)}


def _text_map(values: Mapping[str, Any] | None, kind: str) -> dict[str, str]:
    """Keys checked and values as text, as the SQL store stores them."""
    if not values:
        return {}
    return {
        v.check_key(k, f"{kind} key"): x if isinstance(x, str) else str(x)
        for k, x in values.items()
    }


def _jitter(delay: float) -> float:
    return delay * (0.5 + random.random())


def _retry_after(response: httpx.Response, delay: float) -> float:
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return _jitter(delay)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else _jitter(delay)


def _error(response: httpx.Response, method: str, url: str) -> MlstageError:
    """The error the server reported, rebuilt as its own class."""
    try:
        error = response.json()["error"]
        return error_from_code(str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        pass
    status = response.status_code
    kind = _FALLBACK_ERRORS.get(status, InvalidInput if status < 500 else MlstageError)
    content_type = response.headers.get("content-type", "no content type")
    return kind(
        f"{method} {url} on {response.request.url.host} answered {status} "
        f"{response.reason_phrase} ({content_type}), not an mlstage error: is "
        "MLSTAGE_TRACKING_URI the mlstage server, and not a proxy in front of it?"
    )


if TYPE_CHECKING:
    _conforms: type[TrackingStore] = HttpTrackingStore
