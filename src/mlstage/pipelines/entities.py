"""What a pipeline run is, as the API, the CLI and (later) the UI see it.

Pydantic models, like the other concerns' entities. ``PipelineRun`` adds
``outputs``: the step outputs, read from the artifact store when first used.
Times are milliseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class PipelineStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self is not PipelineStatus.RUNNING


class StepStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"  # never started: an upstream step failed


class StoredOutput(BaseModel):
    """One step output in the artifact store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str
    size: int
    kind: str
    type: str = ""


class StepRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    function: str
    position: int
    status: StepStatus
    cached: bool = False
    attempts: int = 0
    code_hash: str = ""
    params_hash: str = ""
    input_hashes: dict[str, str] = Field(default_factory=dict)
    cache_key: str = ""
    outputs: dict[str, StoredOutput] = Field(default_factory=dict)
    tracking_run_id: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    logs: str = ""
    error: str = ""
    traceback: str = ""

    @property
    def duration_ms(self) -> int | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time


class PipelineRunInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    pipeline: str
    status: PipelineStatus
    params: dict[str, Any] = Field(default_factory=dict)
    executor: str = "local"
    start_time: int
    end_time: int | None = None
    heartbeat_at: int
    error: str = ""
    resumed_from: str | None = None
    user: str = ""
    host: str = ""
    source: str = ""
    steps: list[StepRun] = Field(default_factory=list)


class PipelineRun(PipelineRunInfo):
    """A recorded run; ``outputs`` maps each step output's name to its value, read lazily."""

    result_refs: Any = None
    """What the pipeline function returned, as output names (see ``result``)."""
    _loaded: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def steps_by_name(self) -> dict[str, StepRun]:
        return {s.step: s for s in self.steps}

    @property
    def outputs(self) -> Outputs:
        return Outputs(self)

    @property
    def result(self) -> Any:
        """The values of the outputs the pipeline function returned, in the same shape."""

        def resolve(ref: Any) -> Any:
            if ref is None:
                return None
            if isinstance(ref, str):
                return self.outputs[ref]
            if isinstance(ref, list):
                return [resolve(r) for r in ref]
            return {k: resolve(v) for k, v in ref.items()}

        return resolve(self.result_refs)

    def _stored(self) -> dict[str, StoredOutput]:
        found: dict[str, StoredOutput] = {}
        for step in self.steps:
            found.update(step.outputs)
        return found


class Outputs(Mapping[str, Any]):
    """Step outputs by name (``"train"``, or ``"split[0]"`` for tuple outputs), loaded on use."""

    def __init__(self, run: PipelineRun) -> None:
        self._run = run
        self._stored = run._stored()

    def __getitem__(self, name: str) -> Any:
        cache = self._run._loaded
        if name not in cache:
            stored = self._stored.get(name)
            if stored is None:
                from mlstage.errors import NotFound

                known = ", ".join(sorted(self._stored)) or "none"
                raise NotFound(
                    f"pipeline run {self._run.run_id} has no output {name!r} (outputs: {known})"
                )
            from mlstage.pipelines.outputs import load_output

            cache[name] = load_output(stored, f"output {name!r}")
        return cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._stored)

    def __len__(self) -> int:
        return len(self._stored)

    def hashes(self) -> dict[str, str]:
        return {name: s.sha256 for name, s in self._stored.items()}
