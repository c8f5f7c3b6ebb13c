"""Run the server with uvicorn, for the CLI and for tests.

Responses go out without Nagle's delay: asyncio sets ``TCP_NODELAY`` on
accepted sockets and the installed uvicorn does not touch it, so the
protocol here sets it explicitly on every connection rather than rely on
either. Idle keep-alive connections are held longer than a client's pool
keeps them (``HttpTrackingStore`` drops idle ones after a few seconds), so
the client never reuses a connection the server is closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import threading
from typing import Any

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from mlstage.config import Settings

KEEP_ALIVE_SECONDS = 65


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off for a TCP transport (no-op for Unix sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHTTPProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    """uvicorn's HTTP/1.1 protocol (httptools or h11), with ``TCP_NODELAY`` set on connect."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        set_nodelay(transport)
        super().connection_made(transport)


def build_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's config with the no-delay protocol and the keep-alive above."""
    return uvicorn.Config(app, host=host, port=port, **_options(options))


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {"http": NoDelayHTTPProtocol, "timeout_keep_alive": KEEP_ALIVE_SECONDS, **options}


def run(
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    settings: Settings | None = None,
    *,
    log_level: str = "info",
) -> None:
    """Serve the platform until interrupted; with ``workers > 1``, in that many processes.

    Worker processes build their own app from the environment, so the given
    settings are handed to them as ``MLSTAGE_*`` variables.
    """
    if workers <= 1:
        from mlstage.server.app import create_app

        app = create_app(settings)
        warm_up()
        uvicorn.run(app, host=host, port=port, **_options({"log_level": log_level}))
        return
    if settings is not None:
        os.environ.update(settings_environment(settings))
    uvicorn.run(
        "mlstage.server.serve:create_served_app",
        host=host,
        port=port,
        **_options({"factory": True, "workers": workers, "log_level": log_level}),
    )


def create_served_app() -> Any:
    """A worker process's app (``--workers`` > 1), warming up like a single process."""
    from mlstage.server.app import create_app

    app = create_app()
    warm_up()
    return app


def warm_up() -> None:
    """Import what the first large search needs, in the background, once the server starts.

    A search answered as an Arrow table (``search_runs`` as a DataFrame) needs
    pyarrow and its compute functions: about half a second to import on a
    slow machine, which the first such request would otherwise wait for. The
    import runs on a thread beside the server; a request arriving before it is
    done waits on Python's import lock for what is left, never for more.
    """

    def work() -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        pc.split_pattern(pa.array(["a,b"]), ",")  # loads the string kernels' registry

    threading.Thread(target=work, name="mlstage-warm-up", daemon=True).start()


def settings_environment(settings: Settings) -> dict[str, str]:
    """``MLSTAGE_*`` variables that rebuild ``settings`` in another process."""
    env: dict[str, str] = {}
    for field in dataclasses.fields(settings):
        if field.name in ("project_root", "project", "tracking_token"):
            continue
        value = getattr(settings, field.name)
        if isinstance(value, tuple):
            value = ",".join(value)  # read back as a comma-separated list
        if value not in ("", None):
            env[f"MLSTAGE_{field.name.upper()}"] = str(value)
    return env
