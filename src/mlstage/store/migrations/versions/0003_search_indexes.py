"""Covering indexes for run search and metric history.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_metrics_run_key_step")
        batch_op.create_index(
            "ix_metrics_history", ["run_id", "key", "step", "timestamp", "value"], unique=False
        )
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_latest_metrics_key_value"))
        batch_op.create_index(
            "ix_latest_metrics_key_value", ["key", "value", "run_id"], unique=False
        )
        batch_op.create_index(
            "ix_latest_metrics_run_key_value", ["run_id", "key", "value"], unique=False
        )

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_runs_search",
            ["run_id", "experiment_id", "lifecycle_stage", "start_time"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_metrics_history")
        batch_op.create_index("ix_metrics_run_key_step", ["run_id", "key", "step"], unique=False)
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_search")

    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_latest_metrics_run_key_value")
        batch_op.drop_index("ix_latest_metrics_key_value")
        batch_op.create_index(
            batch_op.f("ix_latest_metrics_key_value"), ["key", "value"], unique=False
        )
