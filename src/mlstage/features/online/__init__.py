"""Online stores by URI scheme: ``sqlite:///path.db`` (default) and ``redis://host:port/db``."""

from __future__ import annotations

from pathlib import Path

from mlstage.config import HOME_DIR, Settings
from mlstage.errors import InvalidInput
from mlstage.features.online.base import OnlineStore

SCHEMES = ("sqlite", "redis", "rediss")


def online_store_uri(settings: Settings) -> str:
    """The configured online store, with the default and relative paths filled in."""
    uri = settings.online_store.strip()
    root = Path(settings.project_root)
    if not uri:
        return f"sqlite:///{root / HOME_DIR / 'online.db'}"
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        return f"sqlite:///{path if path.is_absolute() else (root / path).resolve()}"
    return uri


def open_online_store(uri: str) -> OnlineStore:
    """The store behind ``uri``; an unknown scheme is an error listing the known ones."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "sqlite":
        from mlstage.features.online.sqlite import SqliteOnlineStore

        path = uri.removeprefix("sqlite:///")
        if not path or path == uri:
            raise InvalidInput(f"online_store {uri!r}: write sqlite:///path/to/online.db")
        return SqliteOnlineStore(path)
    if scheme in ("redis", "rediss"):
        from mlstage.features.online.redis import RedisOnlineStore

        return RedisOnlineStore(uri)
    raise InvalidInput(
        f"online_store {uri[:200]!r} has an unknown scheme; use one of "
        + ", ".join(f"{s}://" for s in SCHEMES)
    )
