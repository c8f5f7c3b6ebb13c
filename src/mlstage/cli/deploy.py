"""``mlstage deploy`` and ``mlstage deployments``: release strategies from the command line.

``mlstage deploy churn --env prod`` puts ``churn@champion`` in front of
production as deployment ``churn-prod``; ``--strategy canary --candidate
churn@challenger --weight 10`` lets a candidate answer a share of requests;
``--promote`` and ``--rollback`` switch in one step. Everything the command
line says is checked before anything is read or written, so a typo costs a
second and never leaves half a change. Every change goes through the
``DeploymentStore`` service (database or server alike) and is recorded in
the deployment's history with who and why. Heavy modules load inside the
commands: ``mlstage --help`` stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.cli._console import console, print_json, text
from mlstage.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from mlstage.models.entities import ModelVersion
    from mlstage.models.store import RegistryStore
    from mlstage.models.uri import RegistryRef
    from mlstage.serving.deployments import Deployment, DeploymentStore

# Merged into the root command (added without a name): holds ``deploy`` and ``deployments``.
from mlstage.cli.deploy_view import (
    WEIGHTED,
    deployments_table,
    history_table,
    record_fields,
    render_deployment,
    serving_text,
    summary,
    traffic,
)

app = typer.Typer()
records = typer.Typer(
    help="List deployments and show their traffic split, last error and history.",
    no_args_is_help=True,
)
app.add_typer(records, name="deployments")

DEFAULT_ALIAS = "champion"
STRATEGIES = ("single", "canary", "ab", "shadow", "blue-green")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DeploymentName = Annotated[
    str, typer.Argument(metavar="NAME", help="A deployment's name, e.g. churn-prod.")
]


def deployment_store() -> DeploymentStore:
    from mlstage.serving.deployments import get_deployment_store

    return get_deployment_store()


# -- mlstage deploy -------------------------------------------------------------------------------


@app.command("deploy")
def deploy(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A registered model's name.")],
    env: Annotated[
        str,
        typer.Option("--env", metavar="ENV", help="The environment: dev, staging, prod, ..."),
    ],
    version: Annotated[
        str | None,
        typer.Option("--version", metavar="N", help="The primary version (default: @champion)."),
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option(
            "--model-version",
            metavar="REF",
            help="The primary as NAME@ALIAS or NAME/VERSION (e.g. churn@stable).",
        ),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            metavar="STRATEGY",
            help="How the candidate gets traffic: canary, ab (sticky by request key), shadow "
            "(mirrored, never returned) or blue-green (ready beside the primary).",
        ),
    ] = None,
    candidate: Annotated[
        str | None,
        typer.Option(
            "--candidate",
            metavar="REF",
            help="The candidate as NAME@ALIAS or NAME/VERSION (e.g. churn@challenger).",
        ),
    ] = None,
    weight: Annotated[
        str | None,
        typer.Option(
            "--weight",
            metavar="PERCENT",
            help="Percent of requests the candidate answers (canary and ab only).",
        ),
    ] = None,
    promote: Annotated[
        bool, typer.Option("--promote", help="Make the candidate the primary, all at once.")
    ] = False,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Go back to the previous primary, all at once.")
    ] = False,
    reason: Annotated[str, typer.Option(help="Why; kept in the deployment's history.")] = "",
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="The deployment's name (default: MODEL-ENV)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy MODEL to an environment, release a candidate, promote it or roll back.

    The primary is --version or --model-version if given; otherwise, when a
    candidate joins a running deployment, the version serving now; otherwise
    MODEL@champion. The deployment is named MODEL-ENV unless --name says.
    """
    request = _parse(
        model, env, name, version, model_version, strategy, candidate, weight, promote, rollback
    )
    store = deployment_store()
    if request.action is None:
        deployment, before = _set_record(store, request, reason)
    else:
        deployment, before = _switch(store, request, reason)
    if as_json:
        print_json(deployment.model_dump(mode="json"))
        return
    out = console()
    out.print(text(summary(deployment), "bold green"))
    out.print(text(_change_note(deployment, before, request)))


@dataclass(frozen=True)
class _Request:
    """What the command line asked for, every part checked."""

    model: str
    environment: str
    name: str
    action: str | None = None
    """promote or rollback; None to set the record."""
    primary: RegistryRef | None = None
    """None for the default: the version serving now, or @champion."""
    strategy: str = "single"
    candidate: RegistryRef | None = None
    weight: float = 0.0


