"""``mlstage.feature_store()``: the registry, the offline join and the online store in one object.

The registry lives in the metadata database (the tracking URI); the online
store is the ``online_store`` setting. Views are cached in memory and read
again at most every ``refresh_seconds`` (or at once when a name is not
found), so an online lookup touches only the online store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstage.config import Settings, get_settings
from mlstage.errors import InvalidInput
from mlstage.features.codec import codec_for
from mlstage.features.definitions import ViewRecord
from mlstage.features.keys import encode_keys
from mlstage.features.materialize import MaterializeResult, as_utc, materialize_view
from mlstage.features.refs import ViewRequest, parse_refs

if TYPE_CHECKING:
    import pandas as pd

    from mlstage.features.online.base import OnlineStore
    from mlstage.features.online.columns import Decoder
    from mlstage.features.registry import Change, FeatureRegistry
    from mlstage.features.repo import Definitions

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ONLINE_ENTITIES = 10_000


class FeatureStore:
    """Feature views of one project: ``apply``, historical and online retrieval, materialisation."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        online_store: str | None = None,
        refresh_seconds: float = 5.0,
    ) -> None:
        from mlstage.features.online import online_store_uri

        self.settings = settings or get_settings()
        if online_store is not None:
            self.settings = self.settings.with_overrides(online_store=online_store)
        self.online_uri = online_store_uri(self.settings)
        self.refresh_seconds = refresh_seconds
        self._registry: FeatureRegistry | None = None
        self._online: OnlineStore | None = None
        self._views: dict[str, ViewRecord] = {}
        self._loaded_at = -float("inf")
        self._requests: dict[tuple[tuple[str, ...], bool], list[ViewRequest]] = {}
        self._decoders: dict[str, Decoder] = {}
        self._lock = threading.Lock()

    # -- parts, made on first use --------------------------------------------------------

    @property
    def registry(self) -> FeatureRegistry:
        if self._registry is None:
            from mlstage.features.registry import FeatureRegistry
            from mlstage.store.database import get_database

            uri = self.settings.tracking_uri
            if uri.startswith(("http://", "https://")):
                raise InvalidInput(
                    f"the feature store keeps its registry in the metadata database, but the "
                    f"tracking URI is a server ({uri}); set tracking_uri to the database "
                    "(sqlite:///... or postgresql+psycopg://...)"
                )
            db = get_database(
                uri,
                busy_timeout=self.settings.sqlite_busy_timeout,
                synchronous=self.settings.sqlite_synchronous,
            )
            self._registry = FeatureRegistry(db)
        return self._registry

    @property
    def online(self) -> OnlineStore:
        if self._online is None:
            from mlstage.features.online import open_online_store

            self._online = open_online_store(self.online_uri)
        return self._online

    def views(self, *, refresh: bool = False) -> dict[str, ViewRecord]:
        """The registered views by name, from the cache when it is fresh enough."""
        now = time.monotonic()
        if refresh or now - self._loaded_at > self.refresh_seconds:
            views = self.registry.views()
            with self._lock:
                if views != self._views:
                    self._requests.clear()
                self._views = views
                self._loaded_at = now
        return self._views

    def _parse(self, features: Sequence[str], full: bool) -> list[ViewRequest]:
        key = (tuple(features), full)
        views = self.views()
        cached = self._requests.get(key)
        if cached is not None:
            return cached
        try:
            requests = parse_refs(features, views, full_feature_names=full)
        except InvalidInput:
            requests = parse_refs(features, self.views(refresh=True), full_feature_names=full)
        if len(self._requests) < 1024:
            self._requests[key] = requests
        return requests

    # -- registry --------------------------------------------------------------------------

    def apply(self, definitions: str | Path | Definitions, *, prune: bool = False) -> list[Change]:
        """Register the entities and views of a definitions file (or loaded ``Definitions``)."""
        from mlstage.features.repo import Definitions, load_definitions

        loaded = (
            definitions if isinstance(definitions, Definitions) else load_definitions(definitions)
        )
        changes = self.registry.apply(loaded, prune=prune)
        self.views(refresh=True)
        return changes

    def list_feature_views(self) -> list[ViewRecord]:
        return list(self.views(refresh=True).values())

    def get_feature_view(self, name: str) -> ViewRecord:
        return self.registry.get_view(name).view

    # -- offline ---------------------------------------------------------------------------

    def get_historical_features(
        self,
        entity_df: pd.DataFrame,
        features: Sequence[str],
        *,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
        engine: str = "arrow",
    ) -> pd.DataFrame:
        """``entity_df`` plus the features as of each row's timestamp (point-in-time correct)."""
        from mlstage.features.offline import get_historical_features

        return get_historical_features(
            entity_df,
            features,
            self.views(refresh=True),
            timestamp_column=timestamp_column,
            full_feature_names=full_feature_names,
            engine=engine,
        )

    # -- materialisation ---------------------------------------------------------------------

    def _chosen(self, views: Sequence[str] | None) -> list[ViewRecord]:
        known = self.views(refresh=True)
        if not views:
            if not known:
                raise InvalidInput("no feature views are registered; run `mlstage features apply`")
            return list(known.values())
        missing = [v for v in views if v not in known]
        if missing:
            raise InvalidInput(
                f"unknown feature view(s) {', '.join(map(repr, missing))}; "
                f"registered: {', '.join(known) or 'none'}"
            )
        return [known[v] for v in views]

    def materialize(
        self,
        start: datetime | str,
        end: datetime | str,
        views: Sequence[str] | None = None,
    ) -> list[MaterializeResult]:
        """Load each view's latest value per entity with an event time in [start, end]."""
        start_at, end_at = as_utc(start, "start"), as_utc(end, "end")
        if start_at > end_at:
            raise InvalidInput(f"start {start_at.isoformat()} is after end {end_at.isoformat()}")
        return [self._run(view, start_at, end_at) for view in self._chosen(views)]

    def materialize_incremental(
        self, end: datetime | str, views: Sequence[str] | None = None
    ) -> list[MaterializeResult]:
        """Materialise each view from its watermark (or ``end - ttl`` the first time) to ``end``."""
        end_at = as_utc(end, "end")
        results = []
        for view in self._chosen(views):
            mark = self.registry.watermark(view.name, self.online.store_id)
            if mark is not None:
                start_at = EPOCH + timedelta(milliseconds=mark)
            elif view.ttl_seconds > 0:
                start_at = end_at - timedelta(seconds=view.ttl_seconds)
            else:
                start_at = EPOCH
            results.append(self._run(view, min(start_at, end_at), end_at))
        return results

    def _run(self, view: ViewRecord, start: datetime, end: datetime) -> MaterializeResult:
        result = materialize_view(view, self.online, start, end)
        end_ms = int((end - EPOCH) / timedelta(milliseconds=1))
        self.registry.record_materialization(
            view.name, self.online.store_id, end_ms, result.written
        )
        return result

    # -- online ------------------------------------------------------------------------------

    def get_online_features(
        self,
        entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
        features: Sequence[str],
        *,
        full_feature_names: bool = False,
    ) -> dict[str, list[Any]]:
        """Latest materialised values: ``{join_key: [...], feature: [...], ...}``, one per entity.

        ``entity_rows`` is a list of ``{"customer_id": 1}`` dicts (Feast's form)
        or a dict of key lists (``{"customer_id": [1, 2]}``). An entity with no
        materialised value gets ``None``.
        """
        requests = self._parse(features, full_feature_names)
        columns = _columns(entity_rows)
        result: dict[str, list[Any]] = {name: list(values) for name, values in columns.items()}
        asked: list[tuple[str, Sequence[str]]] = []
        for request in requests:
            view = request.view
            try:
                key_columns = [columns[k] for k in view.join_keys]
            except KeyError:
                missing = [k for k in view.join_keys if k not in columns]
                raise InvalidInput(
                    f"entities: missing join key {', '.join(map(repr, missing))} of feature view "
                    f"{view.name!r} (given: {', '.join(map(repr, columns))})"
                ) from None
            asked.append(
                (view.storage_id, encode_keys(key_columns, view.key_dtypes, view.join_keys))
            )
        answers = self.online.read(asked)
        for request, raw in zip(requests, answers, strict=True):
            decoded = self._decoder(request.view)(raw, request.positions)
            result.update(zip(request.outputs, decoded, strict=True))
        return result

    def _decoder(self, view: ViewRecord) -> Decoder:
        decoder = self._decoders.get(view.storage_id)
        if decoder is None:
            from mlstage.features.online.columns import decoder_for

            decoder = self._decoders[view.storage_id] = decoder_for(codec_for(view))
        return decoder

    def close(self) -> None:
        if self._online is not None:
            self._online.close()
            self._online = None


