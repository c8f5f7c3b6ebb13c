"""Running a pipeline: graph order, caching, dispatch to an executor, and the run's record.

The runner lives in the process that called ``run()``. It walks the graph,
skips a step whose cache key (code hash, parameters, input hashes) matches a
successful earlier step run, hands the others to the executor as soon as
their inputs exist, and records every transition. A failed step stops new
steps from starting; steps in flight finish and are recorded; the run ends
FAILED with that step's error. A heartbeat thread keeps the run's
``heartbeat_at`` fresh, so a run whose process dies is ended FAILED by the
next sweep (``SqlPipelineStore.reap_stale_runs``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import traceback as tb
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlstage.config import get_settings
from mlstage.errors import Conflict, InvalidInput
from mlstage.pipelines.entities import (
    PipelineRun,
    PipelineStatus,
    StepStatus,
    StoredOutput,
)
from mlstage.pipelines.graph import Const, OutputRef, ParamRef, spec_hash
from mlstage.pipelines.sql_store import SqlPipelineStore, now_ms
from mlstage.pipelines.types import type_name, value_matches
from mlstage.pipelines.worker import StepResult, StepTask

if TYPE_CHECKING:
    from mlstage.pipelines.dsl import Pipeline
    from mlstage.pipelines.executors.base import Executor

log = logging.getLogger("mlstage")

Reuse = dict[str, tuple[str, dict[str, StoredOutput], str | None]]
"""Step name -> (cache key, outputs, tracked run id) of a step to reuse when resuming."""


def pipeline_store() -> SqlPipelineStore:
    return SqlPipelineStore.shared(get_settings())


def check_params(pipeline: Pipeline, params: Mapping[str, Any]) -> dict[str, Any]:
    """The run's parameter values: given ones checked, defaults filled in."""
    known = pipeline.graph.params
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidInput(
            f"pipeline {pipeline.name!r} has no parameter {unknown[0]!r} "
            f"(parameters: {', '.join(known) or 'none'})"
        )
    values: dict[str, Any] = {}
    for name, param in known.items():
        if name in params:
            value = params[name]
            if not value_matches(value, param.annotation):
                raise InvalidInput(
                    f"pipeline {pipeline.name!r}: parameter {name!r} expects "
                    f"{type_name(param.annotation)}, got {value!r}"
                )
            if param.annotation is float and isinstance(value, int):
                value = float(value)
            values[name] = value
        elif param.required:
            raise InvalidInput(f"pipeline {pipeline.name!r}: parameter {name!r} is required")
        else:
            values[name] = param.default
    return values


def source_of(pipeline: Pipeline) -> str:
    return f"{pipeline.location.file}:{pipeline.fn.__name__}"


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Heartbeat:
    def __init__(self, store: SqlPipelineStore, run_id: str, interval: float) -> None:
        self._store, self._run_id, self._interval = store, run_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name="mlstage-pipeline-beat", daemon=True
        )

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._store.heartbeat(self._run_id)
            except Exception as exc:  # a missed beat is retried at the next one
                log.debug("pipeline heartbeat failed: %s", exc)


def run_pipeline(
    pipeline: Pipeline,
    params: Mapping[str, Any],
    executor: str | Executor,
    *,
    reuse: Reuse | None = None,
    resumed_from: str | None = None,
) -> PipelineRun:
    from mlstage.pipelines.executors import make_executor
    from mlstage.tracking.context import collect_context

    settings = get_settings()
    values = check_params(pipeline, params)
    from mlstage.governance.policy import check_pipeline  # issue 9: the environment's policies

    check_pipeline(
        pipeline.name, executor if isinstance(executor, str) else executor.name, values, settings
    )
    store = SqlPipelineStore.shared(settings)
    spec = pipeline.graph.spec()
    definition_id = store.save_definition(pipeline.name, spec, spec_hash(spec), source_of(pipeline))
    engine = make_executor(executor, pipeline)
    label = executor if isinstance(executor, str) else engine.name
    run_id = uuid.uuid4().hex
    context = collect_context()
    graph = pipeline.graph
    store.create_run(
        run_id=run_id,
        definition_id=definition_id,
        pipeline=pipeline.name,
        params=values,
        executor=label,
        steps=[
            (n.name, n.position, n.step.qualified_name, n.step.code_hash)
            for n in (graph.nodes[name] for name in pipeline.order)
        ],
        resumed_from=resumed_from,
        user=context.user,
        host=context.host,
    )
    try:
        with _Heartbeat(store, run_id, settings.heartbeat_interval), engine:
            error = _Dispatch(pipeline, values, run_id, store, engine, reuse or {}).run()
    except BaseException as exc:
        store.finish_run(run_id, PipelineStatus.FAILED, f"interrupted: {type(exc).__name__}: {exc}")
        raise
    store.finish_run(run_id, PipelineStatus.FAILED if error else PipelineStatus.SUCCEEDED, error)
    info = store.get_run(run_id)
    return PipelineRun(**info.model_dump(), result_refs=pipeline.returns)


