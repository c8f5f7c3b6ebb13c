"""Buffered metric writes and run heartbeats, one background thread each per store.

``log_metric`` in a training loop only appends to a list; a daemon thread
writes what has gathered every ``metric_flush_interval`` seconds or every
``metric_batch_size`` points. ``flush()`` (called at run end and at exit)
writes the rest before it returns, so a finished run holds every point.

A batch that fails is retried with backoff. If it still fails, the points
are kept as lost and the next ``flush()`` raises ``DataLoss`` naming how many
points of which runs were not stored: never a silent drop.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

from mlstage.errors import Conflict, DataLoss, InvalidInput, MlstageError, NotFound
from mlstage.tracking.entities import Metric
from mlstage.tracking.store import TrackingStore

log = logging.getLogger("mlstage")

Point = tuple[str, str, float, int, int]  # run_id, key, value, step, timestamp
_RETRY_DELAYS = (0.05, 0.25, 1.0, 3.0)


class MetricBuffer:
    def __init__(
        self,
        store: TrackingStore,
        *,
        flush_interval: float = 1.0,
        batch_size: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self._sleep = sleep
        self._points: list[Point] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._lost: list[tuple[str, int, str]] = []  # run_id, count, reason
        self._thread: threading.Thread | None = None

    def add(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        with self._lock:
            self._points.append((run_id, key, value, step, timestamp))
            full = len(self._points) % self.batch_size == 0
        if self._thread is None:
            self._start()
        if full:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mlstage-metric-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._write_pending()

    def flush(self) -> None:
        """Write every buffered point now; raise ``DataLoss`` if any point was lost."""
        self._write_pending()
        with self._lock:
            lost, self._lost = self._lost, []
        if lost:
            total = sum(count for _, count, _ in lost)
            details = "; ".join(f"run {run}: {count} points ({why})" for run, count, why in lost)
            raise DataLoss(f"{total} metric points could not be stored: {details}")

    def _write_pending(self) -> None:
        with self._write_lock:
            with self._lock:
                points, self._points = self._points, []
            if not points:
                return
            write_points = getattr(self.store, "write_points", None)
            if write_points is not None:
                self._write_rows(write_points, points)
                return
            by_run: dict[str, list[Metric]] = defaultdict(list)
            construct = Metric.model_construct
            for run_id, key, value, step, ts in points:
                by_run[run_id].append(construct(key=key, value=value, step=step, timestamp=ts))
            for run_id, metrics in by_run.items():
                for start in range(0, len(metrics), self.batch_size):
                    self._write_batch(run_id, metrics[start : start + self.batch_size])

    def _write_rows(self, write_points: Callable[..., None], points: list[Point]) -> None:
        """Fast path of the SQL store: checked rows of every run in one transaction."""
        by_run: dict[str, list[dict[str, object]]] = defaultdict(list)
        for run_id, key, value, step, ts in points:
            by_run[run_id].append(
                {
                    "run_id": run_id,
                    "key": key,
                    "step": step,
                    "timestamp": ts,
                    "value": None if value != value else value,  # NaN is stored as NULL
                }
            )
        try:
            write_points(by_run)
            return
        except (MlstageError, OSError):
            pass  # retried below run by run, so one bad run cannot sink the others
        for run_id, rows in by_run.items():
            self._attempt(functools.partial(write_points, {run_id: rows}), {run_id: len(rows)})

    def _write_batch(self, run_id: str, batch: list[Metric]) -> None:
        # One id for every attempt: if an attempt was stored but its answer
        # was lost, the retry is recognised and not stored again.
        batch_id = uuid.uuid4().hex
        self._attempt(
            lambda: self.store.log_batch(run_id, batch, batch_id=batch_id), {run_id: len(batch)}
        )

    def _attempt(self, write: Callable[[], None], counts: dict[str, int]) -> None:
        error: Exception | None = None
        total = sum(counts.values())
        for delay in (*_RETRY_DELAYS, None):
            try:
                write()
                return
            except (InvalidInput, NotFound, Conflict) as exc:  # retrying cannot help
                error = exc
                break
            except (MlstageError, OSError) as exc:
                error = exc
                if delay is None:
                    break
                log.warning("writing %d metric points failed (%s); retrying", total, exc)
                self._sleep(delay)
        reason = str(error).splitlines()[0] if error else "unknown error"
        for run_id, count in counts.items():
            log.error("%d metric points of run %s were not stored: %s", count, run_id, reason)
        with self._lock:
            self._lost.extend((run_id, count, reason) for run_id, count in counts.items())


class Heartbeat:
    """Tells the store, every ``interval`` seconds, which runs this process is still running."""

    def __init__(self, store: TrackingStore, interval: float) -> None:
        self.store = store
        self.interval = interval
        self.run_ids: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def add(self, run_id: str) -> None:
        with self._lock:
            self.run_ids.add(run_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mlstage-heartbeat", daemon=True
                )
                self._thread.start()

    def discard(self, run_id: str) -> None:
        with self._lock:
            self.run_ids.discard(run_id)

    def stop(self) -> None:
        """End the thread at its next wake-up (for a store that is going away)."""
        self._stopped.set()

    def _run(self) -> None:
        # The thread ends once no run is left, so a process that ran many runs (a test
        # suite, a notebook) does not keep one thread per store it ever used.
        while not self._stopped.wait(self.interval):
            with self._lock:
                ids = sorted(self.run_ids)
                if not ids:
                    self._thread = None  # the next run starts a new thread
                    return
            try:
                self.store.heartbeat(ids)
            except Exception as exc:  # a missed beat is retried at the next one
                log.debug("heartbeat failed: %s", exc)
