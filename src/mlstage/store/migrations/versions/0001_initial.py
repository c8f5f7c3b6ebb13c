"""The first tables: experiments, runs, params, tags, metrics, datasets, artifacts.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("experiment_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", name="pk_experiments"),
        sa.UniqueConstraint("name", name="uq_experiments_name"),
    )
    op.create_table(
        "experiment_tags",
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "key", name="pk_experiment_tags"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_experiment_tags_experiment_id_experiments",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
        sa.Column("start_time", sa.BigInteger, nullable=False),
        sa.Column("end_time", sa.BigInteger),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
        sa.Column("user", sa.String(250), nullable=False),
        sa.Column("host", sa.String(250), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("git_commit", sa.String(64)),
        sa.Column("git_dirty", sa.Boolean),
        sa.Column("python_version", sa.String(32), nullable=False),
        sa.Column("packages", sa.Text, nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name="fk_runs_experiment_id_experiments",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_runs_experiment_start", "runs", ["experiment_id", "start_time"])
    op.create_index("ix_runs_status_heartbeat", "runs", ["status", "heartbeat_at"])
    for name, value_type in (("params", sa.Text), ("tags", sa.Text)):
        op.create_table(
            name,
            sa.Column("run_id", sa.String(32), nullable=False),
            sa.Column("key", sa.String(250), nullable=False),
            sa.Column("value", value_type, nullable=False),
            sa.PrimaryKeyConstraint("run_id", "key", name=f"pk_{name}"),
            sa.ForeignKeyConstraint(
                ["run_id"], ["runs.run_id"], name=f"fk_{name}_run_id_runs", ondelete="CASCADE"
            ),
        )
    op.create_table(
        "metrics",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float(precision=53)),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name="fk_metrics_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_metrics_run_key_step", "metrics", ["run_id", "key", "step"])
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float(precision=53)),
        sa.PrimaryKeyConstraint("run_id", "key", name="pk_latest_metrics"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name="fk_latest_metrics_run_id_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])
    op.create_table(
        "datasets",
        sa.Column("dataset_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("num_rows", sa.BigInteger, nullable=False),
        sa.Column("num_columns", sa.Integer, nullable=False),
        sa.Column("schema", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", name="pk_datasets"),
        sa.UniqueConstraint("name", "digest", name="uq_datasets_name_digest"),
    )
    op.create_table(
        "run_inputs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("dataset_id", sa.Integer, nullable=False),
        sa.Column("context", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "dataset_id", "context", name="pk_run_inputs"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name="fk_run_inputs_run_id_runs", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.dataset_id"],
            name="fk_run_inputs_dataset_id_datasets",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "artifacts",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "path", name="pk_artifacts"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name="fk_artifacts_run_id_runs", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    for name in (
        "artifacts",
        "run_inputs",
        "datasets",
        "latest_metrics",
        "metrics",
        "tags",
        "params",
        "runs",
        "experiment_tags",
        "experiments",
    ):
        op.drop_table(name)
