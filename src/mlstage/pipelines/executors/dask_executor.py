"""Each step a task on a ``dask.distributed`` cluster; inputs and outputs go through artifacts.

``executor="dask"`` starts a local cluster (a scheduler and worker processes,
one thread each, on 127.0.0.1, no dashboard) for the run; ``executor="tcp://
host:8786"`` joins a running scheduler, wherever it is deployed. Tasks carry
no data, only artifact hashes, so the workers must reach the same metadata
database and artifact root (PostgreSQL and S3 on a real cluster) and have
mlstage and the user's code importable (the same file path, or installed).
A step's ``resources=`` go to Dask as task resources; a cluster without a
worker offering them is refused before the run starts. Dask is imported here
only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput
from mlstage.pipelines.executors.base import Executor, require_module_level

if TYPE_CHECKING:
    from mlstage.pipelines.dsl import Pipeline, Step
    from mlstage.pipelines.worker import StepResult, StepTask


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, pipeline: Pipeline, address: str | None = None) -> None:
        require_module_level(pipeline, "dask")
        from mlstage.pipelines.executors.cluster import connect

        needed: dict[str, float] = {}
        for node in pipeline.graph.nodes.values():
            for key, amount in node.step.resources.items():
                needed[key] = max(needed.get(key, 0.0), amount)
        workers = max(1, min(os.cpu_count() or 1, len(pipeline.graph.nodes)))
        self._cluster = connect(
            address or "dask",
            what="the dask executor",
            n_workers=workers,
            resources=needed or None,
        )
        self.client: Any = self._cluster.client
        info = self.client.scheduler_info()
        workers_info = info.get("workers", {})
        self.capacity = max(1, sum(w.get("nthreads", 1) for w in workers_info.values()))
        self.address = self._cluster.address
        self._check_resources(needed, workers_info)

    def _check_resources(self, needed: dict[str, float], workers: dict[str, Any]) -> None:
        for key, amount in needed.items():
            if not any(w.get("resources", {}).get(key, 0) >= amount for w in workers.values()):
                self.close()
                raise InvalidInput(
                    f"a step needs resource {key}={amount:g}, but no worker of the Dask cluster "
                    f"at {self.address} offers it; start workers with "
                    f"--resources '{key}={amount:g}'"
                )

    def submit(self, task: StepTask, step: Step) -> Any:
        from mlstage.pipelines.worker import run_step_task

        return self.client.submit(
            run_step_task,
            task,
            key=f"mlstage-{task.node}-{task.pipeline_run_id}",
            pure=False,
            resources=task.resources or None,
            retries=0,
        )

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult | BaseException]]:
        from distributed import wait

        done, _ = wait(handles, return_when="FIRST_COMPLETED")  # type: ignore[no-untyped-call]
        results: list[tuple[Any, StepResult | BaseException]] = []
        for future in done:
            try:
                results.append((future, future.result()))
            except Exception as exc:  # the worker died, or the task could not be run
                results.append((future, exc))
        return results

    def close(self) -> None:
        self.client = None
        self._cluster.close()
