"""The metadata tables, as SQLAlchemy Core.

Core rather than the ORM: metric inserts and searches are hot paths, and rows
never leave the store anyway (each store converts them to pydantic entities).
Every schema change goes through an Alembic migration in ``migrations/``.
Times are integers: milliseconds since the Unix epoch, as in MLflow.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
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
    # Covering indexes: filter by (key, value), join and order by (run_id, key) -> value.
    Index("ix_latest_metrics_key_value", "key", "value", "run_id"),
    Index("ix_latest_metrics_run_key_value", "run_id", "key", "value"),
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

# -- governance (migration 0007) ----------------------------------------------------------

# Projects own experiments and models; role grants are per project. A "default"
# project exists from the migration on, and every object belongs to it for now.
projects = Table(
    "projects",
    metadata,
    Column("project_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

# People and programs that sign in. ``password_hash`` is scrypt with its own
# salt and parameters (``mlstage.governance.passwords``); NULL means no password.
users = Table(
    "users",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("password_hash", Text),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

role_grants = Table(
    "role_grants",
    metadata,
    Column("user_id", Integer, ForeignKey("users.user_id", ondelete="CASCADE"), primary_key=True),
    Column(
        "project_id",
        Integer,
        ForeignKey("projects.project_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("role", String(16), nullable=False),
)

# API tokens: only the sha256 of the secret is kept; the secret is shown once.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scope", String(8), nullable=False),
    Column("description", String(250), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("revoked_at", BigInteger),
    Index("ix_api_tokens_user", "user_id"),
)

# Browser sessions of the web UI: the cookie's sha256, never the cookie itself.
sessions = Table(
    "sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_sessions_user", "user_id"),
)

# Append-only: every mutation, who made it, from where, and (where cheap) before and after.
audit_log = Table(
    "audit_log",
    metadata,
    Column("entry_id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(250), nullable=False, default=""),
    Column("before", Text),
    Column("after", Text),
    Column("address", String(64), nullable=False, default=""),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor", "actor", "entry_id"),
)
