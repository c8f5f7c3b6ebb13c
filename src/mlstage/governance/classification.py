"""Data classifications: the organisation's ordered levels, compared and combined.

The levels come from the ``classification_levels`` setting, lowest first
(``public < internal < confidential < restricted`` by default); the level of
unlabelled data from ``default_classification``. Objects inherit the
highest level of their inputs (``highest``), so a model trained on
confidential data is confidential.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.config import Settings

DEFAULT_LEVELS: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
_LEVEL = re.compile(r"[a-z][a-z0-9_\-]{0,31}")


@dataclass(frozen=True)
class Levels:
    """An ordered list of classification levels and the default for unlabelled data."""

    names: tuple[str, ...] = DEFAULT_LEVELS
    default: str = "internal"

    def __post_init__(self) -> None:
        if not self.names:
            raise InvalidInput("setting 'classification_levels' must name at least one level")
        for name in self.names:
            if not isinstance(name, str) or not _LEVEL.fullmatch(name):
                raise InvalidInput(
                    f"classification level {name!r} (setting 'classification_levels') must be "
                    "1 to 32 lower-case letters, digits, '_' or '-', starting with a letter"
                )
        if len(set(self.names)) != len(self.names):
            raise InvalidInput(
                f"setting 'classification_levels' lists a level twice: {', '.join(self.names)}"
            )
        if self.default not in self.names:
            raise InvalidInput(
                f"setting 'default_classification' is {self.default!r}, which is not one of "
                f"the classification levels {self._listed()}"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> Levels:
        return cls(tuple(settings.classification_levels), settings.default_classification)

    def _listed(self) -> str:
        return " < ".join(self.names)

    def check(self, level: object, field: str = "classification") -> str:
        """``level`` if it is one of the levels, else ``InvalidInput`` naming them."""
        if not isinstance(level, str) or level not in self.names:
            raise InvalidInput(f"{field} {level!r} is not a classification level; the levels are "
                               f"{self._listed()} (setting 'classification_levels')")  # fmt: skip
        return level

    def rank(self, level: str) -> int:
        """Position of ``level``, lowest 0. A level no longer configured ranks above all
        (fail closed: data labelled under an older list is never let through by accident)."""
        try:
            return self.names.index(level)
        except ValueError:
            return len(self.names)

    def exceeds(self, level: str, ceiling: str) -> bool:
        """Whether ``level`` is above ``ceiling``."""
        return self.rank(level) > self.rank(ceiling)

    def at_least(self, level: str, floor: str) -> bool:
        return self.rank(level) >= self.rank(floor)

    def highest(self, levels: Iterable[str]) -> str:
        """The highest of ``levels``; the default level for none at all."""
        found = list(levels)
        if not found:
            return self.default
        return max(found, key=self.rank)


def levels_of(settings: Settings | None = None) -> Levels:
    """The levels configured in ``settings`` (the process's settings by default)."""
    if settings is None:
        from mlstage.config import get_settings

        settings = get_settings()
    return Levels.from_settings(settings)


def download_roles(settings: Settings, levels: Levels) -> list[tuple[str, str]]:
    """The ``classified_download_roles`` pairs, checked: (level, weakest role allowed)."""
    from mlstage.governance.roles import ROLES

    pairs = []
    for item in settings.classified_download_roles:
        level, sep, role = item.partition(":")
        if not sep or role.strip() not in ROLES:
            raise InvalidInput(
                f"setting 'classified_download_roles' item {item!r} must be level:role with a "
                f"role among {', '.join(ROLES)} (e.g. confidential:maintainer)"
            )
        pairs.append((levels.check(level.strip(), "classified_download_roles level"), role.strip()))
    return pairs
