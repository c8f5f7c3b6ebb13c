"""The governance store the ``users``, ``tokens`` and ``audit`` commands work on.

They change the metadata database directly, as its administrator would:
on the server's host, or anywhere its database is reachable. Against a
server URL they refuse with a pointer to the REST API.
"""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.governance.sql_store import GovernanceStore


def governance_store() -> GovernanceStore:
    from mlstage.config import get_settings
    from mlstage.governance.sql_store import GovernanceStore
    from mlstage.store.database import get_database

    settings = get_settings()
    if settings.tracking_uri.startswith(("http://", "https://")):
        raise InvalidInput(
            f"the tracking URI {settings.tracking_uri!r} is a server: users, tokens and the audit "
            "log are managed on its database (run this where MLSTAGE_TRACKING_URI is the "
            "database), or through its /api/v1/users, /api/v1/tokens and /api/v1/audit API"
        )
    db = get_database(
        settings.tracking_uri,
        busy_timeout=settings.sqlite_busy_timeout,
        synchronous=settings.sqlite_synchronous,
    )
    return GovernanceStore(db)


def actor() -> str:
    """Who runs the command, for the audit log: ``cli:<os user>``."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return f"cli:{name}"


def read_password(from_stdin: bool) -> str:
    """The password from one line of stdin, or typed twice at a prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for a password: pass it with --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise InvalidInput("the two passwords differ")
    return first
