"""The request log: every prediction the service makes, written off the request path.

``RequestLogger.log`` appends to an in-memory queue under a lock and returns:
it never waits on storage and never raises. A full queue drops the record
and counts it, because a slow object store must never slow predictions. A
background thread writes the queue in batches, one Parquet file per model
and UTC day (``request_log_store``), and retries a failed write before
counting it in ``failed_batches`` and logging an error, so nothing is lost
silently. ``read_prediction_log`` gives monitoring (issue 8) a window of it.

Where the files go follows the tracking URI: with a database, into the
artifact store and the ``prediction_logs`` table directly; with an
``http(s)://`` URI (a team server), uploaded to the platform server, which
checks and indexes them the same way (``http_request_log``).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstage.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, Unauthorized
from mlstage.models.names import canonical_model_name

if TYPE_CHECKING:
    import pandas as pd

    from mlstage.config import Settings
    from mlstage.governance.pii_masking import RecordMasker
    from mlstage.serving.request_log_store import LogFile, PredictionLogStore

log = logging.getLogger(__name__)

ROUTES = ("primary", "candidate", "shadow")
_PERMANENT = (InvalidInput, NotFound, Unauthorized, Forbidden)
"""Failures retrying cannot fix: a bad setting, a refused file, an old or locked server."""


@dataclass(slots=True)
class PredictionRecord:
    """One row scored by the service, as monitoring reads it back."""

    prediction_id: str
    timestamp_ms: int
    model: str
    version: int
    deployment: str | None
    route: str
    """``primary``, ``candidate`` or ``shadow`` (a shadow's answer was never returned)."""
    request_key: str | None
    inputs: dict[str, Any]
    """One input row, column name to value."""
    output: Any
    probabilities: list[float] | None
    latency_ms: float
    error: str | None = None
    """Why the model failed to score the row (then ``output`` is None): canary error rates."""


def _is_http(uri: str) -> bool:
    return uri.split(":", 1)[0].lower() in ("http", "https")


def _open_store(settings: Settings) -> PredictionLogStore:
    """The store the tracking URI names: the platform server, or the database itself."""
    if _is_http(settings.tracking_uri):
        from mlstage.serving.http_request_log import HttpPredictionLogStore

        return HttpPredictionLogStore.shared(settings.tracking_uri, settings)
    from mlstage.artifacts.store import get_artifact_store
    from mlstage.serving.request_log_store import SqlPredictionLogStore
    from mlstage.store.database import get_database

    db = get_database(
        settings.tracking_uri,
        busy_timeout=settings.sqlite_busy_timeout,
        synchronous=settings.sqlite_synchronous,
    )
    return SqlPredictionLogStore(
        db, get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)
    )


