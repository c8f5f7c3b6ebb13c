"""``mlstage init``: make the current folder an mlstage project.

Writes a commented ``mlstage.toml`` listing every setting at its default (so
the file documents itself), creates ``.mlstage/``, keeps it out of git, and
brings the metadata database to the current schema.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Annotated

import typer

from mlstage import config
from mlstage.cli._console import console, text
from mlstage.errors import Conflict

_NOT_SETTINGS = {"project_root", "project"}
_SHOWN_DEFAULTS = {
    "tracking_uri": f"sqlite:///{config.HOME_DIR}/mlstage.db",
    "artifact_root": f"{config.HOME_DIR}/artifacts",
}
_FALLBACK_DOCS = {
    "server_host": "Interface `mlstage server` binds to.",
    "server_port": "Port `mlstage server` listens on.",
}


def init(
    ctx: typer.Context,
    owner: Annotated[
        str | None, typer.Option(help="Who answers for the model [default: you].")
    ] = None,
    objective: Annotated[str, typer.Option(help="What the model is for, in a sentence.")] = "",
    success_metric: Annotated[
        str, typer.Option(help="The metric that says it works, e.g. roc_auc.")
    ] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing mlstage.toml.")
    ] = False,
    template: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Also write a project to start from: 'training' (a pipeline and example data).",
        ),
    ] = None,
    ci: Annotated[
        str | None,
        typer.Option(
            metavar="SYSTEM",
            help="Also write a CI/CD pipeline running `mlstage ci`: gitlab or github.",
        ),
    ] = None,
) -> None:
    """Create mlstage.toml and .mlstage/ here, and set up the metadata database."""
    root = Path.cwd()
    path = root / config.CONFIG_FILE
    if path.exists() and not force:
        raise Conflict(f"{path} already exists; pass --force to overwrite it")
    from mlstage.cli.init_ci import ci_path, write_ci
    from mlstage.cli.init_template import template_targets, write_template

    if template is not None:  # refuse before anything is written
        template_targets(root, template)
    if ci is not None:
        ci_path(root, ci)
    written = write_template(root, template) if template is not None else []
    if ci is not None:
        written.append(write_ci(root, ci, model="churn"))
    text_out = render_config(owner or _default_owner(), objective, success_metric)
    if template is not None:
        from mlstage.cli.init_template import CI_TABLE

        text_out += CI_TABLE
    path.write_text(text_out, encoding="utf-8")
    (root / config.HOME_DIR).mkdir(exist_ok=True)
    ignored = _ignore_in_git(root)
    settings = config.load_settings(root, tracking_uri=ctx.find_root().params.get("tracking_uri"))
    config.set_settings(settings)
    migrated = _migrate(settings)
    out = console()
    out.print(text(f"Wrote {path}"))
    if ignored:
        out.print(text(f"Added {config.HOME_DIR}/ to {ignored}"))
    if migrated:
        out.print(text(f"Metadata database ready: {migrated}"))
    for file in written:
        out.print(text(f"Wrote {file.relative_to(root)}"))
    if template is not None:
        out.print("Next: `mlstage pipelines run pipeline.py:training`, then `mlstage ci`")
        return
    out.print("Next: `mlstage demo`, or `import mlstage` in your training code.")


def _default_owner() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def setting_docs() -> dict[str, str]:
    """The docstring under each ``Settings`` field in config.py, the one place they are written."""
    import ast
    import inspect

    (cls,) = ast.parse(inspect.getsource(config.Settings)).body
    assert isinstance(cls, ast.ClassDef)
    docs: dict[str, str] = {}
    for node, after in zip(cls.body, [*cls.body[1:], None], strict=True):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        doc = ""
        if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            doc = " ".join(str(after.value.value).split())
        docs[node.target.id] = doc
    return docs


def render_config(owner: str, objective: str, success_metric: str) -> str:
    """mlstage.toml text: every setting commented out at its default, then [project]."""
    docs = setting_docs()
    lines = [
        "# mlstage project settings.",
        "# Precedence: command-line flag > MLSTAGE_<NAME> env variable > this file > default.",
        "# Uncomment a line to change a setting; relative paths are taken from this folder.",
    ]
    for f in fields(config.Settings):
        if f.name in _NOT_SETTINGS:
            continue
        default = f.default if f.default is not MISSING else ""
        shown = _SHOWN_DEFAULTS.get(f.name, default)
        doc = docs.get(f.name) or _FALLBACK_DOCS.get(f.name, "")
        lines += ["", f"# {doc.replace('``', '`')}  (env MLSTAGE_{f.name.upper()})"]
        lines.append(f"# {f.name} = {_toml_value(shown)}")
    lines += [
        "",
        "[project]",
        "# Who answers for the model, what it is for, and the metric that says it works.",
        f"owner = {_toml_value(owner)}",
        f"objective = {_toml_value(objective)}",
        f"success_metric = {_toml_value(success_metric)}",
        "",
    ]
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    # JSON strings, numbers, booleans and lists of strings are valid TOML as they are.
    return json.dumps(value)


def _ignore_in_git(root: Path) -> Path | None:
    """Add .mlstage/ to the .gitignore of the enclosing git repository; the file changed, if any."""
    repo = next((p for p in (root, *root.parents) if (p / ".git").exists()), None)
    if repo is None:
        return None
    gitignore = repo / ".gitignore"
    existing = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    patterns = {line.strip().strip("/") for line in existing.splitlines()}
    if config.HOME_DIR in patterns:
        return None
    entry = f"{config.HOME_DIR}/"
    separator = "" if not existing or existing.endswith("\n") else "\n"
    gitignore.write_text(f"{existing}{separator}{entry}\n", encoding="utf-8")
    return gitignore


def _migrate(settings: config.Settings) -> str | None:
    """Create or upgrade the metadata database; a remote server migrates its own."""
    if settings.tracking_uri.split(":", 1)[0].lower() in ("http", "https"):
        return None
    from mlstage.store.database import get_database

    db = get_database(
        settings.tracking_uri,
        busy_timeout=settings.sqlite_busy_timeout,
        synchronous=settings.sqlite_synchronous,
    )
    return db.safe_uri
