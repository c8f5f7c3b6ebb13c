"""Environments and data classification: environments, classifications of objects (issue 9).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "environments",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("max_classification", sa.String(length=32), nullable=False),
        sa.Column("artifact_root", sa.Text(), nullable=False),
        sa.Column("database", sa.Text(), nullable=False),
        sa.Column("executors", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=250), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_environments")),
    )
    op.create_table(
        "classifications",
        sa.Column("object_kind", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=250), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("declared_by", sa.String(length=250), nullable=False),
        sa.Column("declared_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("object_kind", "object_id", name=op.f("pk_classifications")),
    )


def downgrade() -> None:
    op.drop_table("classifications")
    op.drop_table("environments")
