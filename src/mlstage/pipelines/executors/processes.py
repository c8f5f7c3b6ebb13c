"""A pool of local worker processes: independent steps run in parallel.

Workers are forked from a fork server that has mlstage's step runner and
tracking store imported already, so a pool starts in a fraction of a second;
each worker imports the user's module (by name, or by file path) on its first
step. (Not ``fork`` from the calling process: it holds open database
connections and threads, which a child must not inherit.)
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Any

from mlstage.pipelines.executors.base import Executor, require_module_level

if TYPE_CHECKING:
    from mlstage.pipelines.dsl import Pipeline, Step
    from mlstage.pipelines.worker import StepResult, StepTask


PRELOAD = [
    "mlstage.pipelines.worker",
    "mlstage.pipelines.outputs",
    "mlstage.tracking.fluent",
    "mlstage.tracking.sql_store",
]
"""Imported once by the fork server, so each worker starts with them (no connection is open)."""


class ProcessExecutor(Executor):
    name = "processes"

    def __init__(self, pipeline: Pipeline, workers: int | None = None) -> None:
        require_module_level(pipeline, "processes")
        width = max(1, len(pipeline.graph.nodes))
        self.capacity = max(1, min(workers or os.cpu_count() or 1, width))
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._pool = ProcessPoolExecutor(max_workers=self.capacity, mp_context=context)
        return self._pool

    def submit(self, task: StepTask, step: Step) -> Any:
        from mlstage.pipelines.worker import run_step_task

        return self._get_pool().submit(run_step_task, task)

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult | BaseException]]:
        done, _ = wait_futures(handles, return_when=FIRST_COMPLETED)
        results: list[tuple[Any, StepResult | BaseException]] = []
        for future in done:
            assert isinstance(future, Future)
            try:
                results.append((future, future.result()))
            except Exception as exc:  # the worker process died (killed, out of memory)
                results.append((future, exc))
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
