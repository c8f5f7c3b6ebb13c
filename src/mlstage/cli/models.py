"""``mlstage models``: the registry from the command line.

Models are addressed as on the rest of the platform: ``churn/3``,
``churn@champion`` or ``models:/churn/3``. Every command goes through the
registry service (``RegistryStore`` and ``mlstage.models``), so it works the
same on SQLite, PostgreSQL or a remote server. Heavy modules (pandas,
scikit-learn, the registry) load inside the commands: ``mlstage --help``
stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.cli import models_eval
from mlstage.cli._console import console, print_json, text
from mlstage.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from mlstage.models.entities import RegisteredModel
    from mlstage.models.store import RegistryStore

app = typer.Typer(help="Register, validate, promote and document models.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Name = Annotated[str, typer.Argument(metavar="NAME", help="A registered model's name.")]
Address = Annotated[
    str,
    typer.Argument(
        metavar="NAME/VERSION",
        help="A model version: churn/3, churn@champion or models:/churn/3.",
    ),
]


def registry() -> RegistryStore:
    from mlstage.models.api import get_registry_store

    return get_registry_store()


def find_model(store: RegistryStore, name: str) -> RegisteredModel:
    """The model, or an error that says where to look for the names."""
    from mlstage.cli.models_args import model_name

    try:
        return store.get_registered_model(model_name(name))
    except NotFound as exc:
        raise NotFound(f"{exc.message}; see `mlstage models list`") from None


@app.command("list")
def list_models(as_json: JsonOption = False) -> None:
    """List registered models: latest version, aliases, owner, description."""
    from mlstage.cli.models_view import models_table

    models = registry().list_registered_models()
    if as_json:
        print_json([m.model_dump(mode="json") for m in models])
        return
    out = console()
    if not models:
        out.print("No registered models yet: run `mlstage demo`, or `mlstage models register`.")
        return
    out.print(models_table(models))


@app.command("show")
def show_model(
    model: Annotated[
        str,
        typer.Argument(
            metavar="NAME[/VERSION]",
            help="A model (churn), or one version of it (churn/3, churn@champion).",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Show a model and its versions, or one version with its validation reasons."""
    from mlstage.cli.models_args import resolve_version
    from mlstage.cli.models_view import render_model, render_version

    store = registry()
    if "/" in model.removeprefix("models:/") or "@" in model:
        version = resolve_version(store, model)
        if as_json:
            print_json(version.model_dump(mode="json"))
        else:
            render_version(console(), version)
        return
    found = find_model(store, model)
    versions = store.list_model_versions(found.name)
    if as_json:
        data = found.model_dump(mode="json")
        print_json({**data, "versions": [v.model_dump(mode="json") for v in versions]})
        return
    render_model(console(), found, versions)


@app.command("versions")
def list_versions(name: Name, as_json: JsonOption = False) -> None:
    """List a model's versions: status, aliases, source run, who registered them and when."""
    from mlstage.cli.models_view import versions_table

    store = registry()
    found = find_model(store, name)
    versions = store.list_model_versions(found.name)
    if as_json:
        print_json([v.model_dump(mode="json") for v in versions])
        return
    console().print(versions_table(versions, title=f"Model {found.name}"))


