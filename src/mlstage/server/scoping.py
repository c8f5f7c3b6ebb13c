"""The project of the object a request's path names, checked before the handler runs.

Every REST and UI route that acts on one object names it in its path:
``{run_id}``, ``{experiment_id}``, or ``{name}`` of a registered model or a
deployment. One light query finds the object's project, and the caller's
scope (``mlstage.governance.scope``) refuses it: 404 when the caller cannot
read that project, 403 when they can read but the action needs more. An
object that does not exist passes here and the handler answers 404 itself,
so both cases look the same from outside. Lists and searches are filtered
by the stores themselves.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select

from mlstage.governance.scope import ProjectScope
from mlstage.store import tables as t


def check_object_project(request: Request, scope: ProjectScope) -> None:
    """Refuse the request if its path names an object outside the caller's projects."""
    params = request.path_params
    if not params:
        return
    found = _project_of(request, params)
    if found is not None:
        project_id, what = found
        scope.check(project_id, what)


def _project_of(request: Request, params: dict[str, Any]) -> tuple[int, str] | None:
    db = request.app.state.stores.tracking().db
    path = getattr(request.scope.get("route"), "path", "")
    e, r = t.experiments.c, t.runs.c
    if "run_id" in params:
        run_id = str(params["run_id"])
        query: Any = select(e.project_id).join_from(t.runs, t.experiments).where(r.run_id == run_id)
        what = f"run {run_id!r}"
    elif "experiment_id" in params:
        raw = str(params["experiment_id"])
        if not raw.isdigit() or len(raw) > 18:
            return None
        query = select(e.project_id).where(e.experiment_id == int(raw))
        what = f"experiment {raw!r}"
    elif "name" in params and "deployments" in path:
        name = str(params["name"])
        query = (
            select(t.registered_models.c.project_id)
            .join_from(
                t.deployments,
                t.registered_models,
                t.registered_models.c.name == t.deployments.c.model,
            )
            .where(t.deployments.c.name == name)
        )
        what = f"deployment {name!r}"
    elif "name" in params and "models" in path:
        from mlstage.errors import InvalidInput
        from mlstage.models.names import canonical_model_name

        name = str(params["name"])
        try:
            canonical = canonical_model_name(name)
        except InvalidInput:
            return None  # the handler refuses the name with its own message
        m = t.registered_models.c
        query = select(m.project_id).where(m.canonical_name == canonical)
        what = f"registered model {name!r}"
    else:
        return None
    with db.read() as conn:
        project_id = conn.execute(query).scalar()
    return None if project_id is None else (int(project_id), what)
