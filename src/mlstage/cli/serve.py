"""``mlstage serve``: the prediction service for one model version or a deployment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.serving.options import ServingOptions


def serve(
    target: Annotated[
        str | None,
        typer.Argument(
            help="The model to serve: churn@champion, churn/3 or models:/churn@champion.",
            show_default=False,
        ),
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option(
            "--deployment",
            metavar="NAME",
            help="Serve a deployment instead (churn-prod): its versions, its routing, and "
            "every change to it, swapped in without a restart.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes, each with its own copy of the model.")
    ] = 1,
    max_batch_rows: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Rows of concurrent requests scored in one model call; "
            "default: the serving_max_batch_rows setting (64).",
        ),
    ] = None,
    max_batch_wait_ms: Annotated[
        float,
        typer.Option(
            min=0,
            max=1000,
            help="How long a batch waits for more requests; 0 runs it at once, and requests "
            "arriving meanwhile form the next one.",
        ),
    ] = 0.0,
) -> None:
    """Serve predictions: POST /predict, the v2 inference protocol, and a page at /."""
    if (target is None) == (deployment is None):
        raise InvalidInput("give a model (mlstage serve churn@champion) or --deployment NAME")
    address = target if target is not None else f"deployment:{deployment}"
    from mlstage.config import get_settings
    from mlstage.serving.options import ServingOptions

    settings = get_settings()
    options = ServingOptions.from_settings(
        settings, max_batch_rows=max_batch_rows, max_batch_wait_ms=max_batch_wait_ms
    )
    if workers == 1:
        _serve_one(address, settings, options, host, port)
    else:
        _serve_many(address, settings, options, host, port, workers)


def _announce(title: str, host: str, port: int, workers: int) -> None:
    from mlstage.cli._console import console

    url = f"http://{host}:{port}"
    each = f" ({workers} workers)" if workers > 1 else ""
    console().print(f"Serving {title} at {url}{each}", markup=False)
    console().print(
        f"  POST {url}/predict   POST {url}/v2/models/<name>/infer   page {url}/", markup=False
    )


def _serve_one(
    address: str, settings: Settings, options: ServingOptions, host: str, port: int
) -> None:
    import uvicorn

    from mlstage.server.serve import build_config
    from mlstage.serving.app import create_serving_app

    app = create_serving_app(address, settings, options)
    _announce(app.state.service.title(), host, port, 1)
    # No access log: a line per prediction costs more than the service's own work; the
    # request log and /metrics record every request already.
    uvicorn.Server(build_config(app, host, port, log_level="info", access_log=False)).run()


def _serve_many(
    address: str, settings: Settings, options: ServingOptions, host: str, port: int, workers: int
) -> None:
    """Each worker process builds its own app from the environment set here."""
    import os

    import uvicorn

    from mlstage.server.serve import KEEP_ALIVE_SECONDS, NoDelayHTTPProtocol, settings_environment
    from mlstage.serving.app import OPTIONS_ENV, TARGET_ENV
    from mlstage.serving.pool import check_target

    title = check_target(address)  # fail here, once, rather than in every worker
    os.environ.update(settings_environment(settings))
    os.environ[TARGET_ENV] = address
    os.environ[OPTIONS_ENV] = options.to_json()
    _announce(title, host, port, workers)
    uvicorn.run(
        "mlstage.serving.app:app_from_environment",
        host=host,
        port=port,
        factory=True,
        workers=workers,
        log_level="info",
        access_log=False,
        http=NoDelayHTTPProtocol,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
