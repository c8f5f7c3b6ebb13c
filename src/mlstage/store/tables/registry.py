"""The model registry (migration 0002)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mlstage.store.tables._meta import metadata

# -- model registry (migration 0002) -------------------------------------------------

registered_models = Table(
    "registered_models",
    metadata,
    Column("model_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("canonical_name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("owner", String(250), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # migration 0011, as for experiments
    Column(
        "project_id",
        Integer,
        ForeignKey("projects.project_id"),
        nullable=False,
        server_default="1",
    ),
    Index("ix_registered_models_project", "project_id"),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column(
        "model_id",
        Integer,
        ForeignKey("registered_models.model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column(
        "model_id",
        Integer,
        ForeignKey("registered_models.model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="SET NULL")),
    Column("source", String(1100), nullable=False),
    Column("files", Text, nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_by", String(250), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("validation", Text),
    Column("card", Text, nullable=False, default="{}"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("model_id", Integer, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        ondelete="CASCADE",
    ),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column(
        "model_id",
        Integer,
        ForeignKey("registered_models.model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)

# Append-only: every registration, alias move and status change, with who and when.
model_history = Table(
    "model_history",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "model_id",
        Integer,
        ForeignKey("registered_models.model_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("version", Integer),
    Column("action", String(32), nullable=False),
    Column("alias", String(64)),
    Column("from_value", String(64)),
    Column("to_value", String(64)),
    Column("actor", String(250), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("at", BigInteger, nullable=False),
    Index("ix_model_history_model_at", "model_id", "entry_id"),
)
