"""Automated retraining of a deployment, one recorded step at a time.

    triggered -> training -> validated | rejected | failed
    validated -> canary | shadow -> [awaiting_approval] -> promoted | rolled_back

A fired trigger claims a retraining (``sql_retraining``). ``train`` runs the
deployment's training pipeline, finds the version it registered and that
version's verdict from the validation gate (``validate_against_champion``):
VALIDATED goes on, REJECTED (or no verdict) stops, a run that registered
nothing failed. ``release`` points ``challenger`` at the candidate and deploys
it beside the primary by the release policy. ``judge`` asks
``release.judge_canary`` each tick: roll back when the candidate is worse,
promote (deployment primary and ``champion`` alias) once it held for the
window, or wait for ``approve`` / ``reject`` with ``approval: manual``.

Every step is one row in ``retraining_events`` with its time, actor and the
trigger behind it. Read them with ``list_retrainings``, ``get_retraining``,
``events`` and ``deployment_events``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstage.errors import MlstageError
from mlstage.monitoring.sql_retraining import (
    ACTIVE_STATES,
    RELEASED_STATES,
    STATES,
    TERMINAL_STATES,
    Retraining,
    SqlRetrainingStore,
    Transition,
)

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.serving.deployments import Deployment
    from mlstage.store.database import Database

__all__ = [
    "ACTIVE_STATES",
    "STATES",
    "TERMINAL_STATES",
    "Retraining",
    "RunPipeline",
    "TrainingRun",
    "Transition",
    "approve",
    "deployment_events",
    "events",
    "get_retraining",
    "list_retrainings",
    "reject",
    "run_in_process",
]

SCHEDULER = "scheduler"


@dataclass(frozen=True)
class TrainingRun:
    """How the training pipeline ended."""

    run_id: str | None
    succeeded: bool
    error: str = ""


RunPipeline = Callable[[str, dict[str, Any]], TrainingRun]
"""(pipeline target ``FILE.py:NAME``, params) -> the run; the pipeline registers the candidate."""


def run_in_process(target: str, params: dict[str, Any]) -> TrainingRun:
    """Run the pipeline here, on the local executor, through the pipelines runner."""
    from mlstage.pipelines.entities import PipelineStatus
    from mlstage.pipelines.loading import load_target
    from mlstage.pipelines.runner import run_pipeline

    try:
        run = run_pipeline(load_target(target), params, "local")
    except MlstageError as exc:
        return TrainingRun(None, False, exc.message)
    except Exception as exc:  # the user's file: a syntax error, a failing import
        return TrainingRun(None, False, f"{type(exc).__name__}: {exc}")
    return TrainingRun(run.run_id, run.status == PipelineStatus.SUCCEEDED, run.error)


# -- reads -------------------------------------------------------------------------------------


def list_retrainings(
    db: Database, deployment: str | None = None, *, limit: int = 100
) -> list[Retraining]:
    """Retrainings (of one deployment, or all), newest first."""
    return SqlRetrainingStore(db).find(deployment, limit=limit)


def get_retraining(db: Database, retraining_id: int) -> Retraining:
    return SqlRetrainingStore(db).get(retraining_id)


def events(db: Database, retraining_id: int) -> list[Transition]:
    """Every transition of a retraining, oldest first."""
    store = SqlRetrainingStore(db)
    store.get(retraining_id)  # NotFound for an unknown id
    return store.events(retraining_id)


def deployment_events(db: Database, deployment: str, *, limit: int = 500) -> list[Transition]:
    """The trigger and retraining history of a deployment, newest first."""
    return SqlRetrainingStore(db).deployment_events(deployment, limit=limit)


# -- steps -------------------------------------------------------------------------------------


class Steps:
    """The work of each state, over one database; ``now`` is the loop's (maybe simulated) time."""

    def __init__(self, db: Database, settings: Settings, *, actor: str = SCHEDULER) -> None:
        from mlstage.models.api import get_registry_store
        from mlstage.serving.sql_deployments import SqlDeploymentStore

        self.db = db
        self.settings = settings
        self.actor = actor
        self.store = SqlRetrainingStore(db)
        self.registry = get_registry_store(settings.tracking_uri)
        self.deployments = SqlDeploymentStore(db)

    def train(self, r: Retraining, run_pipeline: RunPipeline, now: int) -> Retraining:
        """Run the pipeline and settle the candidate: validated, rejected or failed."""
        before = self._latest_version(r.model)
        r = self.store.move(
            r.retraining_id,
            {"triggered"},
            "training",
            actor=self.actor,
            now=now,
            details={"pipeline": r.pipeline, "params": r.params, "latest_version": before},
        )
        try:
            run = run_pipeline(r.pipeline, dict(r.params))
        except Exception as exc:  # a runner that raises: the retraining failed, not the loop
            run = TrainingRun(None, False, f"{type(exc).__name__}: {exc}")
        versions = [v for v in self.registry.list_model_versions(r.model) if v.version > before]
        found = max(versions, key=lambda v: v.version) if versions else None
        run_id = run.run_id[:32] if run.run_id else None
        values: dict[str, Any] = {"pipeline_run_id": run_id}
        details: dict[str, Any] = {"pipeline_run_id": run_id, "error": run.error or None}
        if found is None:
            why = run.error or f"the pipeline registered no new version of {r.model!r}"
            state = "failed"
        else:
            values["candidate_version"] = found.version
            details.update(candidate_version=found.version, status=found.status.value)
            verdict = found.validation or {}
            details["verdict"] = {k: verdict.get(k) for k in ("passed", "champion_version")}
            state, why = _verdict(found.status.value, verdict, found.version, run)
        return self.store.move(
            r.retraining_id,
            {"training"},
            state,
            actor=self.actor,
            now=now,
            reason=why,
            details=details,
            **values,
        )

    def release(self, r: Retraining, now: int) -> Retraining:
        """``challenger`` -> the candidate; the deployment serves it beside the primary."""
        from mlstage.monitoring.release import ReleasePolicy

        policy = ReleasePolicy.parse(r.release)
        assert r.candidate_version is not None
        deployment = self.deployments.get_deployment(r.deployment)
        why = f"retraining {r.retraining_id} ({r.trigger}): {r.model}/{r.candidate_version}"
        self.registry.set_alias(r.model, "challenger", r.candidate_version, self.actor, why)
        self.deployments.deploy(
            deployment.name,
            deployment.model,
            deployment.environment,
            deployment.primary_version,
            candidate_version=r.candidate_version,
            strategy=policy.strategy,
            weight=policy.weight,
            actor=self.actor,
            reason=why,
        )
        share = f"{policy.weight:g}% of requests" if policy.strategy == "canary" else "a copy"
        return self.store.move(
            r.retraining_id,
            {"validated"},
            policy.strategy,
            actor=self.actor,
            now=now,
            reason=f"{r.model}/{r.candidate_version} gets {share} for {policy.window}",
            details={
                "policy": policy.model_dump(mode="json"),
                "primary": deployment.primary_version,
            },
            release_started_at=now,
        )

    def judge(self, r: Retraining, now: int) -> Retraining:
        """One look at the canary: hold, promote, wait for approval, or roll back."""
        from mlstage.artifacts.store import get_artifact_store
        from mlstage.monitoring.release import ReleasePolicy, judge_canary

        deployment = self.deployments.get_deployment(r.deployment)
        if deployment.candidate_version != r.candidate_version:
            return self._changed_by_hand(r, deployment, now)
        policy = ReleasePolicy.parse(r.release)
        artifacts = get_artifact_store(self.settings.artifact_root, self.settings.s3_endpoint_url)
        since = r.release_started_at if r.release_started_at is not None else r.updated_at
        decision = judge_canary(self.db, artifacts, deployment, policy, since, now)
        found = decision.model_dump(mode="json")
        reasons = "; ".join(decision.reasons)
        if decision.action == "rollback":
            return self._roll_back(r, deployment, now, self.actor, reasons, found)
        if decision.action == "promote":
            return self._promote(r, now, self.actor, reasons, found)
        if decision.figures.get("ready") and r.state != "awaiting_approval":
            return self.store.move(
                r.retraining_id,
                RELEASED_STATES,
                "awaiting_approval",
                actor=self.actor,
                now=now,
                reason=reasons,
                details={"decision": found},
                decision=found,
            )
        self.store.note(r.retraining_id, decision=found)
        return self.store.get(r.retraining_id)

    def _promote(
        self, r: Retraining, now: int, actor: str, reason: str, decision: dict[str, Any] | None
    ) -> Retraining:
        assert r.candidate_version is not None
        why = f"retraining {r.retraining_id}: {reason}"[:2000]
        self.deployments.promote(r.deployment, actor=actor, reason=why)
        self.registry.set_alias(r.model, "champion", r.candidate_version, actor, why)
        if self.registry.get_registered_model(r.model).aliases.get("challenger") == (
            r.candidate_version
        ):  # the challenger won: the alias waits for the next one
            self.registry.delete_alias(r.model, "challenger", actor, why)
        extra = {} if decision is None else {"decision": decision}
        return self.store.move(
            r.retraining_id,
            RELEASED_STATES,
            "promoted",
            actor=actor,
            now=now,
            reason=reason,
            details={"champion": r.candidate_version, "previous": r.champion_version, **extra},
            **extra,
        )

    def _roll_back(
        self,
        r: Retraining,
        deployment: Deployment,
        now: int,
        actor: str,
        reason: str,
        decision: dict[str, Any] | None,
    ) -> Retraining:
        why = f"retraining {r.retraining_id} rolled back: {reason}"[:2000]
        if deployment.candidate_version == r.candidate_version:
            # drop the candidate, keep the primary: a canary's rollback
            self.deployments.deploy(
                deployment.name,
                deployment.model,
                deployment.environment,
                deployment.primary_version,
                actor=actor,
                reason=why,
            )
        extra = {} if decision is None else {"decision": decision}
        return self.store.move(
            r.retraining_id,
            RELEASED_STATES,
            "rolled_back",
            actor=actor,
            now=now,
            reason=reason,
            details={
                "primary": deployment.primary_version,
                "candidate": r.candidate_version,
                **extra,
            },
            **extra,
        )

    def _changed_by_hand(self, r: Retraining, deployment: Deployment, now: int) -> Retraining:
        if deployment.primary_version == r.candidate_version:
            reason = f"{r.model}/{r.candidate_version} was promoted outside the loop"
            state = "promoted"
        else:
            reason = f"the candidate {r.model}/{r.candidate_version} left the deployment by hand"
            state = "rolled_back"
        return self.store.move(
            r.retraining_id, RELEASED_STATES, state, actor=self.actor, now=now, reason=reason
        )

    def _latest_version(self, model: str) -> int:
        versions = self.registry.list_model_versions(model)
        return max((v.version for v in versions), default=0)


