"""``mlstage scheduler``: run due schedules, one leader among any number of schedulers.

Each tick: end pipeline runs whose process died, take or renew the lease,
and, as leader, record a fire for every due schedule (see
``sql_schedules.py`` for the exactly-once guards) and launch its run. A run
is a child process (``mlstage pipelines run TARGET``), so a pipeline's
imports, memory and crashes stay out of the scheduler; ``--once`` waits for
the runs it launched.
"""

from __future__ import annotations

import json
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
    ) -> None:
        self.store = store or schedule_store()
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_ttl_ms = int(lease_ttl * 1000)
        self.launch = launch
        self.clock = clock
        self.launched: list[Any] = []
        self.leading = False

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
        return fires

    def wait_launched(self) -> list[int]:
        codes = []
        for child in self.launched:
            if isinstance(child, subprocess.Popen):
                codes.append(child.wait())
        self.launched = [c for c in self.launched if not isinstance(c, subprocess.Popen)]
        return codes

    def run_forever(self, interval: float, on_fire: Callable[[Fire], None] | None = None) -> None:
        try:
            while True:
                for fire in self.tick():
                    if on_fire is not None:
                        on_fire(fire)
                self.launched = [
                    c
                    for c in self.launched
                    if not (isinstance(c, subprocess.Popen) and c.poll() is not None)
                ]
                time.sleep(interval)
        finally:
            self.store.release(self.holder)