class _Dispatch:
    """One run's walk over the graph."""

    def __init__(
        self,
        pipeline: Pipeline,
        values: dict[str, Any],
        run_id: str,
        store: SqlPipelineStore,
        engine: Executor,
        reuse: Reuse,
    ) -> None:
        self.pipeline, self.values, self.run_id = pipeline, values, run_id
        self.store, self.engine, self.reuse = store, engine, reuse
        self.settings = get_settings()
        self.outputs: dict[str, StoredOutput] = {}
        self.done: set[str] = set()
        self.pending = list(pipeline.order)
        self.inflight: dict[Any, str] = {}
        self.error = ""

    def run(self) -> str:
        while self.pending or self.inflight:
            if not self.error:
                self._start_ready()
            elif self.pending:
                self.pending.clear()  # recorded SKIPPED when the run ends
            if not self.inflight:
                if self.pending and not self.error:
                    raise AssertionError(f"steps {self.pending} can never start")
                break
            for handle, outcome in self.engine.wait(list(self.inflight)):
                node = self.inflight.pop(handle)
                self._finish(node, outcome)
        return self.error

    def _start_ready(self) -> None:
        progress = True
        while progress and not self.error:
            progress = False
            for name in list(self.pending):
                if len(self.inflight) >= self.engine.capacity:
                    return
                node = self.pipeline.graph.nodes[name]
                if not node.upstream() <= self.done:
                    continue
                self.pending.remove(name)
                progress = True
                self._start(name)
                if self.error:
                    return

    def _start(self, name: str) -> None:
        node = self.pipeline.graph.nodes[name]
        step = node.step
        inputs: dict[str, dict[str, Any]] = {}
        values: dict[str, Any] = {}
        for param, binding in node.bindings.items():
            if isinstance(binding, OutputRef):
                inputs[param] = self.outputs[binding.name].model_dump()
            elif isinstance(binding, ParamRef):
                values[param] = self.values[binding.name]
            else:
                assert isinstance(binding, Const)
                values[param] = binding.value
        input_hashes = {param: stored["sha256"] for param, stored in inputs.items()}
        params_hash = _digest(values)
        cache_key = _digest(
            {"step": name, "code": step.code_hash, "params": params_hash, "inputs": input_hashes}
        )
        hit = self._cached(name, step.cache, cache_key)
        if hit is not None:
            outputs, tracking_run_id = hit
            self.store.record_cached(
                self.run_id,
                name,
                params_hash=params_hash,
                input_hashes=input_hashes,
                cache_key=cache_key,
                outputs=outputs,
                tracking_run_id=tracking_run_id,
            )
            self._succeeded(name, outputs)
            return
        task = StepTask(
            pipeline_run_id=self.run_id,
            pipeline=self.pipeline.name,
            node=name,
            module=step.fn.__module__,
            path=step.location.file,
            qualname=step.fn.__qualname__,
            inputs=inputs,
            values=values,
            outputs=[(o.name, o.kind, type_name(o.annotation)) for o in node.outputs],
            retries=step.retries,
            retry_backoff=step.retry_backoff,
            timeout=step.timeout,
            resources=dict(step.resources),
            tracking_uri=self.settings.tracking_uri,
            artifact_root=self.settings.artifact_root,
            s3_endpoint_url=self.settings.s3_endpoint_url,
            tags={
                "mlstage.pipeline": self.pipeline.name,
                "mlstage.pipeline_run_id": self.run_id,
                "mlstage.step": name,
                "mlstage.step.code_hash": step.code_hash,
                "mlstage.step.cache_key": cache_key,
            },
        )
        self.store.start_step(
            self.run_id,
            name,
            params_hash=params_hash,
            input_hashes=input_hashes,
            cache_key=cache_key,
            start_time=now_ms(),
        )
        try:
            handle = self.engine.submit(task, step)
        except Exception as exc:
            self._finish(name, exc)
            return
        if isinstance(handle, StepResult):
            # The local executor ran it already: record it now, before the next one starts.
            self._finish(name, handle)
            return
        self.inflight[handle] = name

    def _cached(
        self, name: str, cache: bool, cache_key: str
    ) -> tuple[dict[str, StoredOutput], str | None] | None:
        from mlstage.pipelines.outputs import artifact_store

        reused = self.reuse.get(name)
        hit: tuple[dict[str, StoredOutput], str | None] | None = None
        if reused is not None and reused[0] == cache_key:
            hit = (reused[1], reused[2])
        elif cache:
            hit = self.store.find_cached(cache_key)
        if hit is None:
            return None
        blobs = artifact_store()
        if not all(blobs.exists(o.sha256) for o in hit[0].values()):
            return None  # the outputs were removed from the artifact store: run it again
        return hit

    def _finish(self, name: str, outcome: StepResult | BaseException) -> None:
        if isinstance(outcome, BaseException):
            outcome = StepResult(
                name,
                StepStatus.FAILED,
                {},
                1,
                now_ms(),
                now_ms(),
                error=f"the step's worker was lost: {type(outcome).__name__}: {outcome}",
                traceback="".join(tb.format_exception(outcome)),
            )
        self.store.finish_step(
            self.run_id,
            name,
            status=outcome.status,
            outputs=outcome.outputs,
            attempts=outcome.attempts,
            tracking_run_id=outcome.tracking_run_id,
            end_time=outcome.end_time,
            logs=outcome.logs,
            error=outcome.error,
            traceback=outcome.traceback,
            start_time=outcome.start_time,
        )
        if outcome.status is StepStatus.SUCCEEDED:
            self._succeeded(name, outcome.outputs)
        elif not self.error:
            self.error = f"step {name!r} failed: {outcome.error}"

    def _succeeded(self, name: str, outputs: dict[str, StoredOutput]) -> None:
        self.outputs.update(outputs)
        self.done.add(name)


