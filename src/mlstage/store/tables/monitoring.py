"""Feedback, monitor results and alert deliveries (migration 0012)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from mlstage.store.tables._meta import metadata

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
