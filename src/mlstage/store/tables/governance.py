"""Projects, users, tokens, sessions, audit log, maturity assessments (migrations 0007, 0013)."""

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
)

from mlstage.store.tables._meta import metadata

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
