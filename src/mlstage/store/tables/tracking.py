"""Experiments, runs and what they log (migrations 0001, 0003, 0004)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlstage.store.tables._meta import metadata

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # migration 0011: the project whose role grants decide who sees and changes it
    Column(
        "project_id",
        Integer,
        ForeignKey("projects.project_id"),
        nullable=False,
        server_default="1",
    ),
    Index("ix_experiments_project", "project_id"),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column(
        "experiment_id",
        Integer,
        ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("heartbeat_at", BigInteger, nullable=False),
    Column("user", String(250), nullable=False, default=""),
    Column("host", String(250), nullable=False, default=""),
    Column("source", Text, nullable=False, default=""),
    Column("command", Text, nullable=False, default=""),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("python_version", String(32), nullable=False, default=""),
    Column("packages", Text, nullable=False, default="{}"),
    Column("status_reason", Text, nullable=False, default=""),
    Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
    # Covers what a search joins on and sorts by, so it never reads the wide run rows.
    Index("ix_runs_search", "run_id", "experiment_id", "lifecycle_stage", "start_time"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

# Every point logged. NaN is stored as NULL (SQLite turns NaN into NULL anyway,
# so both databases read it back the same way).
metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53)),
    # Covering, in history order: a metric history is one index range scan.
    Index("ix_metrics_history", "run_id", "key", "step", "timestamp", "value"),
)

# The point with the highest (step, timestamp) per run and key: what searches
# filter and order by, kept current on every write.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("value", Float(precision=53)),
    # This metric as a member of its run's JSON object, '"key":value' (the value as the
    # exact token Python's repr writes; NaN, Infinity, -Infinity), written with it: a search
    # reads whole runs as text aggregated in SQL, without a row per metric reaching Python
    # (``tracking/sql_run_reads.py``).
    Column("json_member", String(300), nullable=False),
    # Covering indexes: filter by (key, value), join and order by (run_id, key) -> value,
    # and a run's metrics as text.
    Index("ix_latest_metrics_key_value", "key", "value", "run_id"),
    Index("ix_latest_metrics_run_key_value", "run_id", "key", "value", "json_member"),
)

# Ids of log_batch calls already applied: a client retrying a batch whose
# acknowledgement was lost sends the same id, and the batch is not stored twice.
logged_batches = Table(
    "logged_batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("schema", Text, nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("name", "digest"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column(
        "dataset_id",
        Integer,
        ForeignKey("datasets.dataset_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("context", String(64), primary_key=True),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
