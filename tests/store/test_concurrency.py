"""Concurrent writers on one store: no lock or deadlock error reaches the caller."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from mlstage.errors import Conflict
from mlstage.tracking.entities import Metric
from mlstage.tracking.sql_store import SqlTrackingStore


def test_threads_writing_the_same_keys_of_one_run(sql_store: SqlTrackingStore) -> None:
    """On PostgreSQL the latest-metric upserts contend on the same rows: no deadlock."""
    exp = sql_store.create_experiment("contention")
    run_id = sql_store.create_run(exp.experiment_id).run_id

    def writer(worker: int) -> None:
        for batch in range(10):
            step = worker * 100 + batch
            metrics = [
                Metric(key=f"k{k}", value=float(step), step=step, timestamp=step) for k in range(20)
            ]
            sql_store.log_batch(run_id, list(reversed(metrics)) if worker % 2 else metrics)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(writer, range(8)))
    run = sql_store.get_run(run_id)
    assert run.metrics == {f"k{k}": 709.0 for k in range(20)}  # the highest step wins
    assert len(sql_store.get_metric_history(run_id, "k0")) == 80


def test_racing_creators_of_one_experiment_get_one_experiment(sql_store: SqlTrackingStore) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def create() -> None:
        barrier.wait()
        try:
            outcomes.append(sql_store.create_experiment("same").experiment_id)
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([o for o in outcomes if o != "conflict"]) == 1
    assert len(sql_store.list_experiments()) == 1
    ids = {sql_store.get_or_create_experiment("same").experiment_id for _ in range(3)}
    assert len(ids) == 1


def test_a_writer_waits_for_a_held_sqlite_lock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A long write transaction elsewhere delays a write; it does not fail it."""
    import sqlite3
    import time

    from mlstage.artifacts.store import ArtifactStore
    from mlstage.store.database import Database

    path = tmp_path / "locked.db"
    store = SqlTrackingStore(Database(f"sqlite:///{path}"), ArtifactStore(str(tmp_path / "a")))
    exp = store.create_experiment("x")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    run = store.create_run(exp.experiment_id)
    assert time.monotonic() - started >= 0.4
    assert store.get_run(run.run_id).name.startswith("run-")
    release.join()
    other.close()
