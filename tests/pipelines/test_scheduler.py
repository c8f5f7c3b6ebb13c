"""Schedules: due times, one leader among schedulers, and exactly one fire per due time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from mlstage import config
from mlstage.pipelines.scheduler import Scheduler, schedule_store
from mlstage.pipelines.sql_schedules import Fire, SqlScheduleStore

PIPES = Path(__file__).with_name("light.py")
MINUTE = 60_000
T0 = 1_795_000_000_000 - (1_795_000_000_000 % (60 * MINUTE))  # a whole hour in 2026


@pytest.fixture(params=["sqlite", "postgres"])
def schedules(request: pytest.FixtureRequest, project: Path) -> SqlScheduleStore:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        config.set_settings(config.load_settings(start=project, tracking_uri=url))
    return schedule_store()


def test_a_due_schedule_fires_once_and_moves_on(schedules: SqlScheduleStore) -> None:
    saved = schedules.save_schedule(
        "every5", f"{PIPES}:arithmetic", "*/5 * * * *", {}, "local", now=T0 + 1
    )
    assert saved.next_due == T0 + 5 * MINUTE
    assert schedules.claim_due("a", now=T0 + 4 * MINUTE) == []
    (fire,) = schedules.claim_due("a", now=T0 + 5 * MINUTE)
    assert fire.due_time == T0 + 5 * MINUTE
    assert schedules.get_schedule("every5").next_due == T0 + 10 * MINUTE
    assert schedules.claim_due("b", now=T0 + 5 * MINUTE) == []  # already fired
    # Down for an hour: the missed due times fire once, then the schedule is current.
    (late,) = schedules.claim_due("a", now=T0 + 70 * MINUTE + 1)
    assert late.due_time == T0 + 10 * MINUTE
    assert schedules.get_schedule("every5").next_due == T0 + 75 * MINUTE
    assert [f["due_time"] for f in schedules.list_fires("every5")] == [
        T0 + 5 * MINUTE,
        T0 + 10 * MINUTE,
    ]


def test_one_scheduler_leads_until_its_lease_expires(schedules: SqlScheduleStore) -> None:
    assert schedules.try_lead("a", 10_000, now=T0)
    assert not schedules.try_lead("b", 10_000, now=T0 + 5_000)
    assert schedules.try_lead("a", 10_000, now=T0 + 6_000)  # renewed to T0 + 16 s
    assert not schedules.try_lead("b", 10_000, now=T0 + 15_000)
    assert schedules.try_lead("b", 10_000, now=T0 + 16_001)  # expired: taken over
    assert not schedules.try_lead("a", 10_000, now=T0 + 17_000)
    schedules.release("b")
    assert schedules.try_lead("a", 10_000, now=T0 + 17_000)


def test_racing_schedulers_fire_each_due_time_exactly_once(
    schedules: SqlScheduleStore,
) -> None:
    """Four schedulers tick at the same moments with a lease that lasts no time at all, so
    several lead at once: the fire rows alone must keep each due time to one fire."""
    schedules.save_schedule("minutely", f"{PIPES}:arithmetic", "* * * * *", {}, "local", now=T0)
    fired: list[tuple[str, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)
    now = {"ms": T0}

    def scheduler(name: str) -> None:
        def launch(fire: Fire) -> Any:
            with lock:
                fired.append((name, fire.due_time))

        runner = Scheduler(
            schedules, holder=name, lease_ttl=0.0, launch=launch, clock=lambda: now["ms"]
        )
        for minute in range(1, 6):
            if barrier.wait() == 0:
                now["ms"] = T0 + minute * MINUTE
            barrier.wait()
            runner.tick()

    threads = [threading.Thread(target=scheduler, args=(f"s{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    due_times = sorted(due for _, due in fired)
    assert len(due_times) == len(set(due_times))  # never twice
    assert {f["due_time"] for f in schedules.list_fires("minutely")} == set(due_times)
    assert due_times == [T0 + m * MINUTE for m in range(1, 6)]


@pytest.mark.services
def test_two_scheduler_processes_on_postgres_fire_a_schedule_once(
    project: Path, postgres_url: str
) -> None:
    config.set_settings(config.load_settings(start=project, tracking_uri=postgres_url))
    store = schedule_store()
    store.save_schedule("arith", f"{PIPES}:arithmetic", "* * * * *", {"a": 5}, "local")
    # Make it due now, as if the minute had passed.
    from sqlalchemy import update

    from mlstage.store import tables as t

    store.db.write(lambda conn: conn.execute(update(t.pipeline_schedules).values(next_due=1_000)))
    env = dict(os.environ, MLSTAGE_TRACKING_URI=postgres_url)
    command = [
        sys.executable,
        "-c",
        "from mlstage.cli.main import main; main()",
        "scheduler",
        "--once",
    ]
    children = [
        subprocess.Popen(
            command, env=env, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    fires = store.list_fires("arith")
    assert len(fires) == 1
    from mlstage.pipelines.runner import pipeline_store

    runs = pipeline_store().list_runs("arithmetic")
    assert len(runs) == 1
    assert runs[0].params == {"a": 5, "b": 2}
    assert runs[0].status.value == "SUCCEEDED"
    assert fires[0]["pipeline_run_id"] == runs[0].run_id


def test_the_leader_runs_housekeeping_at_most_hourly(schedules: SqlScheduleStore) -> None:
    calls: list[int] = []
    clock = iter([T0, T0 + 30 * MINUTE, T0 + 61 * MINUTE, T0 + 62 * MINUTE])
    leader = Scheduler(schedules, holder="a", monitor=None, housekeep=calls.append,
                       clock=lambda: next(clock))  # fmt: skip
    follower = Scheduler(schedules, holder="b", monitor=None, housekeep=calls.append,
                         clock=lambda: T0 + 1)  # fmt: skip
    leader.tick()
    follower.tick()  # not the leader: no housekeeping
    for _ in range(3):
        leader.tick()
    assert calls == [T0, T0 + 61 * MINUTE]


def test_default_housekeeping_collects_blobs_nothing_references(
    schedules: SqlScheduleStore,
) -> None:
    from mlstage.artifacts.store import get_artifact_store

    settings = config.get_settings()
    store = get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)
    orphan, _ = store.put_bytes(b"left behind by a deleted run")
    path = Path(store._key(orphan))
    old = path.stat().st_mtime - 2 * 3600  # older than the grace period
    os.utime(path, (old, old))
    Scheduler(schedules, holder="a", monitor=None).tick()
    assert not store.exists(orphan)
