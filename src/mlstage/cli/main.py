"""The ``mlstage`` command: global options, error handling, and the command groups.

Every ``MlstageError`` a command raises ends as one red ``error: <message>``
line on stderr, without a traceback: exit code 2 for bad input (like a
usage error), 1 for everything else (not found, conflict, unavailable, ...).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mlstage.cli import (
    assess,
    audit,
    build,
    ci,
    data,
    datasets,
    demo,
    deploy,
    environments,
    experiments,
    features,
    feedback,
    gc,
    init,
    models,
    monitor,
    pipelines,
    predict,
    projects,
    runs,
    serve,
    server,
    tokens,
    users,
)
from mlstage.errors import InvalidInput, MlstageError

EXIT_ERROR = 1
EXIT_BAD_INPUT = 2


class _Group(TyperGroup):
    """The root group: turns mlstage's errors into one-line messages and exit codes."""

    def invoke(self, ctx: Any) -> Any:  # a click Context; Typer does not export its base type
        try:
            return super().invoke(ctx)
        except MlstageError as exc:
            from mlstage.cli._console import print_error

            print_error(exc.message)
            code = EXIT_BAD_INPUT if isinstance(exc, InvalidInput) else EXIT_ERROR
            raise typer.Exit(code) from None


app = typer.Typer(
    name="mlstage",
    cls=_Group,
    help="Track experiments and take models from notebooks to governed production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("demo")(demo.demo)
app.command("init")(init.init)
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(datasets.app, name="datasets")
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.add_typer(deploy.app)  # `deploy` and `deployments`
app.command("server")(server.server)
app.command("serve")(serve.serve)
app.command("predict")(predict.predict)
app.command("build")(build.build)
app.add_typer(users.app, name="users")
app.add_typer(projects.app, name="projects")
app.add_typer(tokens.app, name="tokens")
app.command("audit")(audit.audit)
app.command("assess")(assess.assess)
app.command("ci")(ci.ci)
app.add_typer(pipelines.app, name="pipelines")
app.add_typer(monitor.app, name="monitor")
app.add_typer(feedback.app, name="feedback")
app.command("scheduler")(pipelines.scheduler)
app.command("gc")(gc.gc)  # task "pii": garbage collection and retention
app.add_typer(gc.retention_app, name="retention")
environments.register(app)  # `environments`, `classify`, `models export` (issue 9)


def _version(value: bool) -> None:
    if value:
        from mlstage import __version__

        typer.echo(f"mlstage {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            metavar="URI",
            help="Store to use: sqlite:///path.db, postgresql+psycopg://..., http://host:port. "
            "Overrides MLSTAGE_TRACKING_URI and mlstage.toml.",
        ),
    ] = None,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Track experiments and take models from notebooks to governed production."""
    if ctx.invoked_subcommand == "init":
        return  # init resolves settings itself, once its mlstage.toml exists
    from mlstage import config

    config.set_settings(config.load_settings(tracking_uri=tracking_uri))


def main() -> None:
    """Console-script entry point."""
    app()
