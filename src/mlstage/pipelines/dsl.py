"""``@step`` and ``@pipeline``: typed steps, and pipeline functions traced into a checked graph.

Decorating a pipeline function runs it once, right away, with placeholders
for its parameters: each step it calls adds a node to the graph and returns
a typed placeholder for its output instead of running. The graph is then
checked (``graph.py``), so a wrong wiring fails at import time, pointing at
the user's file and line, not hours into a run. Outside a pipeline function
a step is its plain function, which keeps steps easy to unit-test.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sys
import threading
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from mlstage.errors import InvalidInput
from mlstage.pipelines.graph import (
    Binding,
    Const,
    Graph,
    Location,
    Node,
    OutputRef,
    ParamRef,
    PipelineParam,
    definition_error,
)
from mlstage.pipelines.types import SUPPORTED, Kind, compatible, kind_of, type_name, value_matches

if TYPE_CHECKING:
    from mlstage.pipelines.entities import PipelineRun
    from mlstage.pipelines.executors.base import Executor

F = TypeVar("F", bound=Callable[..., Any])
_tracing = threading.local()
_pipelines: dict[str, Pipeline] = {}
"""Pipelines defined in this process, by name: what ``resume`` looks in first."""


def _location_of(fn: Callable[..., Any]) -> Location:
    code = fn.__code__
    return Location(code.co_filename, code.co_firstlineno)


def _caller_location(depth: int = 2) -> Location:
    frame = sys._getframe(depth)
    return Location(frame.f_code.co_filename, frame.f_lineno)


def _hints(fn: Callable[..., Any], location: Location, what: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except NameError as exc:
        # Postponed annotations may name classes local to the function that defines the
        # step (tests, notebooks): look in the frames of the definition site too.
        frame = sys._getframe(1)
        while frame is not None:
            try:
                return typing.get_type_hints(fn, localns=dict(frame.f_locals))
            except NameError:
                frame = frame.f_back  # type: ignore[assignment]
        raise definition_error(
            location, f"{what} {fn.__name__!r}: its type annotations do not resolve: {exc}"
        ) from exc
    except Exception as exc:  # an annotation that is not a type
        raise definition_error(
            location, f"{what} {fn.__name__!r}: its type annotations do not resolve: {exc}"
        ) from exc


def _json_able(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class Step:
    """A function whose call, inside a pipeline function, becomes a node of the graph."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        cache: bool = True,
        retries: int = 0,
        retry_backoff: float = 1.0,
        timeout: float | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.location = _location_of(fn)
        where = f"step {self.name!r}"
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise definition_error(
                self.location, f"{where}: retries must be 0 or more, got {retries!r}"
            )
        if not isinstance(retry_backoff, int | float) or retry_backoff < 0:
            raise definition_error(
                self.location, f"{where}: retry_backoff must be seconds >= 0, got {retry_backoff!r}"
            )
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise definition_error(
                self.location, f"{where}: timeout must be seconds > 0 or None, got {timeout!r}"
            )
        checked_resources: dict[str, float] = {}
        for key, amount in dict(resources or {}).items():
            if not isinstance(key, str) or not isinstance(amount, int | float) or amount <= 0:
                raise definition_error(
                    self.location,
                    f"{where}: resources must map names to amounts > 0, got {key!r}: {amount!r}",
                )
            checked_resources[key] = float(amount)
        self.cache = bool(cache)
        self.retries = retries
        self.retry_backoff = float(retry_backoff)
        self.timeout = None if timeout is None else float(timeout)
        self.resources = checked_resources
        self.signature = inspect.signature(fn)
        hints = _hints(fn, self.location, "step")
        self.parameters: dict[str, Any] = {}
        for param in self.signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise definition_error(
                    self.location,
                    f"{where}: parameter {param.name!r} is {param.kind.description}; steps take "
                    "named parameters only, so the graph can record each input",
                )
            if param.name not in hints:
                raise definition_error(
                    self.location,
                    f"{where}: parameter {param.name!r} has no type annotation; steps are typed "
                    "so the pipeline can check its wiring",
                )
            self.parameters[param.name] = hints[param.name]
        if "return" not in hints:
            raise definition_error(
                self.location,
                f"{where}: the return type is not annotated (use -> None for a step without "
                "output)",
            )
        self.returns = hints["return"]
        self.output_types: list[Any] | None  # None: one output
        if typing.get_origin(self.returns) is tuple and ... not in typing.get_args(self.returns):
            self.output_types = list(typing.get_args(self.returns))
        else:
            self.output_types = None
        self.output_kinds: list[Kind] = []
        for annotation in self.output_types or [self.returns]:
            kind = kind_of(annotation)
            if kind is None:
                raise definition_error(
                    self.location,
                    f"{where} returns {type_name(annotation)}, which mlstage cannot store "
                    f"without pickle; return {SUPPORTED}",
                )
            self.output_kinds.append(kind)
        self.code_hash = _code_hash(fn)
        self.qualified_name = f"{fn.__module__}.{fn.__qualname__}"
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder: _Builder | None = getattr(_tracing, "builder", None)
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs, _caller_location())

    def __repr__(self) -> str:
        return f"<step {self.name} at {self.location}>"


