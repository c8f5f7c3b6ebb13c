"""The role matrix (S10), generated from ``ROUTE_ACTIONS``, and the audit entries it leaves.

For every state-changing route the live app serves: a user one role below
the route's role gets 403 and no row of any table changes (read after);
a user with the role is let through, and a successful change is audited.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mlstage.governance.roles import ROLES, ROUTE_ACTIONS, SAFE_METHODS, UNMAPPED, action_for, rank
from tests.server.auth_support import Secured, client, secured, snapshot
from tests.server.test_auth import FILL, every_route

__all__ = ["client", "secured"]  # fixtures

MATRIX = sorted(
    (method, path)
    for (method, path), action in ROUTE_ACTIONS.items()
    if method not in SAFE_METHODS and rank(action.role) > 0
)
"""Every mutating route with a role below it to try: generated, never hand-listed."""


def seed(secured: Secured) -> dict[str, str]:
    """An experiment and a run to aim the requests at; the path values to use."""
    store = secured.app.state.stores.tracking()
    experiment = store.create_experiment("seeded")
    run = store.create_run(experiment.experiment_id, "r")
    return FILL | {"experiment_id": str(experiment.experiment_id), "run_id": run.run_id}


def body_for(path: str, values: dict[str, str]) -> dict[str, Any]:
    """A body the route would accept, where one is cheap to write."""
    if path == "/api/v1/experiments":
        return {"name": "new-experiment"}
    if path == "/api/v1/runs":
        return {"experiment_id": values["experiment_id"]}
    if path.endswith("/end"):
        return {"status": "FINISHED"}
    if path.endswith("/inputs"):
        return {"inputs": []}
    if path == "/api/v1/users":
        return {"name": "newcomer", "role": "viewer"}
    if path == "/api/v1/registry/models":
        return {"name": "m"}
    return {}


def send(
    client: httpx.Client,
    method: str,
    path: str,
    values: dict[str, str],
    role: str,
    secured: Secured,
) -> httpx.Response:
    url = path
    for key, value in values.items():
        url = url.replace(f"{{{key}:path}}", value).replace(f"{{{key}}}", value)
    headers = secured.headers(role)
    if "{path:path}" in path:
        return client.request(method, url, content=b"data", headers=headers)
    return client.request(method, url, json=body_for(path, values), headers=headers)


def test_every_mutating_route_of_the_live_app_has_a_role(secured: Secured) -> None:
    unmapped = [
        (method, path)
        for method, path in every_route(secured.app)
        if method not in SAFE_METHODS and action_for(method, path) is UNMAPPED
    ]
    assert unmapped == [], "add these routes to mlstage.governance.roles.ROUTE_ACTIONS"
    live = set(every_route(secured.app))
    assert set(MATRIX) <= live, "ROUTE_ACTIONS names routes the app does not serve"


@pytest.mark.parametrize(("method", "path"), MATRIX, ids=[f"{m} {p}" for m, p in MATRIX])
def test_one_role_below_gets_403_and_changes_nothing(
    secured: Secured, client: httpx.Client, method: str, path: str
) -> None:
    action = ROUTE_ACTIONS[(method, path)]
    below = ROLES[rank(action.role) - 1]
    values = seed(secured)
    before = snapshot(secured.gov.db)
    response = send(client, method, path, values, below, secured)
    assert response.status_code == 403, response.text
    assert action.role in response.json()["error"]["message"]
    assert snapshot(secured.gov.db) == before

    allowed = send(client, method, path, values, action.role, secured)
    assert allowed.status_code not in (401, 403), allowed.text
    if allowed.status_code < 400 and action.audited:
        entries = secured.gov.audit_entries(action=action.name, actor=action.role)
        assert entries, f"{action.name} left no audit entry"
        assert entries[-1].object_type == action.object_type


def test_a_day_of_work_is_in_the_audit_log(secured: Secured, client: httpx.Client) -> None:
    def call(method: str, url: str, role: str = "contributor", **kwargs: Any) -> Any:
        response = client.request(method, url, headers=secured.headers(role), **kwargs)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    experiment = call("POST", "/api/v1/experiments", json={"name": "churn"})
    run = call("POST", "/api/v1/runs", json={"experiment_id": experiment["experiment_id"]})
    run_id = run["run_id"]
    call("POST", f"/api/v1/runs/{run_id}/batch", json={"params": {"C": "1"}})
    call("PUT", f"/api/v1/runs/{run_id}/artifacts/notes.txt", content=b"hi")
    call("POST", f"/api/v1/runs/{run_id}/end", json={"status": "FINISHED"})
    call("DELETE", f"/api/v1/runs/{run_id}", role="maintainer")
    entries = secured.gov.audit_entries(action="")
    seen = [(e.actor, e.action, e.object_id) for e in entries if e.object_type != "user"]
    seen = [s for s in seen if not s[1].startswith("token.")]
    assert seen == [
        ("contributor", "experiment.create", "churn"),
        ("contributor", "run.create", experiment["experiment_id"]),
        ("contributor", "artifact.upload", run_id),
        ("contributor", "run.end", run_id),
        ("maintainer", "run.delete", run_id),
    ]
    assert all(e.address == "testclient" for e in entries if e.actor == "contributor")
    failed = client.delete(f"/api/v1/runs/{run_id}", headers=secured.headers("contributor"))
    assert failed.status_code == 403
    assert len(secured.gov.audit_entries()) == len(entries)  # refusals change nothing


def test_admins_read_and_export_the_audit_log(secured: Secured, client: httpx.Client) -> None:
    client.post(
        "/api/v1/experiments",
        json={"name": '=HYPERLINK("http://evil","x")'},
        headers=secured.headers("contributor"),
    )
    assert client.get("/api/v1/audit", headers=secured.headers("maintainer")).status_code == 403
    listed = client.get(
        "/api/v1/audit", params={"action": "experiment.create"}, headers=secured.headers("admin")
    ).json()["entries"]
    assert [e["object_id"] for e in listed] == ['=HYPERLINK("http://evil","x")']
    exported = client.get(
        "/api/v1/audit", params={"format": "csv"}, headers=secured.headers("admin")
    )
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    assert "'=HYPERLINK" in exported.text and ",=HYPERLINK" not in exported.text
