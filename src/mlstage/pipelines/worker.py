"""Running one step, wherever it runs: in-process, in a pool process, or on a Dask worker.

A ``StepTask`` is plain data (picklable): where the step's function lives,
its inputs as artifact hashes, its constant parameters, and the metadata
store and artifact root to use. ``run_step_task`` loads the inputs from the
artifact store, runs the function with retries and a timeout, stores the
outputs, records the attempt as a tracked run, and returns a ``StepResult``.
It never raises: a failure is a result.

Timeouts: with ``timeout=`` an attempt runs in a separate thread and is
abandoned when the time is up; the step then fails (or is retried) at once.
Python cannot stop a thread, so an abandoned call may go on in the background
until it returns; its result is discarded and never stored. Use it to bound
hangs (a stuck connection), and end the run's process (or use the
``processes``/``dask`` executors, whose workers can be restarted) for code
that must really be stopped.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
import traceback as tb
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstage.pipelines.entities import StepStatus, StoredOutput

if TYPE_CHECKING:
    from mlstage.pipelines.dsl import Step


class StepTimeout(Exception):
    """An attempt of a step ran past its ``timeout``."""


@dataclass
class StepTask:
    pipeline_run_id: str
    pipeline: str
    node: str
    module: str
    path: str
    qualname: str
    inputs: dict[str, dict[str, Any]]
    """Parameter name -> stored output (sha256, size, kind, type) of an upstream step."""
    values: dict[str, Any]
    """Parameter name -> JSON value (constants and pipeline parameters)."""
    outputs: list[tuple[str, str, str]]
    """(output name, kind, type name) of each output, in order."""
    retries: int
    retry_backoff: float
    timeout: float | None
    resources: dict[str, float]
    tracking_uri: str
    artifact_root: str
    s3_endpoint_url: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class StepResult:
    node: str
    status: StepStatus
    outputs: dict[str, StoredOutput]
    attempts: int
    start_time: int
    end_time: int
    logs: str = ""
    error: str = ""
    traceback: str = ""
    tracking_run_id: str | None = None


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _use_settings(task: StepTask) -> None:
    """Point this process at the run's stores (a Dask worker starts with its own settings)."""
    from mlstage import config

    current = config.get_settings()
    if (
        current.tracking_uri == task.tracking_uri
        and current.artifact_root == task.artifact_root
        and current.s3_endpoint_url == task.s3_endpoint_url
    ):
        return
    overrides = {"tracking_uri": task.tracking_uri, "artifact_root": task.artifact_root}
    if task.s3_endpoint_url:
        overrides["s3_endpoint_url"] = task.s3_endpoint_url
    config.set_settings(current.with_overrides(**overrides))


def resolve_step(module: str, path: str, qualname: str) -> Step:
    """The ``Step`` object named by module and qualname, importing its file if needed."""
    from mlstage.errors import InvalidInput
    from mlstage.pipelines.dsl import Step
    from mlstage.pipelines.loading import import_path, module_name_for

    if "<locals>" in qualname:
        raise InvalidInput(
            f"step {qualname!r} is defined inside a function; the processes and dask executors "
            "import steps by name, so define them at module level"
        )
    found = sys.modules.get(module)
    if found is None or module == "__main__":
        main = sys.modules.get("__mp_main__")
        if main is not None and _same_file(getattr(main, "__file__", None), path):
            found = main
        elif module not in ("__main__", "__mp_main__"):
            try:
                found = importlib.import_module(module)
            except ImportError:
                found = import_path(path, module)
        else:
            found = import_path(path, module_name_for(Path(path)))
    target: Any = found
    for part in qualname.split("."):
        target = getattr(target, part)
    if not isinstance(target, Step):
        raise InvalidInput(f"{module}.{qualname} is not a step (decorate it with @step)")
    return target


def _same_file(a: str | None, b: str) -> bool:
    return a is not None and Path(a).resolve() == Path(b).resolve()


