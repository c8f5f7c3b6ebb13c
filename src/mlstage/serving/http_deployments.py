"""Deployment records over the platform server's REST API (``http(s)://host:port``).

Same interface and errors as ``SqlDeploymentStore``; the transport (pooled
client, retries, error mapping) is ``mlstage.http_client``. Every field is
checked here with the store's own checks before anything is sent, so a bad
name cannot reshape a URL and a bad record fails with the same message on
either store. Changes that write history (deploy, promote, rollback) are
sent twice only when the first attempt never left, so a retry cannot record
a revision twice; a load error may be resent, the server keeps it once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlstage.errors import InvalidInput
from mlstage.http_client import HttpApi
from mlstage.models.names import check_model_name, check_version
from mlstage.serving.deployments import (
    Deployment,
    DeploymentEvent,
    Strategy,
    check_deployment_name,
    check_environment,
    check_strategy,
)

if TYPE_CHECKING:
    from mlstage.serving.deployments import DeploymentStore


class HttpDeploymentStore(HttpApi):
    """``DeploymentStore`` over HTTP, one pooled ``httpx.Client`` per store."""

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
        path = _deployment(name)
        check_model_name(model)
        environment = check_environment(environment)
        primary = check_version(primary_version)
        candidate = None if candidate_version is None else check_version(candidate_version)
        chosen, weight = check_strategy(strategy, candidate, weight)
        body = {
            "model": model,
            "environment": environment,
            "primary_version": primary,
            "candidate_version": candidate,
            "strategy": chosen.value,
            "weight": weight,
            **_who(actor, reason),
        }
        return Deployment.model_validate(self._json("PUT", path, body, idempotent=False))

    def get_deployment(self, name: str) -> Deployment:
        return Deployment.model_validate(self._json("GET", _deployment(name)))

    def list_deployments(self) -> list[Deployment]:
        data = self._json("GET", "/deployments")
        return [Deployment.model_validate(d) for d in data["deployments"]]

    def promote(self, name: str, *, actor: str = "", reason: str = "") -> Deployment:
        """The candidate becomes the primary and serves everything."""
        data = self._json("POST", f"{_deployment(name)}/promote", _who(actor, reason))
        return Deployment.model_validate(data)

    def rollback(self, name: str, *, actor: str = "", reason: str = "") -> Deployment:
        """Back to the previous primary, candidate dropped."""
        data = self._json("POST", f"{_deployment(name)}/rollback", _who(actor, reason))
        return Deployment.model_validate(data)

    def report_error(self, name: str, revision: int, error: str) -> None:
        """A service could not load ``revision``; shown on the deployment, kept in history."""
        path = f"{_deployment(name)}/errors"
        if isinstance(revision, bool) or not isinstance(revision, int):
            raise InvalidInput(f"revision must be a whole number, got {revision!r}")
        body = {"revision": revision, "error": _text(error, "error")}
        self._json("POST", path, body, idempotent=True)

    def get_history(self, name: str) -> list[DeploymentEvent]:
        data = self._json("GET", f"{_deployment(name)}/history")
        return [DeploymentEvent.model_validate(e) for e in data["history"]]


def _deployment(name: str) -> str:
    """The deployment's URL path; the name is checked first, so it cannot reshape the URL."""
    return f"/deployments/{check_deployment_name(name)}"


def _who(actor: str, reason: str) -> dict[str, str]:
    return {"actor": _text(actor, "actor"), "reason": _text(reason, "reason")}


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text, got {type(value).__name__}")
    return value


if TYPE_CHECKING:
    _conforms: type[DeploymentStore] = HttpDeploymentStore
