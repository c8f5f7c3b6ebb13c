"""One canonical form for registered model names and aliases.

Names are ASCII letters, digits, ``_``, ``-`` and ``.``, start with a letter
or digit, and hold no ``..``: that leaves no room for look-alike Unicode
(``fraud\u2010model``, with a Unicode hyphen), percent-encoding, path separators, control
characters or trailing spaces. Two names that differ only in case collide:
the registry stores the lower-case form as the key and refuses the second.
"""

from __future__ import annotations

import re

from mlstage.errors import InvalidInput

MAX_MODEL_NAME = 100
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_ALIAS = re.compile(r"[a-z][a-z0-9_\-]*")


def check_model_name(name: object) -> str:
    if not isinstance(name, str):
        raise InvalidInput(f"model name must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidInput("model name must not be empty")
    if len(name) > MAX_MODEL_NAME:
        raise InvalidInput(
            f"model name {name[:40]!r}... is {len(name)} characters; the limit is {MAX_MODEL_NAME}"
        )
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"model name {name!r} may only contain ASCII letters, digits, '_', '-' and '.', "
            "and must start with a letter or digit"
        )
    if ".." in name:
        raise InvalidInput(f"model name {name!r} must not contain '..'")
    return name


def canonical_model_name(name: str) -> str:
    """The key two names collide on."""
    return check_model_name(name).lower()


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or len(alias) > 64:
        raise InvalidInput(
            f"alias {alias!r} must be 1 to 64 lower-case letters, digits, '_' or '-', "
            "starting with a letter (e.g. champion, challenger)"
        )
    if alias in ("latest",):
        raise InvalidInput(f"alias {alias!r} is reserved")
    return alias


def check_version(version: object) -> int:
    text = str(version)
    if isinstance(version, bool) or not text.isdigit() or int(text) < 1 or len(text) > 9:
        raise InvalidInput(f"model version must be a whole number from 1, got {version!r}")
    return int(text)
