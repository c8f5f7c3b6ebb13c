"""``mlstage environments create|list|show``, ``mlstage classify`` and ``mlstage models export``.

Like ``users`` and ``tokens``, they work on the metadata database directly
(refused against a server URL): environments and classifications are
governance, set where the database is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.cli._console import console, fmt_time, print_json, text

if TYPE_CHECKING:
    from mlstage.governance.environments import Environment, EnvironmentStore
    from mlstage.governance.policy import Policy

app = typer.Typer(
    help="Environments and the highest data classification each may hold.", no_args_is_help=True
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def register(root: typer.Typer) -> None:
    """Add ``environments``, ``classify`` and ``models export`` to the ``mlstage`` command."""
    from mlstage.cli import models

    root.add_typer(app, name="environments")
    root.command("classify")(classify)
    models.app.command("export")(export)


def _policy() -> Policy:
    from mlstage.cli._governance import governance_store
    from mlstage.config import get_settings
    from mlstage.governance.policy import Policy

    return Policy(governance_store().db, get_settings())  # refuses a server URL


def _store() -> EnvironmentStore:
    from mlstage.governance.environments import EnvironmentStore

    policy = _policy()
    return EnvironmentStore(policy.db, policy.levels)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="dev, staging, prod, restricted, ...")],
    max_classification: Annotated[
        str,
        typer.Option("--max", metavar="LEVEL", help="The highest classification it may hold."),
    ],
    artifact_root: Annotated[
        str, typer.Option(metavar="PATH", help="Its own artifact root (folder or s3://).")
    ] = "",
    database: Annotated[
        str, typer.Option(metavar="URL", help="Its own database URL or schema name.")
    ] = "",
    executor: Annotated[
        list[str] | None,
        typer.Option(
            "--executor", metavar="NAME", help="An executor pipelines may use (repeat); none: any."
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="Change an existing one.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create an environment with a maximum data classification."""
    from mlstage.cli._governance import actor
    from mlstage.config import get_settings
    from mlstage.errors import Conflict
    from mlstage.governance.environment_storage import database_url, provision

    settings = get_settings()
    store = _store()
    if database:
        database_url(settings.tracking_uri, database)  # a bad URL or schema: refused first
    if not replace and store.find(name) is not None:
        raise Conflict(f"environment {name!r} exists; change it with --replace")
    found = store.create(
        name,
        max_classification,
        artifact_root=artifact_root,
        database=database,
        executors=executor or [],
        description=description,
        actor=actor(),
        replace=replace,
    )
    own = provision(settings, found)  # its own database, migrated, with its record
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    console().print(text(f"Environment {found.name!r}: up to {found.max_classification}, "
                         f"executors {', '.join(found.executors) or 'any'}."))  # fmt: skip
    if own or found.artifact_root:
        parts = [f"database {own}" if own else "", f"artifacts {found.artifact_root}"]
        where = ", ".join(part for part in parts if part and not part.endswith("artifacts "))
        console().print(text(f"Its data stays apart: {where} (with MLSTAGE_ENVIRONMENT={name})."))


@app.command("list")
def list_environments(as_json: JsonOption = False) -> None:
    """List environments with their maximum classification and executors."""
    from rich.table import Table

    found = _store().list()
    if as_json:
        print_json([e.model_dump(mode="json") for e in found])
        return
    if not found:
        console().print("No environments: `mlstage environments create NAME --max LEVEL`.")
        return
    table = Table(header_style="bold")
    for column in ("name", "max", "executors", "artifact root", "database", "description"):
        table.add_column(column)
    for env in found:
        table.add_row(
            *(text(v) for v in (env.name, env.max_classification, ", ".join(env.executors) or
                                "any", env.artifact_root, env.database, env.description))
        )  # fmt: skip
    console().print(table)


@app.command("show")
def show(name: str, as_json: JsonOption = False) -> None:
    """One environment, in full."""
    found = _store().get(name)
    if as_json:
        print_json(found.model_dump(mode="json"))
        return
    _print(found)


def _print(env: Environment) -> None:
    out = console()
    out.print(text(f"{env.name}: up to {env.max_classification}", "bold"))
    for label, value in (
        ("executors", ", ".join(env.executors) or "any"),
        ("artifact root", env.artifact_root or "the project's"),
        ("database", env.database or "the project's"),
        ("description", env.description),
        ("updated", f"{fmt_time(env.updated_at)} by {env.updated_by}"),
    ):
        out.print(text(f"  {label}: {value}"))


def classify(
    kind: Annotated[str, typer.Argument(help="dataset, run, model or deployment.")],
    ref: Annotated[str, typer.Argument(help="Dataset name, run id, churn/3 or churn@champion.")],
    level: Annotated[
        str | None, typer.Argument(help="The level to declare; leave out to show the level.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Declare an object's data classification, or show it and where it comes from."""
    from mlstage.cli._governance import actor
    from mlstage.governance.classified import Classified, Classifier

    policy = _policy()
    ref = _model_ref(ref) if kind == "model" else ref
    if level is not None:
        found = policy.declare(kind, ref, level, actor=actor())
    else:

        def read(c: Classifier) -> Classified:
            if kind == "deployment":
                return c.deployment(ref)
            if kind == "model":
                name, _, version = ref.rpartition("/")
                return c.model_version(name, int(version))
            if kind == "run":
                return c.run(ref)
            if kind == "dataset":
                return c.dataset(ref)
            from mlstage.errors import InvalidInput

            raise InvalidInput(f"kind {kind!r} is not one of dataset, run, model, deployment")

        found = policy.classify(read)
    if as_json:
        print_json({"kind": found.kind, "ref": found.ref, "classification": found.level,
                    "because": found.because})  # fmt: skip
        return
    console().print(text(found.describe().replace(" is ", " is classified ", 1)))


def _model_ref(ref: str) -> str:
    """``churn@champion``, ``churn/3`` or ``models:/...`` as ``name/version``."""
    from mlstage.models.api import get_registry_store
    from mlstage.models.uri import RegistryRef, parse_model_uri

    parsed = parse_model_uri(ref if ref.startswith("models:/") else f"models:/{ref}")
    assert isinstance(parsed, RegistryRef)
    version = get_registry_store().resolve(parsed)
    return f"{version.name}/{version.version}"


def export(
    model_uri: Annotated[str, typer.Argument(help="churn@champion, churn/3 or models:/...")],
    to: Annotated[str, typer.Option("--to", metavar="DIR", help="A new or empty folder.")],
    environment: Annotated[
        str | None,
        typer.Option(
            "--environment", metavar="NAME", help="Where it goes; default: the environment setting."
        ),
    ] = None,
) -> None:
    """Copy a registered version's checked files to a folder (classification policies apply)."""
    from mlstage.cli._governance import actor
    from mlstage.governance.export import export_model

    done = export_model(model_uri, to, environment=environment, actor=actor())
    level = f" ({done.classification})" if done.classification else ""
    console().print(text(f"Exported {done.model}/{done.version}{level}: {len(done.files)} files "
                         f"to {done.folder}"))  # fmt: skip
