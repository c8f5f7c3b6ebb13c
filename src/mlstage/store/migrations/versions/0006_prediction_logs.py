"""Index of the request log: one row per Parquet file of logged predictions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_logs",
        sa.Column("file_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("min_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("max_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_prediction_logs")),
    )
    with op.batch_alter_table("prediction_logs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prediction_logs_model_day", ["model", "day", "min_timestamp"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_logs", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_logs_model_day")

    op.drop_table("prediction_logs")
