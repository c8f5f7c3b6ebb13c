"""Deployments of registered models and their history of changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("primary_version", sa.Integer(), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=True),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployments")),
    )
    op.create_table(
        "deployment_history",
        sa.Column("entry_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=250), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"],
            ["deployments.name"],
            name=op.f("fk_deployment_history_name_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_deployment_history")),
    )
    with op.batch_alter_table("deployment_history", schema=None) as batch_op:
        batch_op.create_index("ix_deployment_history_name", ["name", "entry_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deployment_history", schema=None) as batch_op:
        batch_op.drop_index("ix_deployment_history_name")

    op.drop_table("deployment_history")
    op.drop_table("deployments")