def _columns(
    entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
) -> dict[str, Sequence[Any]]:
    if isinstance(entity_rows, Mapping):
        columns = dict(entity_rows)
        if not columns:
            raise InvalidInput("entities: give at least one join key")
        lengths = set()
        for name, values in columns.items():
            if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
                raise InvalidInput(f"entities: {name!r} must be a list of keys, got {values!r}")
            if not isinstance(values, list | tuple):  # NumPy arrays, pandas Series
                columns[name] = values = list(values)
            lengths.add(len(values))
        if len(lengths) != 1:
            raise InvalidInput("entities: every join key needs the same number of values")
    else:
        if not entity_rows:
            raise InvalidInput("entities: give at least one entity")
        names = list(entity_rows[0])
        columns = {n: [] for n in names}
        for i, row in enumerate(entity_rows):
            if not isinstance(row, Mapping) or set(row) != set(names):
                raise InvalidInput(f"entities: row {i} must have the keys {names}, got {row!r}")
            for n in names:
                columns[n].append(row[n])  # type: ignore[attr-defined]
    size = len(next(iter(columns.values())))
    if size == 0:
        raise InvalidInput("entities: give at least one entity")
    if size > MAX_ONLINE_ENTITIES:
        raise InvalidInput(
            f"entities: {size} entities in one lookup, over the limit of {MAX_ONLINE_ENTITIES}"
        )
    return columns


def feature_store(
    online_store: str | None = None, settings: Settings | None = None
) -> FeatureStore:
    """The project's feature store (registry in the tracking database, ``online_store`` setting)."""
    return FeatureStore(settings, online_store=online_store)
