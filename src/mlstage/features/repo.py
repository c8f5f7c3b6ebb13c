"""Load a definitions file: import it, collect its entities and views, check them together.

Checks that need more than one object or the data happen here, each naming
the view and field: an entity a view uses but the file does not define, two
objects with one name, a source without the timestamp column, a join key or
a feature, or a feature whose declared type the source column does not have.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from mlstage.errors import InvalidInput
from mlstage.features.definitions import KEY_DTYPES, Entity, FeatureView, ViewRecord
from mlstage.features.sources import COMPATIBLE, arrow_dtype, resolve_source, source_schema


@dataclass(frozen=True)
class Definitions:
    """What one definitions file declares, checked and resolved."""

    entities: tuple[Entity, ...]
    views: tuple[ViewRecord, ...]


def load_definitions(path: str | Path) -> Definitions:
    """Import ``path`` and collect the ``Entity`` and ``FeatureView`` objects it defines."""
    file = Path(path).expanduser().resolve()
    if not file.is_file() or file.suffix != ".py":
        raise InvalidInput(f"definitions file {str(path)!r} is not a .py file that exists")
    name = f"_mlstage_features_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"definitions file {str(file)!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    objects = list(vars(module).values())
    entities = [o for o in objects if isinstance(o, Entity)]
    views = [o for o in objects if isinstance(o, FeatureView)]
    for view in views:  # entities given as objects count even when not bound to a name
        entities.extend(e for e in view.entities if isinstance(e, Entity))
    return collect(entities, views, base=file.parent, origin=file.name)


def collect(
    entities: list[Entity], views: list[FeatureView], *, base: Path, origin: str = "definitions"
) -> Definitions:
    """Check entities and views together and resolve the views' sources against ``base``."""
    by_name: dict[str, Entity] = {}
    for entity in entities:
        known = by_name.get(entity.name)
        if known is not None and known != entity:
            raise InvalidInput(f"{origin}: two different entities are named {entity.name!r}")
        by_name[entity.name] = entity
    records: dict[str, ViewRecord] = {}
    for view in views:
        if view.name in records:
            raise InvalidInput(f"{origin}: two feature views are named {view.name!r}")
        records[view.name] = _resolve(view, by_name, base, origin)
    if not records and not by_name:
        raise InvalidInput(f"{origin}: defines no Entity and no FeatureView")
    return Definitions(
        entities=tuple(sorted(by_name.values(), key=lambda e: e.name)),
        views=tuple(sorted(records.values(), key=lambda v: v.name)),
    )


def _resolve(view: FeatureView, entities: dict[str, Entity], base: Path, origin: str) -> ViewRecord:
    where = f"feature view {view.name!r}"
    join_keys: list[str] = []
    for name in view.entity_names:
        entity = entities.get(name)
        if entity is None:
            known = ", ".join(sorted(entities)) or "none"
            raise InvalidInput(
                f"{where}: unknown entity {name!r}; entities defined in {origin}: {known}"
            )
        for key in entity.join_keys:
            if key in join_keys:
                raise InvalidInput(f"{where}: join key {key!r} comes from two entities")
            join_keys.append(key)
    for feature in view.schema:
        if feature.name in join_keys:
            raise InvalidInput(f"{where}: feature {feature.name!r} is also a join key")
    source = resolve_source(view.source, base, where)
    schema = source_schema(source)
    columns = {f.name: arrow_dtype(f.type) for f in schema}
    listed = ", ".join(schema.names)
    if view.timestamp_field not in columns:
        raise InvalidInput(
            f"{where}: source has no timestamp column {view.timestamp_field!r} (columns: {listed})"
        )
    if columns[view.timestamp_field] != "timestamp":
        raise InvalidInput(
            f"{where}: timestamp column {view.timestamp_field!r} must hold timestamps, "
            f"got {schema.field(view.timestamp_field).type}"
        )
    key_dtypes: list[str] = []
    for key in join_keys:
        if key not in columns:
            raise InvalidInput(
                f"{where}: source has no join key column {key!r} (columns: {listed})"
            )
        kind = columns[key]
        if kind not in KEY_DTYPES:
            raise InvalidInput(
                f"{where}: join key {key!r} must be an integer or string column, "
                f"got {schema.field(key).type}"
            )
        key_dtypes.append("string" if kind == "string" else "int64")
    for feature in view.schema:
        if feature.name not in columns:
            raise InvalidInput(
                f"{where}: source has no column for feature {feature.name!r} (columns: {listed})"
            )
        found = columns[feature.name]
        if found not in COMPATIBLE[feature.dtype]:
            raise InvalidInput(
                f"{where}: feature {feature.name!r} is declared {feature.dtype} but the source "
                f"column is {schema.field(feature.name).type}"
            )
    ttl = view.ttl.total_seconds() if view.ttl is not None else 0.0
    return ViewRecord(
        name=view.name,
        entities=tuple(view.entity_names),
        join_keys=tuple(join_keys),
        key_dtypes=tuple(key_dtypes),
        source=source,
        timestamp_field=view.timestamp_field,
        ttl_seconds=ttl,
        features=tuple((f.name, f.dtype) for f in view.schema),
        description=view.description,
        tags=tuple(sorted((str(k), str(v)) for k, v in view.tags.items())),
    )
