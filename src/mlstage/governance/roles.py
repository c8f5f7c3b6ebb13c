"""Roles, token scopes, and the one table mapping every REST route to an action and its role.

Roles are ordered: viewer < contributor < maintainer < admin. A request is
allowed when the caller's role on the project reaches the route's role. A
token's scope caps its user's role (read: viewer, write: maintainer,
admin: admin), so a token never does more than its user could; a scope
needs a role to be held at all (write: contributor, admin: admin).

``ROUTE_ACTIONS`` is the only place a route's required role is written: the
server checks it on every request, the audit log records its action name,
and the role-matrix test is generated from it. A state-changing route
missing from it requires ``admin`` (fail closed), and a test fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlstage.errors import InvalidInput

ROLES: tuple[str, ...] = ("viewer", "contributor", "maintainer", "admin")
"""Every role, weakest first."""
SCOPES: dict[str, str] = {"read": "viewer", "write": "maintainer", "admin": "admin"}
"""Token scope -> the strongest role a token of that scope acts with."""
SCOPE_NEEDS: dict[str, str] = {"read": "viewer", "write": "contributor", "admin": "admin"}
"""Token scope -> the weakest role that may hold (or create) a token of that scope."""
DEFAULT_PROJECT = "default"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def rank(role: str) -> int:
    """Position of ``role`` in ``ROLES``; raises ``InvalidInput`` for an unknown one."""
    try:
        return ROLES.index(role)
    except ValueError:
        raise InvalidInput(f"role {role!r} does not exist; roles are {', '.join(ROLES)}") from None


def check_role(role: str) -> str:
    rank(role)
    return role


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise InvalidInput(f"token scope {scope!r} does not exist; scopes are {', '.join(SCOPES)}")
    return scope


def allows(role: str | None, needed: str) -> bool:
    """Whether ``role`` reaches ``needed``; no role reaches nothing."""
    return role is not None and role in ROLES and rank(role) >= rank(needed)


def capped(role: str | None, scope: str | None) -> str | None:
    """The role a caller acts with: the user's role, lowered to what the token scope allows."""
    if role is None or scope is None:
        return role
    cap = SCOPES[scope]
    return role if rank(role) <= rank(cap) else cap


def widest_scope(role: str) -> str:
    """The strongest scope a user with ``role`` may give a token."""
    fitting = [s for s, needed in SCOPE_NEEDS.items() if rank(needed) <= rank(role)]
    return max(fitting, key=lambda s: rank(SCOPE_NEEDS[s]))


@dataclass(frozen=True)
class Action:
    """What a route does: the audit name, the role it needs, and what it changes.

    ``object_id`` names the path parameter (or, for creations, the JSON body
    field) that identifies the object; ``audited`` is False only for
    high-frequency telemetry (heartbeats, metric batches), whose effect the
    run itself records.
    """

    name: str
    role: str
    object_type: str
    object_id: str = ""
    audited: bool = True


def _a(name: str, role: str, obj: str, ident: str = "", audited: bool = True) -> Action:
    return Action(name, role, obj, ident, audited)


API = "/api/v1"
REG = f"{API}/registry"
DEP = f"{API}/deployments"
RUN = f"{API}/runs/{{run_id}}"
VERSION = f"{REG}/models/{{name}}/versions/{{version}}"

