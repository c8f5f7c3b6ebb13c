"""The metric buffer retries failed batches and reports lost points, never dropping them silently."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import mlstage
from mlstage.errors import DataLoss, Unavailable
from mlstage.tracking.buffer import MetricBuffer
from mlstage.tracking.entities import Metric


class FlakyStore:
    """A store whose log_batch fails a set number of times, then works."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.written: list[Metric] = []

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), **_: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise Unavailable("database is down")
        self.written.extend(metrics)


def test_a_failed_batch_is_retried_until_it_is_stored() -> None:
    store = FlakyStore(failures=2)
    buffer = MetricBuffer(store, sleep=lambda _: None)  # type: ignore[arg-type]
    for i in range(10):
        buffer.add("r" * 32, "m", float(i), i, 0)
    buffer.flush()
    assert [m.value for m in store.written] == [float(i) for i in range(10)]


def test_points_lost_after_retries_are_reported_at_flush() -> None:
    store = FlakyStore(failures=100)
    buffer = MetricBuffer(store, sleep=lambda _: None)  # type: ignore[arg-type]
    for i in range(3):
        buffer.add("a" * 32, "m", float(i), i, 0)
    with pytest.raises(
        DataLoss,
        match=r"3 metric points could not be stored: run a+: 3 points "
        r"\(database is down\)",
    ):
        buffer.flush()
    buffer.flush()  # reported once


def test_a_run_ends_with_every_point_durable(project: Path) -> None:
    with mlstage.start_run() as run:
        for i in range(2500):
            mlstage.log_metric("m", float(i), step=i)
    # Read through a fresh store: nothing may depend on this process's buffer.
    from sqlalchemy import text

    from mlstage.store.database import Database

    db = Database(f"sqlite:///{project / '.mlstage' / 'mlstage.db'}", migrate=False)
    with db.read() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM metrics WHERE run_id = :r"), {"r": run.run_id}
        ).scalar()
    db.dispose()
    assert count == 2500


def test_heartbeat_thread_ends_once_no_run_is_left_and_on_stop() -> None:
    import time

    from mlstage.tracking.buffer import Heartbeat

    beats: list[list[str]] = []

    class Store:
        def heartbeat(self, run_ids: list[str]) -> None:
            beats.append(run_ids)

    beat = Heartbeat(Store(), 0.01)  # type: ignore[arg-type]
    beat.add("a")
    first = beat._thread
    assert first is not None
    deadline = time.monotonic() + 5
    while not beats and time.monotonic() < deadline:
        time.sleep(0.01)
    assert beats[0] == ["a"]
    beat.discard("a")
    first.join(5)
    assert not first.is_alive()
    beat.add("b")  # a new run starts a new thread
    second = beat._thread
    assert second is not None and second is not first and second.is_alive()
    beat.stop()
    second.join(5)
    assert not second.is_alive()
