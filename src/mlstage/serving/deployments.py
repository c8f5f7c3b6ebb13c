"""Deployments: which versions of a registered model serve an environment, and how.

A deployment ``churn-prod`` serves model ``churn``: a primary version and
optionally a candidate, with a strategy:

- ``single``: the primary serves everything.
- ``canary``: ``weight`` percent of requests go to the candidate.
- ``ab``: like canary, but sticky: the same request key always gets the same arm.
- ``shadow``: the primary answers; the candidate sees a copy of the traffic, its
  answers are logged and compared, never returned.
- ``blue-green``: the candidate is loaded and ready beside the primary; ``promote``
  switches all traffic at once.

``promote`` makes the candidate the primary; ``rollback`` returns to the
previous primary. Every change bumps ``revision`` and is kept in the history.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import Field

from mlstage.errors import InvalidInput
from mlstage.tracking.entities import Entity

_DEPLOYMENT_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,99}")
_ENVIRONMENT = re.compile(r"[a-z][a-z0-9_\-]{0,63}")


class Strategy(StrEnum):
    SINGLE = "single"
    CANARY = "canary"
    AB = "ab"
    SHADOW = "shadow"
    BLUE_GREEN = "blue-green"


class Deployment(Entity):
    name: str
    model: str
    environment: str
    primary_version: int
    candidate_version: int | None = None
    previous_version: int | None = None
    strategy: Strategy = Strategy.SINGLE
    weight: float = 0.0
    """Percent of requests the candidate answers (canary and ab)."""
    revision: int
    error: str = ""
    """The last failure of a service to load this revision (the old versions keep serving)."""
    created_at: int
    updated_at: int
    updated_by: str = ""

    @property
    def versions(self) -> list[int]:
        """Every version a service of this deployment must have loaded."""
        found = [self.primary_version]
        if self.candidate_version is not None and self.candidate_version != self.primary_version:
            found.append(self.candidate_version)
        return found


class DeploymentEvent(Entity):
    name: str
    revision: int
    action: str
    """created, updated, promoted, rolled_back, load_failed."""
    before: dict[str, Any] | None = None
    after: dict[str, Any] = Field(default_factory=dict)
    actor: str = ""
    reason: str = ""
    at: int


def check_deployment_name(name: object) -> str:
    if not isinstance(name, str) or not _DEPLOYMENT_NAME.fullmatch(name) or ".." in name:
        raise InvalidInput(
            f"deployment name {name!r} must be 1 to 100 lower-case letters, digits, '_', '-' or "
            "'.', starting with a letter or digit (e.g. churn-prod)"
        )
    return name


def check_environment(environment: object) -> str:
    if not isinstance(environment, str) or not _ENVIRONMENT.fullmatch(environment):
        raise InvalidInput(
            f"environment {environment!r} must be lower-case letters, digits, '_' or '-', "
            "starting with a letter (e.g. dev, staging, prod)"
        )
    return environment


MAX_REASON = 2000


def check_text(value: object, field: str) -> str:
    """Reasons, actors and load errors: text without NUL, at most 2,000 characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text, got {type(value).__name__}")
    if len(value) > MAX_REASON or "\x00" in value:
        raise InvalidInput(f"{field} must be text of at most {MAX_REASON} characters, no NUL")
    return value


def check_strategy(
    strategy: Strategy | str, candidate: int | None, weight: float
) -> tuple[Strategy, float]:
    try:
        chosen = Strategy(strategy)
    except ValueError as exc:
        known = ", ".join(s.value for s in Strategy)
        raise InvalidInput(f"strategy {strategy!r} is not one of {known}") from exc
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 100:
        raise InvalidInput(f"weight must be a percentage from 0 to 100, got {weight!r}")
    if chosen is Strategy.SINGLE:
        if candidate is not None:
            raise InvalidInput(
                "strategy 'single' takes no candidate; choose canary, ab, shadow or blue-green"
            )
        return chosen, 0.0
    if candidate is None:
        raise InvalidInput(f"strategy {chosen.value!r} needs a candidate version")
    if chosen in (Strategy.CANARY, Strategy.AB) and not 0 < weight < 100:
        raise InvalidInput(
            f"strategy {chosen.value!r} needs a weight between 0 and 100 (exclusive), got {weight}"
        )
    if chosen in (Strategy.SHADOW, Strategy.BLUE_GREEN):
        weight = 0.0
    return chosen, float(weight)


@runtime_checkable
class DeploymentStore(Protocol):
    """Deployment records and their history; every change is one transaction."""

    def deploy(
        self,
        name: str,
        model: str,
        environment: str,
        primary_version: int,
        *,
        candidate_version: int | None = None,
        strategy: Strategy | str = Strategy.SINGLE,
        weight: float = 0.0,
        actor: str = "",
        reason: str = "",
    ) -> Deployment:
        """Create the deployment or change it; the versions must exist in the registry."""
        ...

    def get_deployment(self, name: str) -> Deployment: ...

    def list_deployments(self) -> list[Deployment]: ...

    def promote(self, name: str, *, actor: str = "", reason: str = "") -> Deployment: ...

    def rollback(self, name: str, *, actor: str = "", reason: str = "") -> Deployment: ...

    def report_error(self, name: str, revision: int, error: str) -> None:
        """A service could not load ``revision``; shown on the deployment, kept in history."""
        ...

    def get_history(self, name: str) -> Sequence[DeploymentEvent]: ...


def get_deployment_store(uri: str | None = None) -> DeploymentStore:
    """The deployment store for the tracking URI: the database, or the server over HTTP."""
    from mlstage.config import get_settings

    settings = get_settings()
    uri = uri or settings.tracking_uri
    if uri.split(":", 1)[0].lower() in ("http", "https"):
        from mlstage.serving.http_deployments import HttpDeploymentStore

        return HttpDeploymentStore.shared(uri, settings)
    from mlstage.serving.sql_deployments import SqlDeploymentStore

    return SqlDeploymentStore.shared(uri, settings)