def _parse(
    model: str,
    env: str,
    name: str | None,
    version: str | None,
    model_version: str | None,
    strategy: str | None,
    candidate: str | None,
    weight: str | None,
    promote: bool,
    rollback: bool,
) -> _Request:
    """The request, or ``InvalidInput`` naming the option at fault; nothing is read yet."""
    from mlstage.cli.models_args import model_name
    from mlstage.models.names import check_version
    from mlstage.models.uri import RegistryRef
    from mlstage.serving.deployments import check_deployment_name, check_environment

    model = model_name(model)
    environment = check_environment(env)
    if name is None:
        name = f"{model}-{environment}".lower()
        try:
            check_deployment_name(name)
        except InvalidInput as exc:
            raise InvalidInput(f"{exc.message}; choose a name with --name") from None
    else:
        check_deployment_name(name)
    given = {
        "--version": version,
        "--model-version": model_version,
        "--strategy": strategy,
        "--candidate": candidate,
        "--weight": weight,
    }
    if promote or rollback:
        if promote and rollback:
            raise InvalidInput("give --promote or --rollback, not both")
        action = "promote" if promote else "rollback"
        extra = [option for option, value in given.items() if value is not None]
        if extra:
            raise InvalidInput(
                f"--{action} switches the deployment as it is and takes no {', '.join(extra)}; "
                "to change the record, run mlstage deploy without it"
            )
        return _Request(model, environment, name, action=action)
    if version is not None and model_version is not None:
        raise InvalidInput("give the primary as --version or --model-version, not both")
    primary = None
    if version is not None:
        try:
            primary = RegistryRef(model, version=check_version(version))
        except InvalidInput:
            raise InvalidInput(
                f"--version must be a whole number from 1, got {version!r}"
            ) from None
    elif model_version is not None:
        primary = _ref(model, model_version, "--model-version")
    chosen, share = _strategy(strategy, candidate, weight)
    picked = None if candidate is None else _ref(model, candidate, "--candidate")
    return _Request(model, environment, name, None, primary, chosen, picked, share)


