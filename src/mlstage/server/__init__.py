"""The platform server: REST routers per concern, built by ``create_app``, served by ``run``.

Nothing here is imported by ``import mlstage``: FastAPI and uvicorn load only
when a server is built.
"""

from mlstage.server.app import create_app
from mlstage.server.serve import run

__all__ = ["create_app", "run"]
