"""Per-object project scoping: project_id on experiments and registered models (issue 5).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


SCOPED = ("experiments", "registered_models")


def upgrade() -> None:
    # Every existing experiment and model lands in the "default" project (id 1 since 0007).
    for table in SCOPED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("project_id", sa.Integer(), server_default="1", nullable=False)
            )
            batch_op.create_index(f"ix_{table}_project", ["project_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_project_id_projects"),
                "projects",
                ["project_id"],
                ["project_id"],
            )


def downgrade() -> None:
    for table in SCOPED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                batch_op.f(f"fk_{table}_project_id_projects"), type_="foreignkey"
            )
            batch_op.drop_index(f"ix_{table}_project")
            batch_op.drop_column("project_id")
