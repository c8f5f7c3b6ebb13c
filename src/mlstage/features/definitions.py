"""Entities, fields and feature views: the definitions a team writes in Python.

The names follow Feast (``Entity(name, join_keys=[...])``, ``Field(name,
dtype)``, ``FeatureView(name, entities, source, schema, ttl)``) so a Feast
user reads a definitions file at a glance. Each object checks itself when it
is built, so a mistake points at the user's line; checks that need the other
definitions or the source's columns happen when the file is applied
(``mlstage.features.repo``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mlstage.errors import InvalidInput

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
"""Names of entities, views, keys and features: identifiers (they become SQL column names)."""

Int32 = "int32"
Int64 = "int64"
Float32 = "float32"
Float64 = "float64"
String = "string"
Bool = "bool"
UnixTimestamp = "timestamp"
DTYPES = (Int32, Int64, Float32, Float64, String, Bool, UnixTimestamp)
"""The feature types; Feast's ``feast.types`` names are exported too (``Float64``, ...)."""

CODEC_VERSION = 2
"""Bumped when the online value encoding changes, so old online rows are never misread."""

KEY_DTYPES = (Int32, Int64, String)
"""Join keys are integers or strings: they must read back exactly from JSON and URLs."""


def check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise InvalidInput(
            f"{what} must be an identifier (letters, digits, underscore; not starting with a "
            f"digit; at most 100 characters), got {value!r}"
        )
    return value


def check_dtype(value: object, what: str) -> str:
    text = value if isinstance(value, str) else getattr(value, "name", value)
    if isinstance(text, str) and text.lower() in DTYPES:
        return text.lower()
    if isinstance(text, str) and text.lower() in ("unixtimestamp", "datetime"):
        return UnixTimestamp
    raise InvalidInput(f"{what} must be one of {', '.join(DTYPES)}, got {value!r}")


@dataclass(frozen=True)
class Entity:
    """What features describe (a customer, a driver): a name and the columns that identify it."""

    name: str
    join_keys: list[str] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.name, "entity name")
        keys = list(self.join_keys) or [self.name]
        if isinstance(self.join_keys, str):
            raise InvalidInput(
                f"entity {self.name!r}: join_keys must be a list of column names, "
                f"got the string {self.join_keys!r}"
            )
        for key in keys:
            check_name(key, f"entity {self.name!r}: join key")
        if len(set(keys)) != len(keys):
            raise InvalidInput(f"entity {self.name!r}: join_keys has duplicates: {keys}")
        object.__setattr__(self, "join_keys", keys)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "join_keys": list(self.join_keys),
            "description": self.description,
        }


@dataclass(frozen=True)
class Field:
    """One feature of a view: its column in the source and its type."""

    name: str
    dtype: str

    def __post_init__(self) -> None:
        check_name(self.name, "field name")
        object.__setattr__(self, "dtype", check_dtype(self.dtype, f"field {self.name!r}: dtype"))


@dataclass(frozen=True)
class FeatureView:
    """Features of one or more entities, read from one source with an event timestamp.

    ``source`` is a Parquet file, a folder of Parquet files (relative paths
    are taken from the definitions file's folder), or a registered dataset
    version (``customer_stats@3``, ``customer_stats@latest``). ``ttl`` bounds how old a
    value may be when it is joined to an entity row; ``None`` or zero means no
    bound.
    """

    name: str
    entities: list[Entity | str]
    source: str
    schema: list[Field]
    ttl: timedelta | None = None
    timestamp_field: str = "event_timestamp"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name, "feature view name")
        where = f"feature view {self.name!r}"
        if not isinstance(self.entities, list | tuple) or not self.entities:
            raise InvalidInput(f"{where}: entities must be a non-empty list, got {self.entities!r}")
        for entity in self.entities:
            if not isinstance(entity, Entity | str):
                raise InvalidInput(
                    f"{where}: entities must be Entity objects or entity names, got {entity!r}"
                )
        if not isinstance(self.source, str) or not self.source.strip():
            raise InvalidInput(
                f"{where}: source must be a Parquet path or a dataset reference (name@version), "
                f"got {self.source!r}"
            )
        if not isinstance(self.schema, list | tuple) or not self.schema:
            raise InvalidInput(f"{where}: schema must be a non-empty list of Field")
        seen: set[str] = set()
        for item in self.schema:
            if not isinstance(item, Field):
                raise InvalidInput(
                    f"{where}: schema items must be Field(name, dtype), got {item!r}"
                )
            if item.name in seen:
                raise InvalidInput(f"{where}: duplicate feature {item.name!r} in schema")
            seen.add(item.name)
        check_name(self.timestamp_field, f"{where}: timestamp_field")
        if self.timestamp_field in seen:
            raise InvalidInput(
                f"{where}: the timestamp field {self.timestamp_field!r} cannot also be a feature"
            )
        if self.ttl is not None and (
            not isinstance(self.ttl, timedelta) or self.ttl < timedelta(0)
        ):
            raise InvalidInput(f"{where}: ttl must be a non-negative timedelta, got {self.ttl!r}")
        object.__setattr__(self, "entities", list(self.entities))
        object.__setattr__(self, "schema", list(self.schema))

    @property
    def entity_names(self) -> list[str]:
        return [e.name if isinstance(e, Entity) else e for e in self.entities]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.schema]


@dataclass(frozen=True)
class ViewRecord:
    """A feature view as registered: resolved source, join keys and types; what stores read."""

    name: str
    entities: tuple[str, ...]
    join_keys: tuple[str, ...]
    key_dtypes: tuple[str, ...]
    source: str
    timestamp_field: str
    ttl_seconds: float
    features: tuple[tuple[str, str], ...]
    description: str = ""
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in self.features]

    @functools.cached_property
    def storage_id(self) -> str:
        """The view's name and its value layout: online rows of another layout are never read."""
        layout = json.dumps([CODEC_VERSION, self.join_keys, self.key_dtypes, self.features])
        return f"{self.name}@{hashlib.sha256(layout.encode()).hexdigest()[:8]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entities": list(self.entities),
            "join_keys": list(self.join_keys),
            "key_dtypes": list(self.key_dtypes),
            "source": self.source,
            "timestamp_field": self.timestamp_field,
            "ttl_seconds": self.ttl_seconds,
            "features": [{"name": n, "dtype": d} for n, d in self.features],
            "description": self.description,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViewRecord:
        return cls(
            name=data["name"],
            entities=tuple(data["entities"]),
            join_keys=tuple(data["join_keys"]),
            key_dtypes=tuple(data["key_dtypes"]),
            source=data["source"],
            timestamp_field=data["timestamp_field"],
            ttl_seconds=float(data["ttl_seconds"]),
            features=tuple((f["name"], f["dtype"]) for f in data["features"]),
            description=data.get("description", ""),
            tags=tuple(sorted(data.get("tags", {}).items())),
        )

    def fingerprint(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def entity_fingerprint(entity: Entity) -> str:
    return hashlib.sha256(json.dumps(entity.to_dict(), sort_keys=True).encode()).hexdigest()