@app.command("register")
def register(
    source: Annotated[
        str,
        typer.Argument(
            metavar="RUN_OR_MODEL_URI",
            help="runs:/<run id>/<path>, or a run id for runs:/<run id>/model.",
        ),
    ],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The registered model's name.")],
    description: Annotated[
        str,
        typer.Option(help="What this version is; the model's too if it has none yet."),
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Register a model a run logged as the next version of NAME (created if new)."""
    from mlstage.cli.models_args import source_uri
    from mlstage.models.api import register_model
    from mlstage.models.names import check_model_name

    uri = source_uri(source)
    mv = register_model(uri, check_model_name(name), description=description)
    store = registry()
    if description and not store.get_registered_model(mv.name).description:
        store.update_registered_model(mv.name, description=description)
    if as_json:
        print_json(mv.model_dump(mode="json"))
        return
    out = console()
    out.print(text(f"Registered {mv.name} version {mv.version} ({mv.uri}) from {mv.source}."))
    out.print(text("Next, put it through the validation gate:"))
    gate = "--data FILE.csv --target COLUMN --task classification --threshold roc_auc:min=0.8"
    out.print(text(f"  mlstage models validate {mv.name}/{mv.version} {gate}", "cyan"))


app.command("evaluate")(models_eval.evaluate)
app.command("validate")(models_eval.validate)


@app.command("promote")
def promote(
    model: Address,
    alias_name: Annotated[
        str, typer.Option("--alias", metavar="ALIAS", help="The alias to move.")
    ] = "champion",
    force: Annotated[
        bool,
        typer.Option("--force", help="Promote a version the gate has not passed (needs --reason)."),
    ] = False,
    reason: Annotated[
        str, typer.Option(help="Why; required with --force, kept in the history.")
    ] = "",
) -> None:
    """Move an alias (default: champion) to a version that passed the validation gate."""
    from mlstage.cli.models_args import resolve_version
    from mlstage.models import api

    if force and not reason.strip():
        raise InvalidInput('--force needs --reason "..." (it is kept in the model\'s history)')
    store = registry()
    version = resolve_version(store, model)
    before = store.get_registered_model(version.name).aliases.get(alias_name)
    promoted = api.promote(version.uri, alias_name, force=force, reason=reason)
    was = f" (was version {before})" if before not in (None, promoted.version) else ""
    note = " Forced: the validation gate was skipped." if force else ""
    console().print(
        text(f"Promoted {promoted.name}/{promoted.version} to @{alias_name}{was}.{note}", "green")
    )


@app.command("alias")
def alias(
    model: Annotated[
        str,
        typer.Argument(
            metavar="NAME/VERSION",
            help="The version to point the alias at (churn/3); just NAME with --delete.",
        ),
    ],
    alias_name: Annotated[
        str, typer.Argument(metavar="ALIAS", help="e.g. champion, challenger, previous.")
    ],
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    reason: Annotated[str, typer.Option(help="Why, kept in the model's history.")] = "",
) -> None:
    """Point NAME@ALIAS at a version, or remove it with --delete (both kept in the history)."""
    from mlstage.cli.models_args import registry_ref, resolve_version
    from mlstage.models.names import check_alias
    from mlstage.models.uri import RegistryRef
    from mlstage.tracking.context import collect_context

    check_alias(alias_name)
    store = registry()
    user = collect_context().user
    out = console()
    if delete:
        body = model.removeprefix("models:/")
        pinned = "/" in body or "@" in body
        name = registry_ref(model).name if pinned else find_model(store, body).name
        current = store.resolve(RegistryRef(name, alias=alias_name))
        if pinned and resolve_version(store, model).version != current.version:
            raise Conflict(
                f"{name}@{alias_name} points at version {current.version}, not at {model!r}; "
                "nothing was removed"
            )
        store.delete_alias(current.name, alias_name, user, reason)
        out.print(text(f"Removed {current.name}@{alias_name} (was version {current.version})."))
        return
    if "/" not in model.removeprefix("models:/") and "@" not in model:
        raise InvalidInput(
            f"to set {model}@{alias_name}, name the version ({model}/<version>); "
            "to remove the alias, add --delete"
        )
    version = resolve_version(store, model)
    was = store.get_registered_model(version.name).aliases.get(alias_name)
    store.set_alias(version.name, alias_name, version.version, user, reason)
    moved = f" (was version {was})" if was is not None and was != version.version else ""
    out.print(text(f"{version.name}@{alias_name} → version {version.version}{moved}."))


@app.command("history")
def history(name: Name, as_json: JsonOption = False) -> None:
    """Registrations, alias moves and status changes of a model: who, when and why."""
    from mlstage.cli.models_view import history_table

    store = registry()
    found = find_model(store, name)
    entries = store.get_history(found.name)
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    console().print(history_table(entries))


@app.command("card")
def card(
    model: Address,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="FIELD=VALUE",
            help="Edit a card field: intended_use, limitations, ethical_considerations, "
            "training_data, notes (repeatable).",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", metavar="PATH", help="Write the card as a self-contained page."),
    ] = None,
    save: Annotated[
        bool, typer.Option("--save", help="Store the card with the version's source run.")
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Print Markdown as is, unrendered.")] = False,
) -> None:
    """Print a version's model card, or edit, export and store it."""
    from mlstage.cli.models_args import card_fields, resolve_version
    from mlstage.cli.models_view import print_markdown
    from mlstage.models.cards import build_card, save_card

    fields = card_fields(set_ or [])
    if html is not None and not html.parent.is_dir():
        raise InvalidInput(f"--html: folder {str(html.parent)!r} does not exist")
    store = registry()
    version = resolve_version(store, model)
    label = f"{version.name}/{version.version}"
    out = console()
    if fields:
        store.update_model_version(version.name, version.version, card=fields)
        out.print(text(f"Updated {', '.join(fields)} on the card of {label}."))
    if html is not None:
        page = build_card(version.name, version.version).html
        html.write_text(page, encoding="utf-8")
        out.print(text(f"Wrote the card of {label} to {html}."))
    if save:
        md_path, html_path = save_card(version.name, version.version)
        out.print(text(f"Stored the card with run {version.run_id}: {md_path}, {html_path}."))
    if not (fields or html is not None or save):
        print_markdown(out, build_card(version.name, version.version).markdown, raw=raw)
