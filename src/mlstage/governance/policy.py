"""The data-classification policies, checked in the service layer and audited when they refuse.

Three policies, each refusing with ``PermissionDenied`` whose message names
the policy, the object, its classification and the limit it broke:

- ``max_classification``: no object may be used, copied, served, deployed
  or exported in an environment whose maximum is below its classification;
- ``download_role``: downloads and exports of objects at a level listed in
  the ``classified_download_roles`` setting need at least that role (this
  applies to signed-in callers of the server; local use, with auth off, has
  no roles and is its own administrator);
- ``allowed_executors``: pipelines in an environment use only its executors.

Every refusal is appended to the audit log, in its own transaction, with
the action ``policy.<name>``. Which environment applies: a deployment's
own (when it names an environment that was created), else the
``environment`` setting (which must exist when set); no environment means
no environment policy, as in local use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mlstage.errors import Forbidden, NotFound
from mlstage.governance import audit
from mlstage.governance.classification import Levels, download_roles
from mlstage.governance.classified import Classified, Classifier
from mlstage.governance.environments import Environment, executor_kind, find_environment

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.store.database import Database

MAX_CLASSIFICATION = "max_classification"
DOWNLOAD_ROLE = "download_role"
ALLOWED_EXECUTORS = "allowed_executors"


class PermissionDenied(Forbidden):
    """A policy refused; ``policy`` names it (the audit action is ``policy.<policy>``)."""

    def __init__(self, policy: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"refused by policy {policy}: {message}")
        self.policy = policy
        self.details = details or {}


def check_use(
    obj: Classified, environment: Environment | None, action: str, levels: Levels | None = None
) -> None:
    """Refuse to ``action`` ``obj`` in ``environment`` if its level is above the maximum."""
    if environment is None:
        return
    levels = levels or _levels()
    if levels.exceeds(obj.level, environment.max_classification):
        raise PermissionDenied(
            MAX_CLASSIFICATION,
            f"cannot {action} {obj.describe()} in environment {environment.name!r}, whose "
            f"maximum classification is {environment.max_classification}; use an environment "
            f"allowing {obj.level}, or change the classification (mlstage classify)",
            _details(obj, action, environment),
        )


def check_role(
    obj: Classified, role: str | None, action: str, settings: Settings, levels: Levels
) -> None:
    """Refuse a caller whose ``role`` is below what ``obj``'s level needs (``None``: no roles)."""
    if role is None:
        return
    from mlstage.governance.roles import allows

    for floor, needed in download_roles(settings, levels):
        if levels.at_least(obj.level, floor) and not allows(role, needed):
            raise PermissionDenied(
                DOWNLOAD_ROLE,
                f"cannot {action} {obj.describe()}: {floor} and above needs the {needed} role "
                f"(setting 'classified_download_roles'), the caller has {role}",
                _details(obj, action, None) | {"role": role, "needs": needed},
            )


def _details(obj: Classified, action: str, environment: Environment | None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "action": action,
        "object": f"{obj.kind} {obj.ref}",
        "classification": obj.level,
        "because": obj.because,
    }
    if environment is not None:
        found |= {"environment": environment.name, "max": environment.max_classification}
    return found