def _code_hash(fn: Callable[..., Any]) -> str:
    """The sha256 of the function's source (its bytecode when there is no source)."""
    try:
        source = inspect.getsource(fn).encode("utf-8")
    except (OSError, TypeError):
        code = fn.__code__
        source = code.co_code + repr(code.co_consts).encode("utf-8")
    return hashlib.sha256(source).hexdigest()


class _Placeholder:
    """Stands for a value the pipeline does not have while it is being defined."""

    _what = "value"

    def _refuse(self, action: str) -> InvalidInput:
        return definition_error(
            _caller_location(3),
            f"{self._what} cannot be {action} while the pipeline is defined: pipeline functions "
            "only wire steps; do the work in a step",
        )

    def __bool__(self) -> bool:
        raise self._refuse("tested")

    def __iter__(self) -> Any:
        raise self._refuse("iterated over")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._refuse(f"read (.{name})")

    def __getitem__(self, key: Any) -> Any:
        raise self._refuse("indexed")


class Output(_Placeholder):
    """The future output of a step, as a pipeline function sees it."""

    def __init__(self, ref: OutputRef) -> None:
        self._ref = ref
        self._what = f"the output of step {ref.node!r}"

    def __repr__(self) -> str:
        return f"<output {self._ref.name}: {type_name(self._ref.annotation)}>"


class Param(_Placeholder):
    """A pipeline parameter, as the pipeline function sees it."""

    def __init__(self, ref: ParamRef) -> None:
        self._ref = ref
        self._what = f"pipeline parameter {ref.name!r}"

    def __repr__(self) -> str:
        return f"<param {self._ref.name}: {type_name(self._ref.annotation)}>"


