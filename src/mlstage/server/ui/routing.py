"""The UI's route class: a failure renders an HTML error page instead of the API's JSON.

Pages are for people: a missing run or a refused form post shows the same
message the API gives, inside the layout, with the same status code.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from mlstage.errors import MlstageError
from mlstage.server.errors import status_for
from mlstage.server.ui.render import page


def error_page(request: Request, error: MlstageError) -> Response:
    """The error inside the layout; a 401 offers the sign-in page, coming back here after.

    A browser opening a page (a GET that accepts HTML) is sent to the sign-in
    page straight away; scripts and other clients get the 401 itself.
    """
    status = status_for(error)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login = f"/login?{urlencode({'next': target})}" if status == 401 else ""
    if login and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(login, status_code=303)
    return page(request, "error.html", status, status=status, message=error.message, login=login)


class PageRoute(APIRoute):
    """An ``APIRoute`` whose ``MlstageError`` becomes the error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except MlstageError as error:
                return error_page(request, error)

        return handle
