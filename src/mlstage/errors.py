"""The error hierarchy shared by every concern.

Imports nothing heavy: the HTTP mapping lives in ``mlstage.server.errors``.
Each error carries a stable ``code`` that survives the trip through the REST
API, so the HTTP client raises the same class the SQL store would.
"""

from __future__ import annotations


class MlstageError(Exception):
    """Base of every error mlstage raises on purpose; the message is shown to users."""

    code = "INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(MlstageError, ValueError):
    """A value given by the user is wrong; the message names the field and the problem."""

    code = "INVALID_INPUT"


class NotFound(MlstageError, LookupError):
    """The named object does not exist."""

    code = "NOT_FOUND"


class Conflict(MlstageError):
    """The change clashes with what exists (a duplicate name, a changed param)."""

    code = "CONFLICT"


class Unauthorized(MlstageError):
    """No valid credentials came with the request."""

    code = "UNAUTHORIZED"


class Forbidden(MlstageError):
    """The caller is known but may not do this."""

    code = "FORBIDDEN"


class PayloadTooLarge(MlstageError):
    """A request or batch is over a documented limit."""

    code = "PAYLOAD_TOO_LARGE"


class Unavailable(MlstageError):
    """A backing service (database, object store, server) cannot be reached; retrying may help."""

    code = "UNAVAILABLE"


class IntegrityError(MlstageError):
    """Stored content does not match its recorded hash."""

    code = "INTEGRITY_ERROR"


class DataLoss(MlstageError):
    """Data the caller logged could not be stored, even after retries."""

    code = "DATA_LOSS"


ERRORS_BY_CODE: dict[str, type[MlstageError]] = {
    cls.code: cls
    for cls in (
        MlstageError,
        InvalidInput,
        NotFound,
        Conflict,
        Unauthorized,
        Forbidden,
        PayloadTooLarge,
        Unavailable,
        IntegrityError,
        DataLoss,
    )
}


def error_from_code(code: str, message: str) -> MlstageError:
    """Rebuild an error received over HTTP as the class that raised it."""
    return ERRORS_BY_CODE.get(code, MlstageError)(message)
