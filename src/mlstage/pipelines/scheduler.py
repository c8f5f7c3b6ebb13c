"""``mlstage scheduler``: run due schedules, one leader among any number of schedulers.

Each tick: end pipeline runs whose process died, take or renew the lease,
and, as leader, record a fire for every due schedule (see
``sql_schedules.py`` for the exactly-once guards) and launch its run. A run
is a child process (``mlstage pipelines run TARGET``), so a pipeline's
imports, memory and crashes stay out of the scheduler; ``--once`` waits for
the runs it launched. Then, still as leader, one tick of the monitoring loop
(``monitoring.loop``): due monitor checks, triggers, retrainings in flight. A
retraining's pipeline runs inside that tick; a failure of the loop is logged
and never stops the schedules. Every hour, retention and garbage collection
(``governance.retention``, ``governance.gc``) delete what has expired.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from mlstage.config import get_settings
from mlstage.pipelines.sql_schedules import Fire, SqlScheduleStore, now_ms
from mlstage.pipelines.sql_store import SqlPipelineStore

Launcher = Callable[[Fire], Any]
MonitorLoop = Callable[[int], list[Any]]
"""One tick of the monitoring loop at a time (ms); returns its transitions."""

log = logging.getLogger(__name__)


def monitoring_tick(now: int) -> list[Any]:
    """The monitoring loop's tick for the project's ``monitoring.yaml`` (nothing without one)."""
    from mlstage.monitoring.loop import tick

    return tick(now)


HOUSEKEEPING_EVERY_MS = 3_600_000
"""Retention and garbage collection run at most this often (as leader)."""


def housekeeping(now: int) -> dict[str, Any]:
    """Delete what retention says has expired, then blobs nothing references (issue 9)."""
    from mlstage.governance.gc import run_gc
    from mlstage.governance.retention import apply_retention

    settings = get_settings()
    if settings.tracking_uri.split(":", 1)[0].lower() in ("http", "https"):
        return {}  # the server's own scheduler keeps its database
    retained = apply_retention(settings, now)
    collected = run_gc(settings, now_ms=now)
    return {"retention": retained, "gc": collected}


def schedule_store() -> SqlScheduleStore:
    return SqlScheduleStore(SqlPipelineStore.shared(get_settings()).db)


def launch_process(fire: Fire) -> subprocess.Popen[bytes]:
    """Start ``mlstage pipelines run`` for a fire, in a child process."""
    schedule = fire.schedule
    command = [
        sys.executable,
        "-c",
        "from mlstage.cli.main import main; main()",
        "pipelines",
        "run",
        schedule.target,
        "--executor",
        schedule.executor,
        "--params-json",
        json.dumps(schedule.params),
        "--fire",
        f"{schedule.schedule_id}:{fire.due_time}",
    ]
    env = dict(os.environ, MLSTAGE_TRACKING_URI=get_settings().tracking_uri)
    return subprocess.Popen(command, env=env)


class Scheduler:
    def __init__(
        self,
        store: SqlScheduleStore | None = None,
        *,
        holder: str | None = None,
        lease_ttl: float = 60.0,
        launch: Launcher = launch_process,
        clock: Callable[[], int] = now_ms,
        monitor: MonitorLoop | None = monitoring_tick,
        housekeep: Callable[[int], Any] | None = housekeeping,
    ) -> None:
        self.store = store or schedule_store()
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_ttl_ms = int(lease_ttl * 1000)
        self.launch = launch
        self.clock = clock
        self.launched: list[Any] = []
        self.leading = False
        self.monitor = monitor
        self.transitions: list[Any] = []
        """What the last tick's monitoring loop did (retraining transitions)."""
        self.housekeep = housekeep
        self.housekept_at: int | None = None

    def tick(self) -> list[Fire]:
        """One round: sweep dead runs, lead if possible, fire what is due."""
        SqlPipelineStore.shared(get_settings()).reap_stale_runs()
        now = self.clock()
        self.leading = self.store.try_lead(self.holder, self.lease_ttl_ms, now)
        if not self.leading:
            return []
        fires = self.store.claim_due(self.holder, now)
        for fire in fires:
            self.launched.append(self.launch(fire))
        self.transitions = []
        if self.monitor is not None:
            try:
                self.transitions = self.monitor(now)
            except Exception:  # the loop's failure must not stop the schedules
                log.exception("the monitoring loop failed; schedules still run")
        due = self.housekept_at is None or now - self.housekept_at >= HOUSEKEEPING_EVERY_MS
        if self.housekeep is not None and due:
            self.housekept_at = now
            try:
                self.housekeep(now)
            except Exception:  # as above: retention or GC failing must not stop the schedules
                log.exception("retention or garbage collection failed; schedules still run")
        return fires

    def wait_launched(self) -> list[int]:
        codes = []
        for child in self.launched:
            if isinstance(child, subprocess.Popen):
                codes.append(child.wait())
        self.launched = [c for c in self.launched if not isinstance(c, subprocess.Popen)]
        return codes

    def run_forever(
        self,
        interval: float,
        on_fire: Callable[[Fire], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        try:
            while True:
                for fire in self.tick():
                    if on_fire is not None:
                        on_fire(fire)
                if on_tick is not None:
                    on_tick()
                self.launched = [
                    c
                    for c in self.launched
                    if not (isinstance(c, subprocess.Popen) and c.poll() is not None)
                ]
                time.sleep(interval)
        finally:
            self.store.release(self.holder)
