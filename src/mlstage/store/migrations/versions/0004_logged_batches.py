"""Ids of applied log batches: a retried batch whose answer was lost is stored once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logged_batches",
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name="fk_logged_batches_run_id_runs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("batch_id", name="pk_logged_batches"),
    )


def downgrade() -> None:
    op.drop_table("logged_batches")
