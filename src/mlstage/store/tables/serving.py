"""Deployments and the prediction log index (migrations 0005, 0006)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from mlstage.store.tables._meta import metadata

# -- deployments (migration 0005) ---------------------------------------------------------

# One row per deployment: which model versions serve it and how traffic splits.
# ``revision`` grows on every change, so replicas notice a change with one read.
deployments = Table(
    "deployments",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("model", String(100), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("primary_version", Integer, nullable=False),
    Column("candidate_version", Integer),
    Column("previous_version", Integer),
    Column("strategy", String(16), nullable=False),
    Column("weight", Float, nullable=False, default=0.0),
    Column("revision", Integer, nullable=False),
    Column("error", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False, default=""),
)

deployment_history = Table(
    "deployment_history",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), ForeignKey("deployments.name", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("action", String(32), nullable=False),
    Column("before", Text),
    Column("after", Text, nullable=False),
    Column("actor", String(250), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("at", BigInteger, nullable=False),
    Index("ix_deployment_history_name", "name", "entry_id"),
)

# -- prediction logs (migration 0006) -----------------------------------------------------

# One row per Parquet file of logged predictions in the artifact store, so
# readers pick a model's files by day and time range without listing blobs.
prediction_logs = Table(
    "prediction_logs",
    metadata,
    Column("file_id", String(32), primary_key=True),
    Column("model", String(100), nullable=False),
    Column("day", String(10), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("min_timestamp", BigInteger, nullable=False),
    Column("max_timestamp", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_prediction_logs_model_day", "model", "day", "min_timestamp"),
)
