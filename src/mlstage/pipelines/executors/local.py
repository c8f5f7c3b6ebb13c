"""The in-process executor: one step at a time, in this process (the default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlstage.pipelines.executors.base import Executor

if TYPE_CHECKING:
    from mlstage.pipelines.dsl import Step
    from mlstage.pipelines.worker import StepResult, StepTask


class LocalExecutor(Executor):
    name = "local"
    capacity = 1

    def submit(self, task: StepTask, step: Step) -> Any:
        from mlstage.pipelines.worker import run_step_task

        return run_step_task(task, step)

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult | BaseException]]:
        return [(h, h) for h in handles]
