"""Checks on free text and tags given to the registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlstage.errors import InvalidInput
from mlstage.tracking import validation as v

MAX_DESCRIPTION = 5000


def check_text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string, got {type(value).__name__}")
    if len(value) > MAX_DESCRIPTION:
        raise InvalidInput(f"{field} is {len(value)} characters; the limit is {MAX_DESCRIPTION}")
    if "\x00" in value:
        raise InvalidInput(f"{field} contains a NUL character")
    return value


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if not tags:
        return {}
    return {v.check_key(k, "tag key"): v.check_tag_value(k, x) for k, x in tags.items()}
