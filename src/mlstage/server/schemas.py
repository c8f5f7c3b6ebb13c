"""Request and list-response bodies of the tracking, registry and deployment APIs.

Entities (``Run``, ``Experiment``, ...) are the responses themselves; these
models only wrap what the entities do not cover. Numbers are strict: a
metric value must be a JSON number (or the ``NaN``/``Infinity`` tokens), so
``"nan"`` as a string is refused with the field named, never coerced.
Limits on sizes and keys are checked by the store, so both back ends give
the same messages.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from mlstage.models.entities import HistoryEntry, ModelVersion, RegisteredModel, VersionStatus
from mlstage.serving.deployments import Deployment, DeploymentEvent
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
    project: StrictStr | None = None


class ExperimentName(Body):
    name: StrictStr
    project: StrictStr | None = None


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
    batch_id: StrictStr | None = None
    """Sent again on a retry: a batch already stored is not stored twice."""
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


# -- registry ---------------------------------------------------------------------------
# Names, aliases, versions, text and tags are checked by the routes and the
# registry store, with the same messages as in process.


class CreateRegisteredModel(Body):
    name: StrictStr
    description: StrictStr = ""
    owner: StrictStr = ""
    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class UpdateRegisteredModel(Body):
    description: StrictStr | None = None
    owner: StrictStr | None = None


class RegisteredModelList(Body):
    models: list[RegisteredModel]


class CreateModelVersion(Body):
    name: StrictStr
    source: StrictStr
    description: StrictStr = ""
    created_by: StrictStr = ""
    """Recorded only while auth is off; an authenticated caller is recorded by name."""
    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class UpdateModelVersion(Body):
    description: StrictStr | None = None
    card: dict[StrictStr, StrictStr] | None = None


class ModelVersionList(Body):
    versions: list[ModelVersion]


class Actor(Body):
    """Who made a change and why, for the history (``actor`` only while auth is off)."""

    actor: StrictStr = ""
    reason: StrictStr = ""


class SetAlias(Actor):
    version: StrictInt


class SetVersionStatus(Actor):
    status: VersionStatus
    validation: dict[StrictStr, Any] | None = None


class VersionTags(Body):
    tags: dict[StrictStr, StrictStr]


class ModelHistory(Body):
    history: list[HistoryEntry]


# -- deployments ------------------------------------------------------------------------
# Names, environment, versions, strategy and weight are checked by the route
# (before the database opens) and again by the store, with the store's messages.


class Deploy(Actor):
    """The whole record a ``PUT`` sets: a field left out takes its default, not its old value."""

    model: StrictStr
    environment: StrictStr
    primary_version: StrictInt
    candidate_version: StrictInt | None = None
    strategy: StrictStr = "single"
    """Text, not the enum, so an unknown strategy gets the store's message, naming the choices."""
    weight: StrictFloat = 0.0


class DeploymentError(Body):
    """A serving replica could not load ``revision`` of the deployment."""

    revision: StrictInt
    error: StrictStr


class DeploymentList(Body):
    deployments: list[Deployment]


class DeploymentHistory(Body):
    history: list[DeploymentEvent]