class _Builder:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any], at: Location) -> Any:
        unknown = sorted(set(kwargs) - set(step.parameters))
        if unknown:
            raise definition_error(
                at,
                f"step {step.name!r} has no input {unknown[0]!r} "
                f"(inputs: {', '.join(step.parameters) or 'none'})",
            )
        try:
            bound = step.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise definition_error(at, f"step {step.name!r}: {exc}") from None
        name = step.name
        count = 1
        while name in self.graph.nodes:
            count += 1
            name = f"{step.name}-{count}"
        bindings: dict[str, Binding] = {}
        for param in step.signature.parameters.values():
            expected = step.parameters[param.name]
            if param.name in bound.arguments:
                bindings[param.name] = self._binding(
                    step, param.name, bound.arguments[param.name], expected, at
                )
            else:
                bindings[param.name] = Const(param.default)
        if step.output_types is None:
            outputs = [OutputRef(name, None, step.returns, step.output_kinds[0])]
        else:
            outputs = [
                OutputRef(name, i, annotation, step.output_kinds[i])
                for i, annotation in enumerate(step.output_types)
            ]
        node = Node(name, step, bindings, outputs, at, len(self.graph.nodes))
        self.graph.nodes[name] = node
        if step.output_types is None:
            return Output(outputs[0])
        return tuple(Output(o) for o in outputs)

    def _binding(self, step: Step, param: str, value: Any, expected: Any, at: Location) -> Binding:
        where = f"step {step.name!r}: input {param!r}"
        if isinstance(value, Output):
            ref = value._ref
            source = self.graph.nodes.get(ref.node)
            if source is None or ref not in source.outputs:
                raise definition_error(
                    at,
                    f"{where} is the output of step {ref.node!r} of another pipeline; "
                    "a pipeline can only use outputs of its own steps",
                )
            if not compatible(ref.annotation, expected):
                raise definition_error(
                    at,
                    f"{where} expects {type_name(expected)}, but step {ref.node!r} "
                    f"({source.location}) returns {type_name(ref.annotation)}",
                )
            return ref
        if isinstance(value, Param):
            ref_p = value._ref
            if self.graph.params.get(ref_p.name) is None:
                raise definition_error(
                    at, f"{where} is parameter {ref_p.name!r} of another pipeline"
                )
            if not compatible(ref_p.annotation, expected):
                raise definition_error(
                    at,
                    f"{where} expects {type_name(expected)}, but pipeline parameter "
                    f"{ref_p.name!r} is {type_name(ref_p.annotation)}",
                )
            return ref_p
        if isinstance(value, tuple | list) and any(isinstance(v, _Placeholder) for v in value):
            raise definition_error(
                at,
                f"{where} is a {type(value).__name__} holding step outputs; pass each output "
                "to its own parameter (unpack a step's tuple of outputs first)",
            )
        if not _json_able(value):
            raise definition_error(
                at,
                f"{where} is a constant {type(value).__name__}; constants in a pipeline "
                "function must be JSON-able (pass data through a step output instead)",
            )
        if not value_matches(value, expected):
            raise definition_error(
                at, f"{where} expects {type_name(expected)}, got the constant {value!r}"
            )
        return Const(value)


class Pipeline:
    """A named, checked graph of steps; ``run()`` it on an executor."""

    def __init__(
        self, fn: Callable[..., Any], *, name: str | None = None, schedule: str | None = None
    ) -> None:
        from mlstage.pipelines.cron import parse_cron

        self.fn = fn
        self.name = name or fn.__name__
        self.location = _location_of(fn)
        where = f"pipeline {self.name!r}"
        if (
            not self.name
            or len(self.name) > 200
            or not self.name.replace("-", "_").replace(".", "_").isidentifier()
        ):
            raise definition_error(
                self.location,
                f"{where}: a pipeline name is letters, digits, '_', '-' and '.', "
                "at most 200 characters",
            )
        self.schedule = schedule
        if schedule is not None:
            try:
                parse_cron(schedule)
            except InvalidInput as exc:
                raise definition_error(self.location, f"{where}: schedule: {exc.message}") from None
        self.graph = Graph()
        hints = _hints(fn, self.location, "pipeline")
        placeholders: dict[str, Param] = {}
        for param in inspect.signature(fn).parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise definition_error(
                    self.location,
                    f"{where}: parameter {param.name!r} is {param.kind.description}; "
                    "pipeline parameters are named",
                )
            annotation = hints.get(param.name)
            if annotation is None or kind_of(annotation) != "json":
                shown = "no annotation" if annotation is None else type_name(annotation)
                raise definition_error(
                    self.location,
                    f"{where}: parameter {param.name!r} has {shown}; pipeline parameters are "
                    "JSON-able values (int, float, str, bool, list, dict) with a type annotation",
                )
            required = param.default is inspect.Parameter.empty
            default = None if required else param.default
            if not required and not (_json_able(default) and value_matches(default, annotation)):
                raise definition_error(
                    self.location,
                    f"{where}: the default of {param.name!r} ({default!r}) is not a "
                    f"JSON-able {type_name(annotation)}",
                )
            self.graph.params[param.name] = PipelineParam(param.name, annotation, default, required)
            placeholders[param.name] = Param(ParamRef(param.name, annotation))
        previous = getattr(_tracing, "builder", None)
        _tracing.builder = _Builder(self.graph)
        try:
            returned = fn(**placeholders)
        finally:
            _tracing.builder = previous
        self.returns = _returned_refs(returned, self.location, where)
        if not self.graph.nodes:
            raise definition_error(self.location, f"{where} calls no step")
        self.graph.validate()
        self.order = self.graph.order()
        functools.update_wrapper(self, fn)
        _pipelines[self.name] = self

    def run(self, executor: str | Executor = "local", **params: Any) -> PipelineRun:
        """Run every step (reusing cached outputs) and return the recorded run."""
        from mlstage.pipelines.runner import run_pipeline

        return run_pipeline(self, params, executor)

    def resume(self, run_id: str, executor: str | Executor | None = None) -> PipelineRun:
        """Run again from the steps that did not succeed in ``run_id``, reusing the others."""
        from mlstage.pipelines.runner import resume_run

        return resume_run(self, run_id, executor)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidInput(
            f"pipeline {self.name!r} is not called directly: use {self.fn.__name__}.run(...)"
        )

    def __repr__(self) -> str:
        return f"<pipeline {self.name}: {len(self.graph.nodes)} steps, defined at {self.location}>"


