"""A real server on a free local port, in a background thread: for tests and examples.

``base_url, stop = start_server(settings)`` returns once the server accepts
requests over a real socket; ``stop()`` shuts it down.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from mlstage.config import Settings
from mlstage.server.app import create_app
from mlstage.server.serve import build_config

STARTUP_TIMEOUT = 30.0


def start_server(
    settings: Settings, *, host: str = "127.0.0.1", app: FastAPI | None = None
) -> tuple[str, Callable[[], None]]:
    """Serve ``create_app(settings)`` (or ``app``) on a free port; return (base URL, stop).

    The socket is bound before the server starts, so the port cannot be
    taken in between, and this returns only once the server accepts
    requests.
    """
    app = app or create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(build_config(app, host, port, log_level="warning", lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"mlstage-server-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the test server on {host}:{port} did not start")
        time.sleep(0.005)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()

    return f"http://{host}:{port}", stop