def _verdict(
    status: str, verdict: dict[str, Any], version: int, run: TrainingRun
) -> tuple[str, str]:
    if status == "VALIDATED":
        return "validated", f"version {version} passed the validation gate"
    if status == "REJECTED":
        failures = [r for r in verdict.get("reasons", []) if str(r).endswith(": FAIL")]
        return "rejected", f"version {version} failed the validation gate: " + (
            "; ".join(failures) or run.error or "see its verdict"
        )
    if not run.succeeded:
        return "failed", run.error or f"the pipeline failed after registering version {version}"
    return "rejected", (
        f"version {version} has no validation verdict: add validate_against_champion to the "
        "pipeline (only validated versions are released)"
    )


# -- a maintainer's decision -------------------------------------------------------------------


def approve(
    db: Database,
    retraining_id: int,
    *,
    actor: str,
    reason: str = "",
    now_ms: int | None = None,
    settings: Settings | None = None,
) -> Retraining:
    """Promote a candidate that waits for approval; the deployment and ``champion`` follow."""
    from mlstage.config import get_settings
    from mlstage.errors import Conflict
    from mlstage.tracking.sql_store import now_ms as clock

    steps = Steps(db, settings or get_settings(), actor=actor)
    r = steps.store.get(retraining_id)
    if r.state != "awaiting_approval":
        raise Conflict(
            f"retraining {retraining_id} is {r.state}: only one awaiting_approval can be approved"
        )
    now = clock() if now_ms is None else now_ms
    return steps._promote(r, now, actor, reason or f"approved by {actor}", None)


def reject(
    db: Database,
    retraining_id: int,
    *,
    actor: str,
    reason: str,
    now_ms: int | None = None,
    settings: Settings | None = None,
) -> Retraining:
    """Take a released candidate out of the deployment; the primary keeps serving."""
    from mlstage.config import get_settings
    from mlstage.errors import Conflict, InvalidInput
    from mlstage.tracking.sql_store import now_ms as clock

    if not reason.strip():
        raise InvalidInput("reason: say why the candidate is rejected; it is kept in the history")
    steps = Steps(db, settings or get_settings(), actor=actor)
    r = steps.store.get(retraining_id)
    if r.state not in RELEASED_STATES:
        raise Conflict(
            f"retraining {retraining_id} is {r.state}: only a candidate in canary, shadow or "
            "awaiting_approval can be rejected"
        )
    deployment = steps.deployments.get_deployment(r.deployment)
    now = clock() if now_ms is None else now_ms
    return steps._roll_back(r, deployment, now, actor, f"rejected by {actor}: {reason}", None)
