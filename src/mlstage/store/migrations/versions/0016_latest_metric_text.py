"""Each latest metric also as the JSON member '"key":value', for searches of thousands of runs.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BATCH = 10_000
_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _json_member(key: str, value: float | None) -> str:
    # As mlstage.tracking.sql_json.json_member at the time of writing (a migration is frozen).
    if value is None:
        return f"{json.dumps(key, ensure_ascii=False)}:NaN"
    text = repr(float(value))
    return f"{json.dumps(key, ensure_ascii=False)}:{_SPECIAL.get(text, text)}"


def upgrade() -> None:
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("json_member", sa.String(length=300), nullable=True))
    latest = sa.table(
        "latest_metrics",
        sa.column("run_id", sa.String),
        sa.column("key", sa.String),
        sa.column("value", sa.Float),
        sa.column("json_member", sa.String),
    )
    conn = op.get_bind()
    fill = (
        sa.update(latest)
        .where(latest.c.run_id == sa.bindparam("b_run_id"), latest.c.key == sa.bindparam("b_key"))
        .values(json_member=sa.bindparam("b_json"))
    )
    rows = conn.execute(sa.select(latest.c.run_id, latest.c.key, latest.c.value)).all()
    for start in range(0, len(rows), _BATCH):
        conn.execute(
            fill,
            [
                {"b_run_id": run_id, "b_key": key, "b_json": _json_member(key, value)}
                for run_id, key, value in rows[start : start + _BATCH]
            ],
        )
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.alter_column("json_member", existing_type=sa.String(length=300), nullable=False)
        batch_op.drop_index("ix_latest_metrics_run_key_value")
        batch_op.create_index(
            "ix_latest_metrics_run_key_value",
            ["run_id", "key", "value", "json_member"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("latest_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_latest_metrics_run_key_value")
        batch_op.create_index(
            "ix_latest_metrics_run_key_value", ["run_id", "key", "value"], unique=False
        )
        batch_op.drop_column("json_member")