def resume_run(
    pipeline: Pipeline | None, run_id: str, executor: str | Executor | None
) -> PipelineRun:
    """Run again the steps of ``run_id`` that did not succeed, reusing the outputs of the others."""
    from mlstage.pipelines.dsl import defined_pipeline
    from mlstage.pipelines.loading import load_target

    store = pipeline_store()
    previous = store.get_run(run_id)
    if previous.status is PipelineStatus.RUNNING:
        raise Conflict(f"pipeline run {run_id} is still running; resume it once it has ended")
    if previous.status is PipelineStatus.SUCCEEDED:
        raise Conflict(f"pipeline run {run_id} succeeded; there is nothing to resume")
    if pipeline is None:
        pipeline = defined_pipeline(previous.pipeline)
        if pipeline is None:
            pipeline = load_target(previous.source)
    elif pipeline.name != previous.pipeline:
        raise InvalidInput(
            f"pipeline run {run_id} is a run of {previous.pipeline!r}, not of {pipeline.name!r}"
        )
    reuse: Reuse = {
        s.step: (s.cache_key, dict(s.outputs), s.tracking_run_id)
        for s in previous.steps
        if s.status is StepStatus.SUCCEEDED
    }
    return run_pipeline(
        pipeline,
        previous.params,
        executor if executor is not None else previous.executor,
        reuse=reuse,
        resumed_from=run_id,
    )


def resume_pipeline(run_id: str, executor: str | Executor | None = None) -> PipelineRun:
    """Resume a failed pipeline run by id (its pipeline is found from the run's record).

    Steps that succeeded are reused when their cache key (code, parameters,
    inputs) is unchanged; the failed step and everything after it run again.
    """
    return resume_run(None, run_id, executor)


def get_pipeline_run(run_id: str) -> PipelineRun:
    from mlstage.pipelines.dsl import defined_pipeline

    info = pipeline_store().get_run(run_id)
    defined = defined_pipeline(info.pipeline)
    return PipelineRun(**info.model_dump(), result_refs=defined.returns if defined else None)