class RequestLogger:
    """Queues prediction records and writes them in batches from a background thread.

    ``written``, ``dropped`` and ``failed_batches`` are for ``/metrics``;
    ``flush()`` writes what is queued now (tests, shutdown); ``close()``
    flushes and stops the thread, after which ``log`` only counts drops.
    With an HTTP tracking URI each file is uploaded to the server; a file the
    server finds too large is split in halves and sent again, so a server
    with a smaller body limit still gets every record.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        model: str,
        flush_interval: float = 1.0,
        max_queue: int = 100_000,
        batch_rows: int = 10_000,
        retries: int = 3,
        retry_delay: float = 0.2,
    ) -> None:
        if flush_interval <= 0 or max_queue < 1 or batch_rows < 1 or retries < 0:
            raise InvalidInput(
                "request log: flush_interval must be positive, max_queue and batch_rows at "
                f"least 1, retries at least 0; got {flush_interval}, {max_queue}, "
                f"{batch_rows}, {retries}"
            )
        self.settings = settings
        self.model = canonical_model_name(model)
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.batch_rows = batch_rows
        self.retries = retries
        self.retry_delay = retry_delay
        self.written = 0
        """Records stored and indexed."""
        self.dropped = 0
        """Records refused because the queue was full (or the logger closed)."""
        self.failed_batches = 0
        """Files that could not be stored after every retry."""
        self.failed_records = 0
        """Records in those files."""
        self._pending: list[PredictionRecord] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._stopping = False
        self._store: PredictionLogStore | None = None
        self._reported_permanent = False
        self._masker: RecordMasker | None = None
        """Hides sensitive inputs before writing (``governance.pii_masking``); made on first use."""
        self._thread = threading.Thread(
            target=self._run, name=f"mlstage-request-log-{self.model}", daemon=True
        )
        self._thread.start()
        self._finalizer = weakref.finalize(self, RequestLogger._at_exit, weakref.ref(self))

    # -- the request path ------------------------------------------------------------------

    def log(self, record: PredictionRecord) -> None:
        """Queue ``record``; a full queue drops it (counted in ``dropped``). Never blocks on I/O."""
        with self._lock:
            if self._closed or len(self._pending) >= self.max_queue:
                self.dropped += 1
                return
            self._pending.append(record)
            full = len(self._pending) >= self.batch_rows
        if full:
            self._wake.set()

    @property
    def queued(self) -> int:
        """Records waiting to be written."""
        return len(self._pending)

    # -- writing -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued now; returns once it is stored (or counted as failed)."""
        self._drain()

    def close(self, timeout: float | None = None) -> None:
        """Flush and stop the background thread; further records are dropped. Idempotent."""
        with self._lock:
            self._closed = True
            self._stopping = True
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._drain()

    @staticmethod
    def _at_exit(ref: weakref.ref[RequestLogger]) -> None:
        logger = ref()
        if logger is not None:
            logger.close(timeout=10.0)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            stopping = self._stopping
            try:
                self._drain()
            except Exception:  # the writer must outlive any surprise
                log.exception("request log writer for model %r failed", self.model)
            if stopping:
                return

    def _drain(self) -> None:
        """Write the queue one batch at a time, so memory stays bounded while storage is slow."""
        with self._write_lock:
            while True:
                with self._lock:
                    batch = self._pending[: self.batch_rows]
                    del self._pending[: self.batch_rows]
                if not batch:
                    return
                self._write_batch(batch)

    def _write_batch(self, batch: list[PredictionRecord]) -> None:
        from mlstage.serving.request_log_store import split_by_day

        try:
            batch = self._mask(batch)
        except Exception:  # a bad masking setting: count the batch as failed, never write raw
            self._failed(len(batch), "could not be masked", exc_info=True, once=True)
            return
        for day, records in split_by_day(batch).items():
            self._write_day(day, records)

    def _write_day(self, day: str, records: list[PredictionRecord]) -> None:
        from mlstage.serving.request_log_store import prepare_file

        try:
            file = prepare_file(self.model, day, records)
        except Exception:
            self._failed(len(records), "could not be encoded", exc_info=True)
            return
        try:
            stored = self._store_with_retries(file)
        except PayloadTooLarge as exc:
            if len(records) == 1:
                self._failed(1, f"could not be stored: {exc}")
                return
            half = len(records) // 2
            self._write_day(day, records[:half])
            self._write_day(day, records[half:])
            return
        if stored:
            self.written += file.rows

    def _mask(self, records: list[PredictionRecord]) -> list[PredictionRecord]:
        """``records`` with the personal data of their inputs masked or hashed (issue 9)."""
        if self._masker is None:
            from mlstage.governance.classified import model_level
            from mlstage.governance.pii_masking import RecordMasker

            # raw values only where the model's classification allows (settings)
            level = model_level(self.settings, self.model)
            self._masker = RecordMasker(self.settings, self.model, level)
        return self._masker.apply(records)

    def _store_with_retries(self, file: LogFile) -> bool:
        """Store ``file``; ``False`` once it failed every attempt (counted and logged).

        Raises ``PayloadTooLarge`` for the caller to split the file.
        """
        delay = self.retry_delay
        for attempt in range(self.retries + 1):
            try:
                if self._store is None:
                    self._store = _open_store(self.settings)
                self._store.write_file(file)
                return True
            except PayloadTooLarge:
                raise
            except _PERMANENT as exc:
                self._failed(file.rows, f"could not be stored: {exc}", once=True)
                return False
            except Exception as exc:
                if attempt == self.retries:
                    self._failed(file.rows, f"failed {attempt + 1} times: {exc}", exc_info=True)
                    return False
                log.warning(
                    "request log for model %r: write failed (%s); retrying in %.1fs",
                    self.model,
                    exc,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        return False

    def _failed(self, rows: int, why: str, *, exc_info: bool = False, once: bool = False) -> None:
        self.failed_batches += 1
        self.failed_records += rows
        if once and self._reported_permanent:
            return  # the same cause every time: said once, the counters carry the rest
        self._reported_permanent = self._reported_permanent or once
        log.error(
            "request log for model %r: a batch of %d prediction(s) %s",
            self.model,
            rows,
            why,
            exc_info=exc_info,
        )


def read_prediction_log(
    model: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    settings: Settings | None = None,
) -> pd.DataFrame:
    """Every logged prediction of ``model`` with ``since_ms <= timestamp < until_ms``.

    Columns: prediction_id, timestamp (ms since the epoch, UTC), model,
    version, deployment, route, request_key, ``input.<col>`` for the union of
    inputs ever logged (null where a row lacked one), output, probabilities
    (lists), latency_ms; oldest first. Files are chosen by day from the
    index and each is checked against the sha256 it records, whether read
    from the artifact store or, with an HTTP tracking URI, downloaded from
    the platform server.
    """
    from mlstage.config import get_settings
    from mlstage.serving.request_log_store import read_window

    settings = settings or get_settings()
    if since_ms is not None and until_ms is not None and until_ms < since_ms:
        raise InvalidInput(f"until_ms ({until_ms}) is before since_ms ({since_ms})")
    store = _open_store(settings)
    return read_window(store, canonical_model_name(model), since_ms, until_ms)
