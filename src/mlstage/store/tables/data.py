"""Registered datasets and the feature store (migrations 0008, 0009)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlstage.store.tables._meta import metadata

# -- datasets (migration 0008) ------------------------------------------------------------

# A registered dataset: the name its versions share. Names collide case-insensitively,
# as registered models do. Separate from ``datasets`` above, which records any data a
# run saw; a run that logs a registered version links to it by (name, digest).
registered_datasets = Table(
    "registered_datasets",
    metadata,
    Column("dataset_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("canonical_name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# One immutable snapshot a version: Parquet in the artifact store (``snapshot_sha256``),
# named by ``digest``, the hash of its rows and schema. The same content twice under one
# name is one version. ``statistics_sha256``: the JSON statistics blob, if computed.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column(
        "dataset_id",
        Integer,
        ForeignKey("registered_datasets.dataset_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("snapshot_sha256", String(64), nullable=False),
    Column("snapshot_size", BigInteger, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("columns", Text, nullable=False),
    Column("statistics_sha256", String(64)),
    Column("source", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", Text, nullable=False, default="{}"),
    Column("created_by", String(250), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("dataset_id", "digest"),
)

# -- feature store (migration 0009) -------------------------------------------------------

# Entities and feature views as applied from a definitions file: the definition is
# JSON (``mlstage.features.definitions``), its sha256 makes a re-apply a no-op.
feature_entities = Table(
    "feature_entities",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("definition", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

feature_views = Table(
    "feature_views",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("source", Text, nullable=False),
    Column("definition", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# How far each view is materialised into each online store: the end of the last
# window (ms), so the next incremental run starts there.
feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column(
        "view", String(100), ForeignKey("feature_views.name", ondelete="CASCADE"), primary_key=True
    ),
    Column("online_store", String(250), primary_key=True),
    Column("watermark", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
