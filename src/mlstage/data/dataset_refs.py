"""Dataset names and references: ``churn``, ``churn@latest``, ``churn@3``, ``churn@3f2a9c1e``.

Names follow the registry's rule for model names (``mlstage.models.names``):
ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a letter or
digit, no ``..``, at most 100 characters; names differing only in case are
the same dataset. So a name never carries a path separator, a look-alike
Unicode character or an ``@`` into a query, a file name or a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlstage.errors import InvalidInput

MAX_DATASET_NAME = 100
MIN_DIGEST_PREFIX = 8
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_HEX = re.compile(r"[0-9a-f]+")
_MAX_VERSION_DIGITS = 7  # longer all-digit selectors are digest prefixes


def check_dataset_name(name: object, field: str = "dataset name") -> str:
    if not isinstance(name, str):
        raise InvalidInput(f"{field} must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidInput(f"{field} must not be empty")
    if len(name) > MAX_DATASET_NAME:
        raise InvalidInput(
            f"{field} {name[:40]!r}... is {len(name)} characters; the limit is {MAX_DATASET_NAME}"
        )
    if not _NAME.fullmatch(name) or ".." in name:
        raise InvalidInput(
            f"{field} {name!r} may only contain ASCII letters, digits, '_', '-' and '.' "
            "(no '..'), and must start with a letter or digit"
        )
    return name


def canonical_dataset_name(name: str) -> str:
    """The key two names collide on."""
    return check_dataset_name(name).lower()


@dataclass(frozen=True)
class DatasetRef:
    """A parsed reference: exactly one of ``version``, ``digest_prefix``, or neither (latest)."""

    name: str
    version: int | None = None
    digest_prefix: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        if self.digest_prefix is not None:
            return f"{self.name}@{self.digest_prefix}"
        return f"{self.name}@latest"


def parse_ref(ref: object, field: str = "dataset") -> DatasetRef:
    """Parse ``name``, ``name@latest``, ``name@<version>`` or ``name@<8+ hex of the digest>``."""
    if not isinstance(ref, str):
        raise InvalidInput(f"{field} must be a string such as 'churn@3', got {type(ref).__name__}")
    name, at, selector = ref.partition("@")
    check_dataset_name(name, f"{field} name")
    if not at or selector == "latest":
        return DatasetRef(name)
    if selector.isdigit() and len(selector) <= _MAX_VERSION_DIGITS:
        if int(selector) < 1:
            raise InvalidInput(f"{field} {ref!r}: versions are numbered from 1")
        return DatasetRef(name, version=int(selector))
    lowered = selector.lower()
    if MIN_DIGEST_PREFIX <= len(lowered) <= 64 and _HEX.fullmatch(lowered):
        return DatasetRef(name, digest_prefix=lowered)
    raise InvalidInput(
        f"{field} {ref!r}: after '@' put a version number, 'latest', or "
        f"{MIN_DIGEST_PREFIX} to 64 hex characters of the content digest"
    )
