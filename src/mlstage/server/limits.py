"""Request body limits, answered with the JSON error body and without reading what is over.

A declared ``Content-Length`` over the limit is refused before the app
runs; a body without one (chunked) is counted as it arrives and refused as
soon as it passes the limit. Artifact uploads get their own, larger limit
by a (method, path) rule, so a JSON endpoint never has to buffer one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlstage.server.errors import ErrorResponse


@dataclass(frozen=True)
class LimitRule:
    """Requests with ``method`` whose path matches ``path`` may carry up to ``limit`` bytes."""

    method: str
    path: re.Pattern[str]
    limit: int


class BodyLimitMiddleware:
    """Refuse request bodies over ``default`` bytes (or a matching rule's limit) with a 413."""

    def __init__(self, app: ASGIApp, default: int, rules: Sequence[LimitRule] = ()) -> None:
        self.app = app
        self.default = default
        self.rules = tuple(rules)

    def limit_for(self, method: str, path: str) -> int:
        for rule in self.rules:
            if method == rule.method and rule.path.match(path):
                return rule.limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        limit = self.limit_for(scope["method"], path)
        message = (
            f"request body of {scope['method']} {path[:200]} is over the limit of {limit} bytes"
        )
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = ErrorResponse(413, "PAYLOAD_TOO_LARGE", message, {"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail=message)
            return event

        await self.app(scope, counted, send)
