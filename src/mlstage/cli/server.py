"""``mlstage server``: the platform server (REST API and web UI) over the configured store."""

from __future__ import annotations

from typing import Annotated

import typer


def server(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to bind [default: server_host, 127.0.0.1]."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on [default: server_port, 5000]."),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each one serves the same store).")
    ] = 1,
) -> None:
    """Run the platform server; clients reach it with MLSTAGE_TRACKING_URI=http://HOST:PORT."""
    from mlstage.config import get_settings
    from mlstage.server import run  # the server pulls in FastAPI and uvicorn: only load it here

    settings = get_settings()
    run(
        host or settings.server_host,
        port or settings.server_port,
        workers=workers,
        settings=settings,
    )
