"""HTTP mapping of mlstage errors: every failure leaves the server as JSON.

The body is always ``{"error": {"code": ..., "message": ...}}``; ``code`` is
the ``MlstageError.code`` the HTTP client turns back into the same class
(``mlstage.errors.error_from_code``). Unexpected exceptions become a bare
500 so that no stack trace or internal detail reaches the caller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlstage.errors import MlstageError
from mlstage.server.responses import NanJSONResponse

STATUS_BY_CODE: dict[str, int] = {
    "INVALID_INPUT": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "INTERNAL_ERROR": 500,
    "INTEGRITY_ERROR": 500,
    "DATA_LOSS": 500,
    "UNAVAILABLE": 503,
}
_CODE_BY_STATUS: dict[int, str] = {
    400: "INVALID_INPUT",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    503: "UNAVAILABLE",
}
_MAX_VALIDATION_ERRORS = 10
_MAX_ECHO = 200
# JSON with these escaped is the same JSON, but can never be read as markup.
_HTML_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


class ErrorResponse(NanJSONResponse):
    """The error body, with ``<``, ``>`` and ``&`` escaped so user text stays inert."""

    def __init__(
        self, status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(
            {"error": {"code": code, "message": message}}, status_code, headers=headers
        )

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
        return text.translate(_HTML_ESCAPES).encode("utf-8")


def status_for(error: MlstageError) -> int:
    return STATUS_BY_CODE.get(error.code, 500)


def mlstage_error_response(error: MlstageError) -> ErrorResponse:
    status = status_for(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif status == 503:
        headers["Retry-After"] = "1"
    return ErrorResponse(status, error.code, error.message, headers)


def validation_message(errors: Sequence[Any]) -> str:
    """``body.metrics.0.value: Input should be a valid number``; one clause per error."""
    parts = []
    for error in errors[:_MAX_VALIDATION_ERRORS]:
        loc = [str(p) for p in error.get("loc", ())]
        message = str(error.get("msg", "invalid value"))
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            position = loc[1] if len(loc) > 1 else "?"
            parts.append(f"body: not valid JSON at character {position}: {reason}")
            continue
        parts.append(f"{'.'.join(loc)}: {message}" if loc else message)
    if len(errors) > _MAX_VALIDATION_ERRORS:
        parts.append(f"and {len(errors) - _MAX_VALIDATION_ERRORS} more errors")
    return "; ".join(parts)


def _echo(text: str) -> str:
    return text if len(text) <= _MAX_ECHO else text[:_MAX_ECHO] + "..."


async def _on_mlstage_error(request: Request, exc: Exception) -> ErrorResponse:
    assert isinstance(exc, MlstageError)
    return mlstage_error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> ErrorResponse:
    assert isinstance(exc, RequestValidationError)
    return ErrorResponse(400, "INVALID_INPUT", validation_message(exc.errors()))


async def _on_http_error(request: Request, exc: Exception) -> ErrorResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _CODE_BY_STATUS.get(status, "INVALID_INPUT" if status < 500 else "INTERNAL_ERROR")
    where = f"{request.method} {_echo(request.url.path)}"
    if status == 404:
        message = f"no such endpoint: {where}; the API is described at /openapi.json"
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"method not allowed: {where}; allowed: {allowed}"
    else:
        message = _echo(str(exc.detail))
    return ErrorResponse(status, code, message, exc.headers)


async def _on_unexpected(request: Request, exc: Exception) -> ErrorResponse:
    # Starlette re-raises after this response, so the server still logs the traceback.
    return ErrorResponse(
        500, "INTERNAL_ERROR", "internal server error; the server log has the details"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MlstageError, _on_mlstage_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