def _levels(settings: Settings | None = None) -> Levels:
    from mlstage.governance.classification import levels_of

    return levels_of(settings)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Policy:
    """The policies over one metadata database; refusals are audited before they raise."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], int] = _now_ms
    ) -> None:
        self.db = db
        self.settings = settings
        self.levels = Levels.from_settings(settings)
        self.clock = clock

    # -- which environment --------------------------------------------------------------

    def current(self, name: str | None = None) -> Environment | None:
        """The named environment, else the ``environment`` setting's; ``None``: no policy."""
        name = name or self.settings.environment
        if not name:
            return None
        with self.db.read() as conn:
            found = find_environment(conn, name)
        if found is None:
            raise NotFound(f"environment {name!r} (setting 'environment' or --environment) does "
                           "not exist; create it with `mlstage environments create`")  # fmt: skip
        return found

    def of_deployment(self, name: str) -> Environment | None:
        """A deployment environment's policy: ``None`` for names nobody created (dev, prod...)."""
        with self.db.read() as conn:
            return find_environment(conn, name)

    def deployment_environment(self, name: str) -> str:
        from sqlalchemy import select

        from mlstage.store import tables as t

        d = t.deployments.c
        with self.db.read() as conn:
            found = conn.execute(select(d.environment).where(d.name == name)).scalar()
        if found is None:
            raise NotFound(f"deployment {name!r} does not exist")
        return str(found)

    # -- classifications ----------------------------------------------------------------

    def classify(self, read: Callable[[Classifier], Classified]) -> Classified:
        with self.db.read() as conn:
            return read(Classifier(conn, self.levels))

    def declare(self, kind: str, ref: str, level: str, *, actor: str) -> Classified:
        """Label a dataset (name), run (id) or model version (``name/3``) with ``level``."""
        from mlstage.governance.classified import declare

        at = self.clock()
        return self.db.write(
            lambda conn: declare(conn, self.levels, kind, ref, level, actor=actor, at=at)
        )

    # -- the checks ---------------------------------------------------------------------

    def enforce(
        self,
        obj: Classified,
        environment: Environment | None,
        action: str,
        *,
        actor: str,
        role: str | None = None,
        address: str = "",
    ) -> None:
        """Both checks (the role one only for downloads and exports); audit a refusal."""
        try:
            check_use(obj, environment, action, self.levels)
            if action in ("download", "export"):
                check_role(obj, role, action, self.settings, self.levels)
        except PermissionDenied as refused:
            self.refused(refused, obj.kind, obj.ref, actor=actor, address=address)
            raise

    def refused(
        self, refused: PermissionDenied, kind: str, ref: str, *, actor: str, address: str = ""
    ) -> None:
        """Append the refusal to the audit log, in its own transaction."""
        at = self.clock()
        self.db.write(
            lambda conn: audit.record(
                conn,
                at=at,
                actor=actor or "unknown",
                action=f"policy.{refused.policy}",
                object_type=kind,
                object_id=ref,
                after=refused.details | {"message": refused.message},
                address=address,
            )
        )

    def serving(self, model: str, version: int, environment: str, *, actor: str) -> None:
        """Before a prediction service loads ``model/version`` for ``environment`` (or the
        ``environment`` setting when empty)."""
        env = self.of_deployment(environment) if environment else self.current()
        obj = self.classify(lambda c: c.model_version(model, version))
        self.enforce(obj, env, "serve", actor=actor)

    def deploy(
        self, name: str, model: str, versions: Iterable[int | None], environment: str, *, actor: str
    ) -> None:
        """Before ``deploy`` records versions of ``model`` in ``environment``."""
        env = self.of_deployment(environment)
        if env is None:
            return
        wanted = [v for v in versions if v is not None]
        obj = self.classify(lambda c: c.versions(model, wanted, "deployment", name))
        self.enforce(obj, env, "deploy", actor=actor)

    def export(
        self, model: str, version: int, environment: str | None, *, actor: str, role: str | None
    ) -> Classified:
        obj = self.classify(lambda c: c.model_version(model, version))
        self.enforce(obj, self.current(environment), "export", actor=actor, role=role)
        return obj

    def download(
        self, run_id: str, *, actor: str, role: str | None, address: str = ""
    ) -> Classified:
        """Before a run's artifact leaves the server (REST download, UI preview)."""
        obj = self.classify(lambda c: c.run_artifacts(run_id))
        self.enforce(obj, self.current(), "download", actor=actor, role=role, address=address)
        return obj

    def dataset(self, name: str, action: str, *, actor: str) -> Classified:
        obj = self.classify(lambda c: c.dataset(name))
        self.enforce(obj, self.current(), action, actor=actor)
        return obj

    def pipeline(self, pipeline: str, executor: str, *, actor: str) -> None:
        """Before a pipeline runs: the current environment must allow its executor."""
        env = self.current()
        if env is None or env.allows_executor(executor):
            return
        refused = PermissionDenied(
            ALLOWED_EXECUTORS,
            f"pipeline {pipeline!r} cannot run on executor {executor!r} in environment "
            f"{env.name!r}, which allows only {', '.join(env.executors)}",
            {"action": "run", "environment": env.name, "executor": executor_kind(executor),
             "allowed": env.executors},
        )  # fmt: skip
        self.refused(refused, "pipeline", pipeline, actor=actor)
        raise refused


