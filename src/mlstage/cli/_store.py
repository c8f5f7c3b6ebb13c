"""Lookups the commands share: the store, experiments by name or id, paged run search.

The CLI speaks to the ``TrackingStore`` service, never to SQL, so every
command works the same against SQLite, PostgreSQL or a remote server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlstage.errors import Conflict, NotFound

if TYPE_CHECKING:
    from mlstage.tracking.entities import Experiment, Run
    from mlstage.tracking.store import TrackingStore


def tracking_store() -> TrackingStore:
    from mlstage.tracking.store import get_tracking_store

    return get_tracking_store()


def find_experiment(store: TrackingStore, name_or_id: str, *, active: bool = True) -> Experiment:
    """The experiment named ``name_or_id``, else the one with that id."""
    found = store.get_experiment_by_name(name_or_id)
    if found is None and name_or_id.isdigit():
        try:
            found = store.get_experiment(name_or_id)
        except NotFound:
            found = None
    if found is None:
        names = ", ".join(repr(e.name) for e in store.list_experiments()) or "none yet"
        raise NotFound(
            f"experiment {name_or_id!r} does not exist (experiments: {names}); "
            "see `mlstage experiments list`"
        )
    if active and found.lifecycle_stage != "active":
        raise Conflict(f"experiment {found.name!r} (id {found.experiment_id}) is deleted")
    return found


def search_runs(
    store: TrackingStore,
    experiment_ids: Sequence[str],
    filter: str | None,
    order_by: Sequence[str] | None,
    max_results: int,
) -> list[Run]:
    """Up to ``max_results`` active runs, following the store's pages."""
    from mlstage.tracking.store import MAX_PAGE_SIZE

    runs: list[Run] = []
    token: str | None = None
    while len(runs) < max_results and experiment_ids:
        size = min(MAX_PAGE_SIZE, max_results - len(runs))
        page = store.search_runs(list(experiment_ids), filter, list(order_by or []), size, token)
        runs.extend(page.runs)
        token = page.next_page_token
        if token is None:
            break
    return runs
