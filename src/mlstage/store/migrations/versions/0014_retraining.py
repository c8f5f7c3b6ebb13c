"""Triggers and automated retraining: trigger fires, retrainings and their steps (issue 8).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retrainings",
        sa.Column("retraining_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("trigger", sa.String(length=100), nullable=False),
        sa.Column("trigger_kind", sa.String(length=16), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("trigger_details", sa.Text(), nullable=False),
        sa.Column("pipeline", sa.Text(), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=True),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("candidate_version", sa.Integer(), nullable=True),
        sa.Column("release", sa.Text(), nullable=False),
        sa.Column("release_started_at", sa.BigInteger(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("active", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("retraining_id", name=op.f("pk_retrainings")),
        sa.UniqueConstraint("active", name=op.f("uq_retrainings_active")),
    )
    with op.batch_alter_table("retrainings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_retrainings_deployment_created_at", ["deployment", "created_at"], unique=False
        )

    op.create_table(
        "retraining_events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("retraining_id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=100), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=250), nullable=False),
        sa.Column("trigger", sa.String(length=100), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["retraining_id"],
            ["retrainings.retraining_id"],
            name=op.f("fk_retraining_events_retraining_id_retrainings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_retraining_events")),
    )
    with op.batch_alter_table("retraining_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_retraining_events_retraining_id", ["retraining_id", "event_id"], unique=False
        )
        batch_op.create_index(
            "ix_retraining_events_deployment_at", ["deployment", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("retraining_events", schema=None) as batch_op:
        batch_op.drop_index("ix_retraining_events_deployment_at")
        batch_op.drop_index("ix_retraining_events_retraining_id")
    op.drop_table("retraining_events")
    with op.batch_alter_table("retrainings", schema=None) as batch_op:
        batch_op.drop_index("ix_retrainings_deployment_created_at")
    op.drop_table("retrainings")
