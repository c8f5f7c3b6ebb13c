"""The executor interface: submit step tasks, wait for some to finish.

The runner decides what runs when (graph order, caching, failures); an
executor only runs ``StepTask``s somewhere and hands back ``StepResult``s.
Executors that run steps in other processes import them by module and name,
so their steps must be defined at module level (checked before a run starts).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.pipelines.dsl import Pipeline, Step
    from mlstage.pipelines.worker import StepResult, StepTask


class Executor(ABC):
    name: str = "executor"
    capacity: int = 1
    """How many tasks may be in flight at once."""

    @abstractmethod
    def submit(self, task: StepTask, step: Step) -> Any:
        """Start ``task``; return a handle for ``wait``."""

    @abstractmethod
    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult | BaseException]]:
        """Block until at least one handle is done; return each done one with its result.

        A task whose worker was lost (killed, out of memory) comes back as the exception.
        """

    def close(self) -> None:  # noqa: B027 (most executors have nothing to release)
        """Release workers and connections (called once, after the run)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def require_module_level(pipeline: Pipeline, executor: str) -> None:
    for node in pipeline.graph.nodes.values():
        if "<locals>" in node.step.fn.__qualname__:
            raise InvalidInput(
                f"{node.step.location}: step {node.step.name!r} is defined inside a function; "
                f"the {executor} executor imports steps by name in other processes, so define "
                "them at module level"
            )