def policy_for(settings: Settings | None = None) -> Policy | None:
    """The policy over the settings' database; ``None`` against a server URL (it enforces)."""
    if settings is None:
        from mlstage.config import get_settings

        settings = get_settings()
    if settings.tracking_uri.split(":", 1)[0].lower() in ("http", "https"):
        return None
    from mlstage.store.database import get_database

    db = get_database(
        settings.tracking_uri,
        busy_timeout=settings.sqlite_busy_timeout,
        synchronous=settings.sqlite_synchronous,
    )
    return Policy(db, settings)


def enforce_here(read: Callable[[Classifier], Classified], action: str = "use") -> None:
    """In an environment (the ``environment`` setting), refuse and audit an object above its
    maximum: what ``load_model`` and ``datasets.load`` ask before reading anything."""
    from mlstage.config import get_settings

    settings = get_settings()
    if not settings.environment:
        return
    policy = policy_for(settings)
    if policy is None:  # a server's own policies apply to what it hands out
        return
    import getpass

    policy.enforce(policy.classify(read), policy.current(), action, actor=getpass.getuser())


def guard_loader(
    load: Callable[[str, int], Any], target: str, settings: Settings
) -> Callable[[str, int], Any]:
    """Wrap a prediction service's loader: each version is checked before it loads.

    The environment is the deployment's (read afresh on every load, so a hot
    swap is checked too), else the ``environment`` setting for a plain model.
    A refused swap keeps the old versions serving and reports the error on
    the deployment, as any failed load does.
    """
    policy = policy_for(settings)
    if policy is None:
        return load
    deployment = target.removeprefix("deployment:") if target.startswith("deployment:") else ""

    def guarded(model: str, version: int) -> Any:
        environment = policy.deployment_environment(deployment) if deployment else ""
        assert policy is not None
        policy.serving(model, version, environment, actor=f"serve:{target}"[:100])
        return load(model, version)

    return guarded


def check_request_download(db: Database, request: Any, run_id: str) -> None:
    """For the server's routes: may this request's caller take ``run_id``'s artifacts out?

    The environment is the server's ``environment`` setting; the role is the
    signed-in caller's (none while auth is off).
    """
    settings = request.app.state.settings
    principal = getattr(request.state, "principal", None)
    role = principal.role if principal is not None and principal.authenticated else None
    actor = principal.name if principal is not None else "anonymous"
    client = request.client
    Policy(db, settings).download(
        run_id, actor=actor, role=role, address=client.host if client else ""
    )


def check_pipeline(
    pipeline: str, executor: str, params: dict[str, Any], settings: Settings
) -> None:
    """Before a pipeline run: its executor is allowed in the current environment, and the
    registered datasets its parameters name (``churn@3``) are within the environment's maximum."""
    policy = policy_for(settings)
    if policy is None or not settings.environment:
        return
    actor = f"pipeline:{pipeline}"[:100]
    policy.pipeline(pipeline, executor, actor=actor)
    for name in _dataset_params(policy, params):
        policy.dataset(name, f"use in pipeline {pipeline!r}", actor=actor)


def _dataset_params(policy: Policy, params: dict[str, Any]) -> list[str]:
    from sqlalchemy import select

    from mlstage.store import tables as t

    names = {
        value.split("@", 1)[0]
        for value in params.values()
        if isinstance(value, str) and "@" in value and "/" not in value
    }
    if not names:
        return []
    r = t.registered_datasets.c
    with policy.db.read() as conn:
        return sorted(conn.execute(select(r.name).where(r.name.in_(names))).scalars())