def run_step_task(task: StepTask, step: Step | None = None) -> StepResult:
    """Run one step of a pipeline run; see the module docstring. Never raises."""
    from mlstage.pipelines.capture import capture

    start = now_ms()
    logs: list[str] = []
    attempts = 0
    tracked = None
    try:
        _use_settings(task)
        if step is None:
            step = resolve_step(task.module, task.path, task.qualname)
        tracked = _start_tracked_run(task)
        kwargs = dict(task.values)
        kwargs.update(_load_inputs(task))
        value: Any = None
        while True:
            attempts += 1
            try:
                with capture(logs):
                    value = _call(step, kwargs, task.timeout, logs)
                break
            except Exception as exc:
                if attempts > task.retries:
                    raise
                delay = task.retry_backoff * 2 ** (attempts - 1)
                logs.append(
                    f"[mlstage] attempt {attempts} of step {task.node!r} failed: "
                    f"{type(exc).__name__}: {exc}; retrying in {delay:g} s\n"
                )
                time.sleep(delay)
        outputs = _store_outputs(task, step, value)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        trace = "".join(tb.format_exception(exc))
        tracking_run_id = _end_tracked_run(tracked, error)
        return StepResult(
            task.node,
            StepStatus.FAILED,
            {},
            attempts,
            start,
            now_ms(),
            "".join(logs),
            error,
            trace,
            tracking_run_id,
        )
    tracking_run_id = _end_tracked_run(tracked, None)
    return StepResult(
        task.node,
        StepStatus.SUCCEEDED,
        outputs,
        attempts,
        start,
        now_ms(),
        "".join(logs),
        tracking_run_id=tracking_run_id,
    )


def _call(step: Step, kwargs: dict[str, Any], timeout: float | None, logs: list[str]) -> Any:
    if timeout is None:
        return step.fn(**kwargs)
    from mlstage.pipelines.capture import capture

    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            with capture(logs):
                box["value"] = step.fn(**kwargs)
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=target, name=f"mlstage-step-{step.name}", daemon=True)
    thread.start()
    if not done.wait(timeout):
        raise StepTimeout(
            f"step {step.name!r} ran past its timeout of {timeout:g} s and was abandoned"
        )
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _load_inputs(task: StepTask) -> dict[str, Any]:
    from mlstage.pipelines.outputs import load_output

    loaded: dict[str, Any] = {}
    for param, stored in task.inputs.items():
        loaded[param] = load_output(StoredOutput(**stored), f"input {param!r} of {task.node!r}")
    return loaded


def _store_outputs(task: StepTask, step: Step, value: Any) -> dict[str, StoredOutput]:
    from mlstage.errors import InvalidInput
    from mlstage.pipelines.outputs import store_output
    from mlstage.pipelines.types import value_matches

    annotations = step.output_types if step.output_types is not None else [step.returns]
    if step.output_types is not None:
        if not isinstance(value, tuple | list) or len(value) != len(annotations):
            raise InvalidInput(
                f"step {task.node!r} must return a tuple of {len(annotations)} values, "
                f"got {type(value).__name__}"
            )
        values = list(value)
    else:
        values = [value]
    stored: dict[str, StoredOutput] = {}
    for (name, kind, type_label), annotation, item in zip(
        task.outputs, annotations, values, strict=True
    ):
        where = f"step {task.node!r} output {name!r}"
        if kind not in ("dataframe", "ndarray", "sklearn") and not value_matches(item, annotation):
            raise InvalidInput(f"{where} is declared {type_label}, got a {type(item).__name__}")
        stored[name] = store_output(item, kind, type_label, where)  # type: ignore[arg-type]
    return stored


def _start_tracked_run(task: StepTask) -> Any:
    from mlstage.tracking import fluent

    run = fluent.start_run(name=task.node, experiment=task.pipeline, tags=task.tags, nested=True)
    params = {k: v for k, v in task.values.items()}
    if params:
        import json

        fluent.log_params(
            {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()},
            run_id=run.run_id,
        )
    return run


def _end_tracked_run(run: Any, error: str | None) -> str | None:
    if run is None:
        return None
    from mlstage.tracking import fluent
    from mlstage.tracking.entities import RunStatus

    try:
        if error is None:
            fluent._end(run, RunStatus.FINISHED, "")
        else:
            fluent._end(run, RunStatus.FAILED, error[:2000])
    except Exception as exc:  # the step's own record still says what happened
        print(f"mlstage: could not end the step's tracked run: {exc}", file=sys.stderr)
    return str(run.run_id)