ROUTE_ACTIONS: dict[tuple[str, str], Action] = {
    # tracking
    ("POST", f"{API}/experiments"): _a("experiment.create", "contributor", "experiment", "name"),
    ("POST", f"{API}/experiments/get-or-create"): _a(
        "experiment.create", "contributor", "experiment", "name"
    ),
    ("DELETE", f"{API}/experiments/{{experiment_id}}"): _a(
        "experiment.delete", "maintainer", "experiment", "experiment_id"
    ),
    ("POST", f"{API}/runs"): _a("run.create", "contributor", "run", "experiment_id"),
    ("POST", f"{API}/runs/search"): _a("run.search", "viewer", "run", audited=False),
    ("POST", f"{API}/runs/heartbeat"): _a("run.heartbeat", "contributor", "run", audited=False),
    ("DELETE", RUN): _a("run.delete", "maintainer", "run", "run_id"),
    ("POST", f"{RUN}/end"): _a("run.end", "contributor", "run", "run_id"),
    ("POST", f"{RUN}/batch"): _a("run.log", "contributor", "run", "run_id", audited=False),
    ("POST", f"{RUN}/inputs"): _a("run.log_inputs", "contributor", "run", "run_id"),
    ("PUT", f"{RUN}/artifacts/{{path:path}}"): _a(
        "artifact.upload", "contributor", "run", "run_id"
    ),
    # registry
    ("POST", f"{REG}/models"): _a("model.create", "contributor", "model", "name"),
    ("PATCH", f"{REG}/models/{{name}}"): _a("model.update", "contributor", "model", "name"),
    ("POST", f"{REG}/versions"): _a("version.create", "contributor", "model", "name"),
    ("PATCH", VERSION): _a("version.update", "contributor", "model", "name"),
    ("POST", f"{VERSION}/status"): _a("version.status", "maintainer", "model", "name"),
    ("PATCH", f"{VERSION}/tags"): _a("version.tags", "contributor", "model", "name"),
    ("PUT", f"{REG}/models/{{name}}/aliases/{{alias}}"): _a(
        "alias.set", "maintainer", "model", "name"
    ),
    ("DELETE", f"{REG}/models/{{name}}/aliases/{{alias}}"): _a(
        "alias.delete", "maintainer", "model", "name"
    ),
    # deployments
    ("PUT", f"{DEP}/{{name}}"): _a("deployment.deploy", "maintainer", "deployment", "name"),
    ("POST", f"{DEP}/{{name}}/promote"): _a(
        "deployment.promote", "maintainer", "deployment", "name"
    ),
    ("POST", f"{DEP}/{{name}}/rollback"): _a(
        "deployment.rollback", "maintainer", "deployment", "name"
    ),
    ("POST", f"{DEP}/{{name}}/errors"): _a(
        "deployment.report_error", "contributor", "deployment", "name"
    ),
    # the request log of prediction services run against a server
    ("POST", f"{API}/prediction-logs"): _a("prediction_log.upload", "contributor", "model"),
    ("POST", f"{API}/feedback"): _a("feedback.add", "contributor", "model"),
    # governance: handlers write their own audit entries, with before and after
    ("GET", f"{API}/users"): _a("user.list", "admin", "user", audited=False),
    ("POST", f"{API}/users"): _a("user.create", "admin", "user", "name", audited=False),
    ("PATCH", f"{API}/users/{{name}}"): _a("user.update", "admin", "user", "name", audited=False),
    ("GET", f"{API}/tokens"): _a("token.list", "viewer", "token", audited=False),
    ("POST", f"{API}/tokens"): _a("token.create", "viewer", "token", audited=False),
    ("DELETE", f"{API}/tokens/{{token_id}}"): _a(
        "token.revoke", "viewer", "token", "token_id", audited=False
    ),
    ("GET", f"{API}/audit"): _a("audit.read", "admin", "audit", audited=False),
    ("GET", "/audit"): _a("audit.read", "admin", "audit", audited=False),
    ("GET", f"{API}/users/me"): _a("user.me", "viewer", "user", audited=False),
    ("POST", "/logout"): _a("session.logout", "viewer", "session", audited=False),
}

SERVING_ROUTE_ACTIONS: dict[tuple[str, str], Action] = {
    # prediction services (``mlstage serve``): asking for predictions is a read of the model;
    # the request log records every prediction, so the audit log does not repeat them.
    ("POST", "/predict"): _a("prediction.predict", "viewer", "model", audited=False),
    ("POST", "/v2/models/{name}/infer"): _a("prediction.infer", "viewer", "model", audited=False),
    ("POST", "/v2/models/{name}/versions/{version}/infer"): _a(
        "prediction.infer", "viewer", "model", audited=False
    ),
    ("POST", "/features/online"): _a("features.lookup", "viewer", "feature_view", audited=False),
    ("POST", "/feedback"): _a("feedback.add", "contributor", "model", audited=False),
}
"""The prediction service's own routes (a separate app, so a separate table)."""

READ = Action("read", "viewer", "", audited=False)
UNMAPPED = Action("unmapped", "admin", "", audited=True)


def action_for(method: str, path: str) -> Action:
    """The action of a route (its path template); reads need a viewer, unknown writes an admin."""
    found = ROUTE_ACTIONS.get((method, path)) or SERVING_ROUTE_ACTIONS.get((method, path))
    if found is not None:
        return found
    return READ if method in SAFE_METHODS else UNMAPPED