def _returned_refs(value: Any, location: Location, where: str) -> Any:
    """What the pipeline function returned, with placeholders turned into output names."""
    if value is None:
        return None
    if isinstance(value, Output):
        return value._ref.name
    if isinstance(value, tuple | list):
        return [_returned_refs(v, location, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _returned_refs(v, location, where) for k, v in value.items()}
    raise definition_error(
        location,
        f"{where} returns a {type(value).__name__}; a pipeline function returns nothing, a step "
        "output, or a tuple, list or dict of step outputs",
    )


@overload
def step(fn: F) -> F: ...


@overload
def step(
    fn: None = None,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    retry_backoff: float = 1.0,
    timeout: float | None = None,
    resources: Mapping[str, float] | None = None,
) -> Callable[[F], F]: ...


def step(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    retry_backoff: float = 1.0,
    timeout: float | None = None,
    resources: Mapping[str, float] | None = None,
) -> Any:
    """Make ``fn`` a pipeline step.

    ``cache``: reuse the outputs of an earlier successful run with the same code (the
    source of this function: a change in a helper it calls is not seen), parameters
    and input hashes. ``retries``: attempts after the first failure, waiting
    ``retry_backoff * 2**(n-1)`` seconds before attempt n+1. ``timeout``: seconds an
    attempt may take (see ``mlstage.pipelines.worker``). ``resources``: Dask worker
    resources the step needs, e.g. ``{"GPU": 1}``.
    """

    def wrap(function: Callable[..., Any]) -> Step:
        return Step(
            function,
            name=name,
            cache=cache,
            retries=retries,
            retry_backoff=retry_backoff,
            timeout=timeout,
            resources=resources,
        )

    return wrap(fn) if fn is not None else wrap


@overload
def pipeline(fn: Callable[..., Any]) -> Pipeline: ...


@overload
def pipeline(
    fn: None = None, *, name: str | None = None, schedule: str | None = None
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    schedule: str | None = None,
) -> Any:
    """Make ``fn`` a pipeline: trace and check its graph now; ``schedule`` is a 5-field cron."""

    def wrap(function: Callable[..., Any]) -> Pipeline:
        return Pipeline(function, name=name, schedule=schedule)

    return wrap(fn) if fn is not None else wrap


def defined_pipeline(name: str) -> Pipeline | None:
    return _pipelines.get(name)
