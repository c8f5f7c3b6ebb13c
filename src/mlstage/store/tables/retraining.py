"""Automated retraining: each retraining of a deployment and its append-only steps (0014)."""

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

# -- retraining (migration 0014) ----------------------------------------------------------

# One row a retraining: its current state and what it produced. ``active`` holds the
# deployment's name while the retraining is in flight and NULL once it ends: its unique
# constraint is what lets a trigger start at most one retraining of a deployment at a time,
# even with two schedulers racing (NULLs do not collide, on SQLite or PostgreSQL).
retrainings = Table(
    "retrainings",
    metadata,
    Column("retraining_id", Integer, primary_key=True, autoincrement=True),
    Column("deployment", String(100), nullable=False),
    Column("model", String(100), nullable=False),
    Column("state", String(24), nullable=False),
    Column("trigger", String(100), nullable=False),
    Column("trigger_kind", String(16), nullable=False),
    Column("observed", Float),
    Column("threshold", Float),
    Column("trigger_details", Text, nullable=False, default="{}"),
    Column("pipeline", Text, nullable=False),
    Column("params", Text, nullable=False, default="{}"),
    Column("pipeline_run_id", String(32)),
    Column("champion_version", Integer),
    Column("candidate_version", Integer),
    Column("release", Text, nullable=False, default="{}"),
    Column("release_started_at", BigInteger),
    Column("decision", Text, nullable=False, default="{}"),
    Column("reason", Text, nullable=False, default=""),
    Column("active", String(100), unique=True),
    Column("created_by", String(250), nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Index("ix_retrainings_deployment_created_at", "deployment", "created_at"),
)

# Every transition of a retraining, never updated: when, by whom, and the trigger behind it.
retraining_events = Table(
    "retraining_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column(
        "retraining_id",
        Integer,
        ForeignKey("retrainings.retraining_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("deployment", String(100), nullable=False),
    Column("from_state", String(24)),
    Column("state", String(24), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(250), nullable=False, default=""),
    Column("trigger", String(100), nullable=False),
    Column("observed", Float),
    Column("threshold", Float),
    Column("reason", Text, nullable=False, default=""),
    Column("details", Text, nullable=False, default="{}"),
    Index("ix_retraining_events_retraining_id", "retraining_id", "event_id"),
    Index("ix_retraining_events_deployment_at", "deployment", "at"),
)
