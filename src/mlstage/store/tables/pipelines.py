"""Pipelines, their runs and schedules (migration 0010)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlstage.store.tables._meta import metadata

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
