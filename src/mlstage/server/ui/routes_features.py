"""Pages of the feature store: entities, feature views, and how far each view is materialised.

Read from the feature registry on the server's own metadata database: three
queries whatever the number of views.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from mlstage.server.deps import tracking_store
from mlstage.server.ui.render import page
from mlstage.tracking.sql_store import SqlTrackingStore

Tracking = Annotated[SqlTrackingStore, Depends(tracking_store)]


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/features", features, methods=["GET"])


@dataclass(frozen=True)
class ViewRow:
    view: Any
    """The registered ``ViewRecord``."""
    created_at: int
    updated_at: int
    ttl: str
    materializations: list[Any]


def ttl_text(seconds: float) -> str:
    """A TTL as people say it (``7 days``, ``1 day, 6:00:00``); zero means no bound."""
    if seconds <= 0:
        return "none"
    delta = timedelta(seconds=seconds)
    if delta.seconds == 0 and delta.microseconds == 0:
        return f"{delta.days} day{'' if delta.days == 1 else 's'}"
    return str(delta)


def features(request: Request, tracking: Tracking) -> Response:
    from mlstage.features.registry import FeatureRegistry

    registry = FeatureRegistry(tracking.db)
    entities = registry.list_entities()
    marks: dict[str, list[Any]] = defaultdict(list)
    for m in registry.materializations():
        marks[m.view].append(m)
    views = [
        ViewRow(
            r.view, r.created_at, r.updated_at, ttl_text(r.view.ttl_seconds), marks[r.view.name]
        )
        for r in registry.list_views()
    ]
    used_by: dict[str, list[str]] = defaultdict(list)
    for row in views:
        for entity in row.view.entities:
            used_by[entity].append(row.view.name)
    return page(
        request,
        "features.html",
        section="features",
        entities=entities,
        views=views,
        used_by=used_by,
    )
