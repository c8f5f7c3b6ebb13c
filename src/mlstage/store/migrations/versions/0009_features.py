"""Feature store registry: entities, feature views, materialisation state (issue 6).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_entities",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_feature_entities")),
    )
    op.create_table(
        "feature_views",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_feature_views")),
    )
    op.create_table(
        "feature_materializations",
        sa.Column("view", sa.String(length=100), nullable=False),
        sa.Column("online_store", sa.String(length=250), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["view"],
            ["feature_views.name"],
            name=op.f("fk_feature_materializations_view_feature_views"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("view", "online_store", name=op.f("pk_feature_materializations")),
    )


def downgrade() -> None:
    op.drop_table("feature_materializations")
    op.drop_table("feature_views")
    op.drop_table("feature_entities")
