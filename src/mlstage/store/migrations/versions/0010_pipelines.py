"""Pipelines: definitions, runs, step runs, schedules, leader lease (issue 7).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_definitions",
        sa.Column("definition_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("definition_id", name=op.f("pk_pipeline_definitions")),
        sa.UniqueConstraint(
            "name", "spec_hash", name=op.f("uq_pipeline_definitions_name_spec_hash")
        ),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=250), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("executor", sa.String(length=250), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("resumed_from", sa.String(length=32), nullable=True),
        sa.Column("user", sa.String(length=250), nullable=False),
        sa.Column("host", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["pipeline_definitions.definition_id"],
            name=op.f("fk_pipeline_runs_definition_id_pipeline_definitions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_pipeline_runs")),
    )
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pipeline_runs_pipeline_start", ["pipeline", "start_time"], unique=False
        )
        batch_op.create_index(
            "ix_pipeline_runs_status_heartbeat", ["status", "heartbeat_at"], unique=False
        )

    op.create_table(
        "pipeline_step_runs",
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=250), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("function", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("input_hashes", sa.Text(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("tracking_run_id", sa.String(length=32), nullable=True),
        sa.Column("start_time", sa.BigInteger(), nullable=True),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("logs", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("traceback", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_run_id"],
            ["pipeline_runs.run_id"],
            name=op.f("fk_pipeline_step_runs_pipeline_run_id_pipeline_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pipeline_run_id", "step", name=op.f("pk_pipeline_step_runs")),
    )
    with op.batch_alter_table("pipeline_step_runs", schema=None) as batch_op:
        batch_op.create_index("ix_pipeline_step_runs_cache", ["cache_key", "status"], unique=False)

    op.create_table(
        "pipeline_schedules",
        sa.Column("schedule_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("executor", sa.String(length=250), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_due", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("schedule_id", name=op.f("pk_pipeline_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_pipeline_schedules_name")),
    )
    op.create_table(
        "pipeline_schedule_fires",
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("due_time", sa.BigInteger(), nullable=False),
        sa.Column("fired_at", sa.BigInteger(), nullable=False),
        sa.Column("scheduler", sa.String(length=250), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["pipeline_schedules.schedule_id"],
            name=op.f("fk_pipeline_schedule_fires_schedule_id_pipeline_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "due_time", name=op.f("pk_pipeline_schedule_fires")),
    )
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=250), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_leases")),
    )


def downgrade() -> None:
    op.drop_table("scheduler_leases")
    op.drop_table("pipeline_schedule_fires")
    op.drop_table("pipeline_schedules")
    with op.batch_alter_table("pipeline_step_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_pipeline_step_runs_cache")

    op.drop_table("pipeline_step_runs")
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_pipeline_runs_status_heartbeat")
        batch_op.drop_index("ix_pipeline_runs_pipeline_start")

    op.drop_table("pipeline_runs")
    op.drop_table("pipeline_definitions")
