"""Compact pictures of an object, taken before and after a change for the audit log.

One small read per picture, of what a reviewer wants to see change: a run's
status and stage, an experiment's name and stage, a model's description,
owner, aliases and version statuses, a deployment's versions and traffic
split. Creations have no "before"; deletions keep the deleted state.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from mlstage.store import tables as t


def snapshot(conn: Connection, object_type: str, object_id: str) -> dict[str, Any] | None:
    """The object's audited fields, or ``None`` if it does not exist (or has no picture)."""
    taker = _TAKERS.get(object_type)
    return None if taker is None or not object_id else taker(conn, object_id)


def _run(conn: Connection, run_id: str) -> dict[str, Any] | None:
    r = t.runs.c
    row = conn.execute(
        select(r.name, r.status, r.lifecycle_stage, r.end_time).where(r.run_id == run_id)
    ).first()
    return None if row is None else dict(row._mapping)


def _experiment(conn: Connection, experiment_id: str) -> dict[str, Any] | None:
    if not experiment_id.isdigit() or len(experiment_id) > 18:
        return None
    e = t.experiments.c
    row = conn.execute(
        select(e.name, e.lifecycle_stage).where(e.experiment_id == int(experiment_id))
    ).first()
    return None if row is None else dict(row._mapping)


def _model(conn: Connection, name: str) -> dict[str, Any] | None:
    m = t.registered_models.c
    row = conn.execute(select(m.model_id, m.description, m.owner).where(m.name == name)).first()
    if row is None:
        return None
    a, v = t.model_aliases.c, t.model_versions.c
    aliases = conn.execute(select(a.alias, a.version).where(a.model_id == row.model_id))
    versions = conn.execute(select(v.version, v.status).where(v.model_id == row.model_id))
    return {
        "description": row.description,
        "owner": row.owner,
        "aliases": {alias: version for alias, version in aliases},
        "versions": {str(version): status for version, status in versions},
    }


def _deployment(conn: Connection, name: str) -> dict[str, Any] | None:
    d = t.deployments.c
    row = conn.execute(
        select(
            d.model,
            d.environment,
            d.primary_version,
            d.candidate_version,
            d.strategy,
            d.weight,
            d.revision,
        ).where(d.name == name)
    ).first()
    return None if row is None else dict(row._mapping)


_TAKERS = {
    "run": _run,
    "experiment": _experiment,
    "model": _model,
    "deployment": _deployment,
}
