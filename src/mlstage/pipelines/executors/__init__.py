"""Executors: where steps run. One interface (``base.Executor``), chosen by name.

- ``local`` (default): in this process, one step at a time.
- ``processes``: a pool of local worker processes; independent steps run in parallel.
- ``dask``: a local Dask cluster (scheduler and worker processes on 127.0.0.1).
- ``tcp://host:port``: a running Dask scheduler (Kubernetes, HPC, cloud, ...).

Dask is imported only by the Dask executor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.pipelines.dsl import Pipeline
    from mlstage.pipelines.executors.base import Executor

NAMES = ("local", "processes", "dask", "tcp://host:port")


def make_executor(spec: str | Executor, pipeline: Pipeline) -> Executor:
    from mlstage.pipelines.executors.base import Executor

    if isinstance(spec, Executor):
        return spec
    if not isinstance(spec, str):
        raise InvalidInput(f"executor must be one of {', '.join(NAMES)}, got {spec!r}")
    if spec == "local":
        from mlstage.pipelines.executors.local import LocalExecutor

        return LocalExecutor()
    if spec == "processes" or spec.startswith("processes:"):
        from mlstage.pipelines.executors.processes import ProcessExecutor

        workers_text = spec.partition(":")[2]
        if workers_text and not workers_text.isdigit():
            raise InvalidInput(f"executor {spec!r}: use processes or processes:N (N workers)")
        return ProcessExecutor(pipeline, int(workers_text) if workers_text else None)
    if spec == "dask" or spec.startswith("tcp://"):
        from mlstage.pipelines.executors.dask_executor import DaskExecutor

        return DaskExecutor(pipeline, None if spec == "dask" else spec)
    raise InvalidInput(f"executor {spec!r} is unknown; use one of {', '.join(NAMES)}")
