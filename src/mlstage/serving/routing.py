"""Which version answers a request: a pure function of the request key and the deployment.

Every replica computes the same answer from the same record, so no replica
needs to talk to another. The bucket depends on the deployment's name and the
key only, not on its revision, so raising a canary's weight from 10 to 20
keeps the first 10 percent on the candidate: users do not flip back and forth.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mlstage.serving.deployments import Deployment, Strategy

BUCKETS = 10_000


@dataclass(frozen=True)
class Route:
    version: int
    """The version whose answer is returned."""
    arm: str
    """primary or candidate."""
    shadow: int | None = None
    """A version that also scores the request; its answer is logged, never returned."""


def bucket(deployment_name: str, key: str) -> int:
    """A stable number in [0, 10000) for the key."""
    digest = hashlib.blake2b(f"{deployment_name}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def route(deployment: Deployment, key: str) -> Route:
    primary = Route(deployment.primary_version, "primary")
    candidate = deployment.candidate_version
    if candidate is None or deployment.strategy in (Strategy.SINGLE, Strategy.BLUE_GREEN):
        return primary
    if deployment.strategy is Strategy.SHADOW:
        return Route(deployment.primary_version, "primary", shadow=candidate)
    if bucket(deployment.name, key) < deployment.weight * BUCKETS / 100:
        return Route(candidate, "candidate")
    return primary
