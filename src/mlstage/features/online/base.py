"""The online store interface: packed latest values per (view layout, entity key).

A store keeps one value per view and entity: the event timestamp (int
microseconds) and the view's features packed by the view's codec
(``mlstage.features.codec``). Writes are conditional, so materialising a window again, or an
older one, changes nothing: a value is replaced only by a newer event, or by
a different value for the same event (a corrected source).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol


class OnlineStore(Protocol):
    """Where materialised feature values are read from at serving time."""

    store_id: str
    """A stable name of this store without secrets (watermarks are kept per store)."""

    def write(self, storage_id: str, rows: Iterable[tuple[str, int, bytes | str]]) -> int:
        """Upsert ``(entity_key, event_ts_us, packed values)`` rows; the number of rows changed."""
        ...

    def read(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[str | bytes | None]]:
        """For each ``(storage_id, keys)``: the packed values of each key, or None."""
        ...

    def close(self) -> None: ...
