"""The transport the HTTP stores share: one pooled client, JSON both ways, retries, errors.

The server answers ``{"error": {"code", "message"}}`` and the stores raise
the class that code names, so a user sees one message whichever store is
behind the URI.

Requests that can safely run twice (GET, HEAD, PUT, DELETE and calls marked
``idempotent=True``) are retried with backoff on connection errors and on
429/502/503/504. Other requests are retried only when the connection failed
before the request left: a request that may have reached the server is
never sent twice from here. Downloads are checked against their length,
the server's ``X-Content-SHA256`` and, where the caller knows it, the hash
recorded in metadata.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self

import httpx

from mlstage import __version__
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


class HttpApi:
    """A client of the platform server's REST API: the base of each HTTP store."""

    def __init__(
        self,
        uri: str,
        settings: Settings | None = None,
        *,
        client: httpx.Client | None = None,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """A client of the server at ``uri``; token and timeout come from ``settings``.

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

    # One dict for every subclass, keyed by class: clearing it resets them all.
    _shared: ClassVar[dict[tuple[type[HttpApi], str, str, float], HttpApi]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def shared(cls, uri: str, settings: Settings) -> Self:
        """One store (and connection pool) per class, server, token and timeout in this process."""
        key = (cls, uri.rstrip("/"), settings.tracking_token, settings.http_timeout)
        with cls._shared_lock:
            store = cls._shared.get(key)
            if not isinstance(store, cls):
                store = cls(uri, settings)
                cls._shared[key] = store
            return store

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

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
        content = None if body is None else dumps(body)
        headers = None if body is None else {"Content-Type": "application/json"}
        response = self._send(
            method,
            API + path,
            content=content,
            params=params,
            headers=headers,
            idempotent=idempotent,
        )
        return response_body(response)

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

    def _download(
        self,
        url: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        recorded: str | None = None,
    ) -> bytes:
        """The bytes at ``url``; ``IntegrityError`` if they arrive cut short or altered.

        ``recorded`` is the sha256 the caller's metadata holds for them: the
        bytes must hash to it, whatever the server's header says.
        """
        try:
            response = self._send("GET", url, params=params)
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
        actual = hashlib.sha256(data).hexdigest()
        if recorded is not None and actual != recorded.lower():
            raise IntegrityError(
                f"download of {what} is corrupt: it hashes to {actual}, "
                f"the registry recorded {recorded}"
            )
        expected = response.headers.get(SHA256_HEADER)
        if not expected:
            raise IntegrityError(f"the server sent {what} without its {SHA256_HEADER} header")
        if actual != expected.lower():
            raise IntegrityError(
                f"download of {what} is corrupt: it hashes to {actual}, the server said {expected}"
            )
        return data


def dumps(body: Any) -> bytes:
    """JSON bytes with NaN and Infinity kept (httpx's own encoder refuses them)."""
    return json.dumps(body, allow_nan=True, separators=(",", ":")).encode("utf-8")


def response_body(response: httpx.Response) -> Any:
    """The decoded JSON answer, or ``None`` for an empty one."""
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def text_map(values: Mapping[str, Any] | None, kind: str) -> dict[str, str]:
    """Keys checked and values as text, as the SQL stores store them."""
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
