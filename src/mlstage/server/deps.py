"""The server's backend: one ``SqlTrackingStore`` chosen by the server's own settings.

Clients never pick the database or the artifact root; the server process
does. The store is opened on first use, so ``/health`` answers even while
the database is down and ``/ready`` can say so.
"""

from __future__ import annotations

import threading

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from mlstage.config import Settings
from mlstage.errors import InvalidInput, MlstageError, Unavailable
from mlstage.tracking.sql_store import SqlTrackingStore


class StoreProvider:
    """Opens the tracking store lazily, once, and tells whether its database answers."""

    def __init__(self, settings: Settings) -> None:
        scheme = settings.tracking_uri.split(":", 1)[0].lower()
        if not scheme.startswith(("sqlite", "postgresql")):
            raise InvalidInput(
                f"the server's tracking URI {settings.tracking_uri!r} must be a database "
                "(sqlite:///path.db or postgresql+psycopg://...), not another server"
            )
        self.settings = settings
        self._store: SqlTrackingStore | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> SqlTrackingStore | None:
        """The store if it is open already, else ``None``."""
        return self._store

    def tracking(self) -> SqlTrackingStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = self._open()
        return self._store

    def _open(self) -> SqlTrackingStore:
        try:
            return SqlTrackingStore.shared(self.settings.tracking_uri, self.settings)
        except MlstageError:
            raise
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise Unavailable(
                f"the metadata database cannot be opened: {_first_line(exc)}"
            ) from exc

    def check_ready(self) -> None:
        """Raise ``Unavailable`` unless the metadata database answers a query."""
        store = self.tracking()
        try:
            with store.db.read() as conn:
                conn.execute(text("SELECT 1"))
        except sa_exc.SQLAlchemyError as exc:
            raise Unavailable(
                f"the metadata database {store.db.safe_uri} does not answer: {_first_line(exc)}"
            ) from exc


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__


async def tracking_store(request: Request) -> SqlTrackingStore:
    """Dependency: the tracking store of the app serving ``request``.

    Async so that a request costs no extra thread hop; the first call, which
    opens (and may migrate) the database, runs in the threadpool.
    """
    provider: StoreProvider = request.app.state.stores
    store = provider.opened
    if store is None:
        store = await run_in_threadpool(provider.tracking)
    return store
