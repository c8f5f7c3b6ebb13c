"""Password hashing with the standard library's scrypt: salted, parameters kept with the hash.

A stored hash reads ``scrypt$n$r$p$salt$digest`` (salt and digest base64),
so the cost can be raised later without locking anyone out: old hashes
still verify with the parameters they were made with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from mlstage.errors import InvalidInput

MIN_LENGTH = 12
"""Shortest password accepted (S13); length beats composition rules."""
MAX_LENGTH = 1024
"""Longest password accepted, so a huge one cannot keep scrypt busy."""
N, R, P = 2**14, 8, 1
"""scrypt cost: 16 MiB of memory and a few tens of milliseconds a hash."""
_DKLEN = 32
_MAXMEM = 64 * 1024 * 1024
_COMMON = frozenset({"password", "passwordpassword", "123456789012", "qwertyuiopas"})


def check_password(password: str) -> None:
    """Raise ``InvalidInput`` unless ``password`` is long enough (and not absurdly long)."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"the password must be at least {MIN_LENGTH} characters long, got {len(password)}"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"the password must be at most {MAX_LENGTH} characters long")
    if password.lower() in _COMMON:
        raise InvalidInput("the password is too common; choose a longer passphrase")


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password`` (checked first)."""
    check_password(password)
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, N, R, P)
    return "$".join(("scrypt", str(N), str(R), str(P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; constant-time, False for any malformed hash."""
    if stored is None or len(password) > MAX_LENGTH:
        return False
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def dummy_verify(password: str) -> None:
    """Spend the time a real check takes, so unknown user names do not answer faster."""
    _scrypt(password[:MAX_LENGTH], b"0" * 16, N, R, P)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_DKLEN
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
