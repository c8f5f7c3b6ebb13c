"""Request and list-response bodies of the tracking API.

Entities (``Run``, ``Experiment``, ...) are the responses themselves; these
models only wrap what the entities do not cover. Numbers are strict: a
metric value must be a JSON number (or the ``NaN``/``Infinity`` tokens), so
``"nan"`` as a string is refused with the field named, never coerced.
Limits on sizes and keys are checked by the store, so both back ends give
the same messages.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from mlstage.tracking.entities import (
    ArtifactInfo,
    DatasetInput,
    Experiment,
    Metric,
    RunContext,
    RunStatus,
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateExperiment(Body):
    name: StrictStr
    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class ExperimentName(Body):
    name: StrictStr


class ExperimentList(Body):
    experiments: list[Experiment]


class CreateRun(Body):
    experiment_id: StrictStr
    name: StrictStr | None = None
    context: RunContext | None = None
    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class EndRun(Body):
    status: RunStatus
    reason: StrictStr = ""


class Heartbeat(Body):
    run_ids: list[StrictStr]


class MetricPoint(Body):
    key: StrictStr
    value: StrictFloat
    step: StrictInt = 0
    timestamp: StrictInt = 0


class LogBatch(Body):
    metrics: list[MetricPoint] = Field(default_factory=list)
    params: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class MetricHistory(Body):
    metrics: list[Metric]


class SearchRuns(Body):
    experiment_ids: list[StrictStr]
    filter: StrictStr | None = None
    order_by: list[StrictStr] | None = None
    max_results: StrictInt = 1000
    page_token: StrictStr | None = None


class LogInputs(Body):
    inputs: list[DatasetInput]


class ArtifactList(Body):
    artifacts: list[ArtifactInfo]


class Status(Body):
    status: StrictStr
