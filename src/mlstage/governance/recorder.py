"""The audit middleware: after a successful state-changing REST request, one audit entry.

It reads what ``require_principal`` left on the request (the principal and
the route's action from ``roles.ROUTE_ACTIONS``), so no store or router
records anything itself. The entry is written before the response starts,
so a client that saw 2xx can read its entry at once. The object id comes
from the path (``{name}``, ``{run_id}``) or, for creations, the JSON body's
field, read from a copy of the first 64 KiB as the app consumes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from mlstage.governance.sql_store import GovernanceStore

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BODY_COPY = 64 * 1024


class AuditRecorder:
    """ASGI middleware writing one entry per successful, audited, state-changing request."""

    def __init__(self, app: ASGIApp, store: Callable[[], GovernanceStore]) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        body = bytearray()

        async def copying() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < _BODY_COPY:
                body.extend(message.get("body", b"")[: _BODY_COPY - len(body)])
            return message

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                entry = _entry(scope, bytes(body))
                if entry is not None:
                    await run_in_threadpool(self._record, scope, entry)
            await send(message)

        await self.app(scope, copying, recording)

    def _record(self, scope: Scope, entry: dict[str, Any]) -> None:
        """Write ``entry`` with the object's state before and after, where it has a picture."""
        state = scope.get("state") or {}
        take = getattr(getattr(scope.get("app"), "state", None), "audit_snapshot", None)
        if take is not None and entry["object_id"]:
            after = take(entry["object_type"], entry["object_id"])
            if after is not None or "audit_before" in state:
                entry["before"] = state.get("audit_before")
                entry["after"] = {**entry["after"], "state": after}
        self.store().record(**entry)


def _entry(scope: Scope, body: bytes) -> dict[str, Any] | None:
    state = scope.get("state") or {}
    action = state.get("action")
    principal = state.get("principal")
    if action is None or principal is None or not action.audited:
        return None
    params = scope.get("path_params") or {}
    object_id = params.get(action.object_id)
    if object_id is None and action.object_id:
        object_id = _body_field(body, action.object_id)
    client = scope.get("client")
    return {
        "actor": principal.name,
        "action": action.name,
        "object_type": action.object_type,
        "object_id": "" if object_id is None else str(object_id),
        "after": {"path": scope["path"][:500]},
        "address": client[0] if client else "",
    }


def _body_field(body: bytes, name: str) -> Any:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data.get(name) if isinstance(data, dict) else None
