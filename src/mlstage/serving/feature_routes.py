"""Features on the prediction service: ``POST /features/online``, and ``/predict`` enrichment.

    {"entities": {"customer_id": [1, 2]}, "features": ["customer_stats:spend"]}
    -> {"customer_id": [1, 2], "spend": [12.5, null]}

The body is checked by a pydantic model; a bad shape or an unknown view,
feature or key is a 422 naming the field. The feature store (registry in
the tracking database, the ``online_store`` setting) is opened on the first
lookup, so a service that never looks features up never opens it. The route
sits behind ``require_principal``, like every other non-public route.

With the ``serving_features`` setting (``view:feature`` references), rows
sent to ``/predict`` may carry only the entity keys (``{"customer_id": 7}``):
the named features are filled in from the online store before the rows are
checked against the model's signature; values the client sent win, and key
columns the model does not take are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import Field as PydanticField

from mlstage.config import Settings
from mlstage.errors import InvalidInput
from mlstage.server.auth import require_principal
from mlstage.server.errors import validation_message
from mlstage.serving import codecs
from mlstage.serving.validation import InvalidRows

if TYPE_CHECKING:
    from mlstage.features.store import FeatureStore
    from mlstage.serving.service import PredictionService

ONLINE_PATH = "/features/online"
MAX_FEATURES = 1_000


class OnlineRequest(BaseModel):
    """A lookup: join key -> list of key values, and ``view:feature`` references."""

    model_config = ConfigDict(extra="forbid")

    entities: Annotated[dict[str, list[int | str]], PydanticField(min_length=1)]
    features: Annotated[list[str], PydanticField(min_length=1, max_length=MAX_FEATURES)]
    full_feature_names: bool = False


class FeatureLookup:
    """The service's feature store, opened on first use and shared by all requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: FeatureStore | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from mlstage.features.store import FeatureStore

                    self._store = FeatureStore(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def build_feature_router(settings: Settings) -> APIRouter:
    """The feature routes of a prediction service over ``settings``' feature store."""
    router = APIRouter(dependencies=[Depends(require_principal)])
    lookup = FeatureLookup(settings)

    @router.post(ONLINE_PATH)
    async def online_features(request: Request) -> Response:
        """Latest materialised feature values of the given entities."""
        codecs.body_kind(request.headers.get("content-type"), codecs.JSON_ONLY)
        try:
            asked = OnlineRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise InvalidRows(
                validation_message([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
            ) from None
        try:
            found = lookup.store.get_online_features(
                asked.entities, asked.features, full_feature_names=asked.full_feature_names
            )
        except InvalidRows:
            raise
        except InvalidInput as exc:
            raise InvalidRows(exc.message) from None
        return Response(codecs.dump_json(found), media_type="application/json")

    return router


class RequestEnricher:
    """Fills ``serving_features`` into ``/predict`` rows from the online store, by entity key."""

    def __init__(self, lookup: FeatureLookup, refs: Sequence[str], inputs: Callable[[], Any]):
        self.lookup = lookup
        self.refs = list(refs)
        self.inputs = inputs  # the model's input names now (the served version may change)

    def __call__(self, table: codecs.Table) -> codecs.Table:
        from mlstage.features.refs import parse_refs

        store = self.lookup.store
        try:
            requests = parse_refs(self.refs, store.views(), what="setting serving_features")
        except InvalidInput:
            requests = parse_refs(
                self.refs, store.views(refresh=True), what="setting serving_features"
            )
        keys = list(dict.fromkeys(k for r in requests for k in r.view.join_keys))
        if table.records is not None:
            return self._records(table, keys)
        return self._columns(table, keys)

    def _lookup(self, entities: dict[str, list[Any]]) -> dict[str, list[Any]]:
        try:
            return self.lookup.store.get_online_features(entities, self.refs)
        except InvalidRows:
            raise
        except InvalidInput as exc:
            raise InvalidRows(exc.message) from None

    def _drop(self, keys: list[str]) -> set[str]:
        names = self.inputs()
        return {k for k in keys if names is not None and k not in names}

    def _records(self, table: codecs.Table, keys: list[str]) -> codecs.Table:
        records = table.records or []
        entities: dict[str, list[Any]] = {k: [] for k in keys}
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                return table  # the signature check reports it
            for key in keys:
                if key not in record:
                    raise InvalidRows(f"row {i}: missing entity key {key!r} to look features up by")
                entities[key].append(record[key])
        found = self._lookup(entities)
        drop = self._drop(keys)
        names = [n for n in found if n not in keys]
        filled = []
        for i, record in enumerate(records):
            row = {k: v for k, v in record.items() if k not in drop}
            for name in names:
                row.setdefault(name, found[name][i])
            filled.append(row)
        return codecs.Table(records=filled, key=table.key)

    def _columns(self, table: codecs.Table, keys: list[str]) -> codecs.Table:
        columns = [str(c) for c in table.columns or []]
        data = table.data or []
        missing = [k for k in keys if k not in columns]
        if missing:
            raise InvalidRows(
                f"missing entity key column(s) {', '.join(map(repr, missing))} to look features "
                "up by"
            )
        at = {k: columns.index(k) for k in keys}
        entities = {
            k: [row[at[k]] if isinstance(row, list) else None for row in data] for k in keys
        }
        found = self._lookup(entities)
        drop = self._drop(keys)
        keep = [i for i, c in enumerate(columns) if c not in drop]
        added = [n for n in found if n not in keys and n not in columns]
        out = []
        for r, row in enumerate(data):
            if not isinstance(row, list):
                return table  # the signature check reports it
            values = [found[n][r] for n in added]
            if table.text:
                values = ["" if v is None else str(v) for v in values]
            out.append([row[i] for i in keep] + values)
        names = [columns[i] for i in keep] + added
        return codecs.Table(columns=names, data=out, text=table.text, key=table.key)


def request_enricher(service: PredictionService) -> Callable[[codecs.Table], codecs.Table]:
    """``/predict``'s row enrichment: the identity unless ``serving_features`` is set."""
    refs = service.settings.serving_features
    if not refs:
        return lambda table: table

    def inputs() -> set[str] | None:
        signature = service.signature()
        return None if signature is None else {s.name for s in signature.inputs}

    return RequestEnricher(FeatureLookup(service.settings), refs, inputs)