def _strategy(strategy: str | None, candidate: str | None, weight: str | None) -> tuple[str, float]:
    """The strategy and weight, refusing options that do not go together."""
    choices = ", ".join(STRATEGIES[1:])
    if strategy is None:
        if candidate is not None:
            raise InvalidInput(f"--candidate needs --strategy ({choices})")
        if weight is not None:
            raise InvalidInput(f"--weight needs --strategy {' or '.join(WEIGHTED)} and --candidate")
        return "single", 0.0
    if strategy not in STRATEGIES:
        raise InvalidInput(f"--strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if strategy == "single":
        if candidate is not None or weight is not None:
            raise InvalidInput(f"--strategy single takes no candidate; choose one of {choices}")
        return strategy, 0.0
    if candidate is None:
        raise InvalidInput(
            f"--strategy {strategy} needs --candidate NAME@ALIAS or NAME/VERSION "
            "(e.g. churn@challenger)"
        )
    if strategy not in WEIGHTED:
        if weight is not None:
            raise InvalidInput(
                f"--weight applies to {' and '.join(WEIGHTED)} only; {strategy} sends the "
                "candidate no answered traffic"
            )
        return strategy, 0.0
    if weight is None:
        raise InvalidInput(
            f"--strategy {strategy} needs --weight PERCENT, the share of requests the "
            "candidate answers (e.g. --weight 10)"
        )
    try:
        share = float(weight.strip().removesuffix("%"))
    except ValueError:
        raise InvalidInput(f"--weight {weight!r} is not a number") from None
    if not 0 < share < 100:
        raise InvalidInput(f"--weight must be a percentage between 0 and 100, got {weight!r}")
    return strategy, share


def _ref(model: str, value: str, option: str) -> RegistryRef:
    """A version of ``model`` as NAME@ALIAS or NAME/VERSION."""
    from mlstage.cli.models_args import registry_ref

    ref = registry_ref(value, option)
    if ref.name != model:
        raise InvalidInput(
            f"{option} {value!r} is a version of model {ref.name!r}; this deploys {model!r}"
        )
    if ref.alias is None and ref.version is None:
        raise InvalidInput(f"{option} {value!r}: name a version or an alias, not latest")
    return ref


def _set_record(
    store: DeploymentStore, request: _Request, reason: str
) -> tuple[Deployment, Deployment | None]:
    """Create or change the record; returns it and the record it replaced."""
    from mlstage.cli.models import find_model, registry
    from mlstage.models.uri import RegistryRef

    registry_store = registry()
    found = find_model(registry_store, request.model)
    before = _current(store, request.name)
    if before is not None and before.model != found.name:
        raise Conflict(
            f"deployment {request.name!r} serves model {before.model!r}, not {found.name!r}; "
            "choose another name with --name"
        )
    if request.primary is not None:
        primary = _resolve(registry_store, request.primary).version
    elif before is not None and request.candidate is not None:
        primary = before.primary_version  # a candidate joins what serves now
    else:
        primary = _resolve(registry_store, RegistryRef(found.name, alias=DEFAULT_ALIAS)).version
    candidate = None
    if request.candidate is not None:
        candidate = _resolve(registry_store, request.candidate).version
        if candidate == primary:
            raise InvalidInput(
                f"--candidate {_label(request.candidate)} is version {candidate}, the primary "
                "already; pick another version"
            )
    deployment = store.deploy(
        request.name,
        found.name,
        request.environment,
        primary,
        candidate_version=candidate,
        strategy=request.strategy,
        weight=request.weight,
        actor=_user(),
        reason=reason,
    )
    return deployment, before


def _switch(
    store: DeploymentStore, request: _Request, reason: str
) -> tuple[Deployment, Deployment | None]:
    """Promote or roll back the deployment as it stands."""
    before = _current(store, request.name)
    if before is None:
        raise NotFound(
            f"deployment {request.name!r} does not exist; deploy it first: "
            f"mlstage deploy {request.model} --env {request.environment}"
        )
    if before.model != request.model:
        raise Conflict(
            f"deployment {request.name!r} serves model {before.model!r}, not {request.model!r}"
        )
    switch = store.promote if request.action == "promote" else store.rollback
    return switch(request.name, actor=_user(), reason=reason), before


def _current(store: DeploymentStore, name: str) -> Deployment | None:
    try:
        return store.get_deployment(name)
    except NotFound:
        return None


def _resolve(registry_store: RegistryStore, ref: RegistryRef) -> ModelVersion:
    """The version a reference points at, with a hint when an alias is not set."""
    try:
        return registry_store.resolve(ref)
    except NotFound as exc:
        if ref.alias is None:
            raise
        if ref.alias == DEFAULT_ALIAS:
            hint = (
                f"promote a version first (mlstage models promote {ref.name}/<version>), "
                "or pick the primary with --version N"
            )
        else:
            hint = f"set it with mlstage models alias {ref.name}/<version> {ref.alias}"
        raise NotFound(f"{exc.message}; {hint}") from None


def _label(ref: RegistryRef) -> str:
    return f"{ref.name}@{ref.alias}" if ref.alias is not None else f"{ref.name}/{ref.version}"


def _user() -> str:
    """Who ran the command, for the history (the server records its principal instead)."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "")


# -- mlstage deployments ---------------------------------------------------------------------------


@records.command("list")
def list_deployments(as_json: JsonOption = False) -> None:
    """List deployments: model, environment, what serves and how, last change."""
    deployments = deployment_store().list_deployments()
    if as_json:
        print_json([d.model_dump(mode="json") for d in deployments])
        return
    out = console()
    if not deployments:
        out.print(text("No deployments yet: mlstage deploy MODEL --env ENV"))
        return
    out.print(deployments_table(deployments))


@records.command("show")
def show_deployment(name: DeploymentName, as_json: JsonOption = False) -> None:
    """Show a deployment: its record, traffic split, last load error and history."""
    store = deployment_store()
    deployment = _find(store, name)
    history = store.get_history(deployment.name)
    if as_json:
        data = deployment.model_dump(mode="json")
        data["traffic"] = traffic(deployment)
        data["history"] = [e.model_dump(mode="json") for e in history]
        print_json(data)
        return
    render_deployment(console(), deployment, history)


@records.command("history")
def deployment_history(name: DeploymentName, as_json: JsonOption = False) -> None:
    """Every revision of a deployment: what changed, who changed it, when and why."""
    store = deployment_store()
    history = store.get_history(_find(store, name).name)
    if as_json:
        print_json([e.model_dump(mode="json") for e in history])
        return
    console().print(history_table(history))


def _find(store: DeploymentStore, name: str) -> Deployment:
    try:
        return store.get_deployment(name)
    except NotFound as exc:
        raise NotFound(f"{exc.message}; see `mlstage deployments list`") from None


# -- how deployments read -------------------------------------------------------------------------


def _change_note(deployment: Deployment, before: Deployment | None, request: _Request) -> str:
    env = f"--env {deployment.environment}"
    if request.action == "promote":
        return (
            f"Promoted v{deployment.primary_version} (was v{deployment.previous_version}) in "
            f"{deployment.environment}; undo with: mlstage deploy {request.model} {env} --rollback"
        )
    if request.action == "rollback":
        return (
            f"Rolled back to v{deployment.primary_version} (from v{deployment.previous_version}) "
            f"in {deployment.environment}."
        )
    if before is None:
        return f"Created: serves model {deployment.model} in {deployment.environment}."
    return f"Updated; was: {serving_text(record_fields(before))}."
