"""The graph of a pipeline: steps as nodes, their inputs as bindings, checked as a whole.

Built by tracing the pipeline function once, when it is defined (see
``dsl.py``), and checked then: every input refers to a step output or a
pipeline parameter that exists, types agree along every edge, and there is
no cycle. Every error names the user's file and line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput
from mlstage.pipelines.types import Kind, compatible, type_name

if TYPE_CHECKING:
    from mlstage.pipelines.dsl import Step


@dataclass(frozen=True)
class Location:
    """A place in the user's code."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def definition_error(location: Location | None, message: str) -> InvalidInput:
    return InvalidInput(f"{location}: {message}" if location else message)


@dataclass(frozen=True)
class OutputRef:
    """Output ``index`` of step ``node`` (None: the step's only output)."""

    node: str
    index: int | None
    annotation: Any
    kind: Kind

    @property
    def name(self) -> str:
        return self.node if self.index is None else f"{self.node}[{self.index}]"


@dataclass(frozen=True)
class ParamRef:
    """A parameter of the pipeline, bound when it runs."""

    name: str
    annotation: Any


@dataclass(frozen=True)
class Const:
    """A JSON-able constant written in the pipeline function (or a parameter's default)."""

    value: Any


Binding = OutputRef | ParamRef | Const


@dataclass(frozen=True)
class PipelineParam:
    name: str
    annotation: Any
    default: Any
    required: bool


@dataclass
class Node:
    """One call of a step in the pipeline function."""

    name: str
    step: Step
    bindings: dict[str, Binding]
    outputs: list[OutputRef]
    location: Location
    position: int

    def upstream(self) -> set[str]:
        return {b.node for b in self.bindings.values() if isinstance(b, OutputRef)}


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    params: dict[str, PipelineParam] = field(default_factory=dict)

    def order(self) -> list[str]:
        """Nodes in an order where each comes after its inputs (stable: definition order)."""
        done: list[str] = []
        placed: set[str] = set()
        remaining = list(self.nodes)
        while remaining:
            ready = [n for n in remaining if self.nodes[n].upstream() <= placed]
            if not ready:
                stuck = self.nodes[remaining[0]]
                cycle = " -> ".join(self._cycle_from(remaining[0]))
                raise definition_error(
                    stuck.location,
                    f"the steps form a cycle: {cycle}; a step cannot depend on itself",
                )
            for name in ready:
                done.append(name)
                placed.add(name)
            remaining = [n for n in remaining if n not in placed]
        return done

    def _cycle_from(self, start: str) -> list[str]:
        """A cycle reachable upstream from ``start``, as step names, first and last equal."""
        path: list[str] = []
        on_path: set[str] = set()
        finished: set[str] = set()

        def visit(name: str) -> list[str] | None:
            path.append(name)
            on_path.add(name)
            for up in sorted(self.nodes[name].upstream()):
                if up in on_path:
                    return [*path[path.index(up) :], up]
                if up in self.nodes and up not in finished:
                    found = visit(up)
                    if found:
                        return found
            path.pop()
            on_path.discard(name)
            finished.add(name)
            return None

        for name in [start, *self.nodes]:
            if name not in finished:
                found = visit(name)
                if found:
                    return list(reversed(found))
        return [start]

    def validate(self) -> None:
        """Check every binding, the types along every edge, and that there is no cycle."""
        for node in self.nodes.values():
            for param, binding in node.bindings.items():
                expected = node.step.parameters[param]
                if isinstance(binding, OutputRef):
                    source = self.nodes.get(binding.node)
                    if source is None or binding not in source.outputs:
                        raise definition_error(
                            node.location,
                            f"step {node.name!r}: input {param!r} refers to {binding.name!r}, "
                            "which is not an output of a step of this pipeline",
                        )
                    self._check_edge(node, param, binding.annotation, expected, source)
                elif isinstance(binding, ParamRef):
                    if binding.name not in self.params:
                        raise definition_error(
                            node.location,
                            f"step {node.name!r}: input {param!r} refers to pipeline parameter "
                            f"{binding.name!r}, which does not exist",
                        )
                    self._check_edge(node, param, binding.annotation, expected, None)
        self.order()

    @staticmethod
    def _check_edge(
        node: Node, param: str, produced: Any, expected: Any, source: Node | None
    ) -> None:
        if compatible(produced, expected):
            return
        origin = (
            f"step {source.name!r} ({source.location}) returns"
            if source is not None
            else "the pipeline parameter is"
        )
        raise definition_error(
            node.location,
            f"step {node.name!r}: input {param!r} expects {type_name(expected)}, "
            f"but {origin} {type_name(produced)}",
        )

    def spec(self) -> dict[str, Any]:
        """The graph as JSON-able data: what is recorded as the pipeline's definition."""

        def binding(b: Binding) -> Any:
            if isinstance(b, OutputRef):
                return {"output": b.name}
            if isinstance(b, ParamRef):
                return {"param": b.name}
            return {"value": b.value}

        return {
            "params": {
                p.name: {
                    "type": type_name(p.annotation),
                    "default": None if p.required else p.default,
                    "required": p.required,
                }
                for p in self.params.values()
            },
            "steps": [
                {
                    "name": n.name,
                    "function": n.step.qualified_name,
                    "code_hash": n.step.code_hash,
                    "inputs": {k: binding(b) for k, b in n.bindings.items()},
                    "outputs": [
                        {"name": o.name, "type": type_name(o.annotation), "kind": o.kind}
                        for o in n.outputs
                    ],
                    "upstream": sorted(n.upstream()),
                    "cache": n.step.cache,
                    "retries": n.step.retries,
                    "timeout": n.step.timeout,
                    "location": str(n.location),
                }
                for n in self.nodes.values()
            ],
        }


def spec_hash(spec: dict[str, Any]) -> str:
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
