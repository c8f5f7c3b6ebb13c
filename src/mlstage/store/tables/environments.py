"""Environments and the classifications declared on objects (migration 0015)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table, Text

from mlstage.store.tables._meta import metadata

# Where work may run, each with the highest data classification it may hold, and
# optionally its own artifact root, database (URL or schema) and executors (JSON list;
# empty: any executor).
environments = Table(
    "environments",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("max_classification", String(32), nullable=False),
    Column("artifact_root", Text, nullable=False, default=""),
    Column("database", Text, nullable=False, default=""),
    Column("executors", Text, nullable=False, default="[]"),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False, default=""),
)

# A classification a person declared on one object: a dataset (by name), a run (by id)
# or a model version (``name/version``). Everything else is inherited through lineage
# when read (``mlstage.governance.classified``), so no other table changes.
classifications = Table(
    "classifications",
    metadata,
    Column("object_kind", String(16), primary_key=True),
    Column("object_id", String(250), primary_key=True),
    Column("level", String(32), nullable=False),
    Column("declared_by", String(250), nullable=False, default=""),
    Column("declared_at", BigInteger, nullable=False),
)
