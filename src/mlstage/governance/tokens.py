"""API token secrets: ``mls_`` + 43 url-safe characters (256 bits), stored only as sha256.

A fast hash is right here, unlike for passwords: the secret is random and
long, so there is nothing to guess, and every request has to check one.
The prefix lets secret scanners and people recognise a leaked token.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from mlstage.errors import InvalidInput

PREFIX = "mls_"
_SHAPE = re.compile(r"^mls_[A-Za-z0-9_-]{43}$")
_DURATION = re.compile(r"^(\d{1,5})([smhdw])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
MAX_LIFETIME_MS = 366 * 86_400_000
"""Tokens live at most a year: a forgotten token should die on its own."""


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def new_id() -> str:
    """The public id of a token, for listing and revoking; reveals nothing of the secret."""
    return secrets.token_hex(6)


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def well_formed(secret: str) -> bool:
    """Whether ``secret`` has the shape of an mlstage token (checked before any lookup)."""
    return bool(_SHAPE.match(secret))


def parse_lifetime(text: str) -> int:
    """``30d``, ``12h``, ``90m``, ``2w`` -> milliseconds; at most a year."""
    match = _DURATION.match(text.strip())
    if not match:
        raise InvalidInput(
            f"token expiry {text!r} is not a duration: write a number and a unit "
            "(s, m, h, d or w), e.g. 30d"
        )
    value = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if value <= 0 or value > MAX_LIFETIME_MS:
        raise InvalidInput(f"token expiry {text!r} must be between 1s and 366d")
    return value
