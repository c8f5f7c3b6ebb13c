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

# -- pipelines (migration 0010) -----------------------------------------------------------

# One row per distinct graph of a named pipeline: steps, edges, parameters (JSON).
pipeline_definitions = Table(
    "pipeline_definitions",
    metadata,
    Column("definition_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False),
    Column("spec_hash", String(64), nullable=False),
    Column("spec", Text, nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("name", "spec_hash"),
)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column(
        "definition_id",
        Integer,
        ForeignKey("pipeline_definitions.definition_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("pipeline", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("params", Text, nullable=False, default="{}"),
    Column("executor", String(250), nullable=False, default="local"),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger),
    Column("heartbeat_at", BigInteger, nullable=False),
    Column("error", Text, nullable=False, default=""),
    Column("resumed_from", String(32)),
    Column("user", String(250), nullable=False, default=""),
    Column("host", String(250), nullable=False, default=""),
    Index("ix_pipeline_runs_pipeline_start", "pipeline", "start_time"),
    Index("ix_pipeline_runs_status_heartbeat", "status", "heartbeat_at"),
)

# One row per step of a pipeline run. ``cache_key`` hashes the step's code,
# parameters and input hashes: a SUCCEEDED row with the same key is a cache hit.
pipeline_step_runs = Table(
    "pipeline_step_runs",
    metadata,
    Column(
        "pipeline_run_id",
        String(32),
        ForeignKey("pipeline_runs.run_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("step", String(250), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("function", String(500), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cached", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("code_hash", String(64), nullable=False, default=""),
    Column("params_hash", String(64), nullable=False, default=""),
    Column("input_hashes", Text, nullable=False, default="{}"),
    Column("cache_key", String(64), nullable=False, default=""),
    Column("outputs", Text, nullable=False, default="{}"),
    Column("tracking_run_id", String(32)),
    Column("start_time", BigInteger),
    Column("end_time", BigInteger),
    Column("logs", Text, nullable=False, default=""),
    Column("error", Text, nullable=False, default=""),
    Column("traceback", Text, nullable=False, default=""),
    Index("ix_pipeline_step_runs_cache", "cache_key", "status"),
)

pipeline_schedules = Table(
    "pipeline_schedules",
    metadata,
    Column("schedule_id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(250), nullable=False, unique=True),
    Column("target", Text, nullable=False),
    Column("cron", String(100), nullable=False),
    Column("params", Text, nullable=False, default="{}"),
    Column("executor", String(250), nullable=False, default="local"),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("next_due", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Every firing of a schedule; the primary key makes a due time fire at most once,
# whatever the schedulers do.
pipeline_schedule_fires = Table(
    "pipeline_schedule_fires",
    metadata,
    Column(
        "schedule_id",
        Integer,
        ForeignKey("pipeline_schedules.schedule_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("due_time", BigInteger, primary_key=True),
    Column("fired_at", BigInteger, nullable=False),
    Column("scheduler", String(250), nullable=False, default=""),
    Column("pipeline_run_id", String(32)),
)

# The scheduler leader's lease: one row, renewed by its holder before it expires.
scheduler_leases = Table(
    "scheduler_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(250), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# -- monitoring (migration 0012) ----------------------------------------------------------

# Ground truth that arrives after the prediction: one label a logged prediction. ``model``
# and ``predicted_at`` are copied from the request log when the label is accepted, so a
# window's labels are one indexed range read, never a scan of the logs.
feedback = Table(
    "feedback",
    metadata,
    Column("prediction_id", String(64), primary_key=True),
    Column("model", String(100), nullable=False),
    Column("predicted_at", BigInteger, nullable=False),
    Column("label", Text, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("source", String(250), nullable=False, default=""),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_feedback_model_predicted_at", "model", "predicted_at"),
)

# Every metric a monitor check computed: a time series per subject, monitor and metric.
monitor_results = Table(
    "monitor_results",
    metadata,
    Column("result_id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(200), nullable=False),
    Column("model", String(100), nullable=False),
    Column("deployment", String(100)),
    Column("monitor", String(100), nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("metric", String(250), nullable=False),
    Column("value", Float),
    Column("status", String(8), nullable=False),
    Column("details", Text, nullable=False, default="{}"),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_monitor_results_subject_window", "subject", "window_end", "monitor", "metric"),
)

# One row per alert sent (or being sent): the unique key is claimed in a transaction
# before anything leaves, so two schedulers deliver an alert once.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("rule", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=False, default=""),
    Column("payload", Text, nullable=False),
    Column("claimed_by", String(250), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("rule", "subject", "window_start", "window_end"),
    Index("ix_alert_deliveries_rule_subject_created", "rule", "subject", "created_at"),
)

# -- maturity assessments (migration 0013) ------------------------------------------------

# A person's answer to a check records cannot prove (``mlstage assess --answer``);
# the newest answer per check counts, and it goes stale after 90 days.
assessment_answers = Table(
    "assessment_answers",
    metadata,
    Column("check_id", String(8), primary_key=True),
    Column("answer", Boolean, nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("answered_by", String(250), nullable=False),
    Column("answered_at", BigInteger, nullable=False),
)

# Every assessment taken, for the history of the stage over time.
assessments = Table(
    "assessments",
    metadata,
    Column("assessment_id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("stage", Integer, nullable=False),
    Column("passed", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("report", Text, nullable=False),
    Index("ix_assessments_at", "at"),
)
