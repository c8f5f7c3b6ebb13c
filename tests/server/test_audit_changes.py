"""The audit log keeps what a change did: the object before and after, not just the call."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import FastAPI

from mlstage.models.sql_store import SqlRegistryStore
from mlstage.tracking.sql_store import SqlTrackingStore
from tests.server.auth_support import Secured, secured

__all__ = ["secured"]  # fixture


def test_deleting_a_run_records_its_state_before_and_after(
    secured: Secured, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    client = client_for(secured.app)
    tracking = SqlTrackingStore.shared(secured.settings.tracking_uri, secured.settings)
    run_id = tracking.create_run(tracking.create_experiment("audited").experiment_id).run_id

    answer = client.delete(f"/api/v1/runs/{run_id}", headers=secured.headers("maintainer"))
    assert answer.is_success, answer.text

    [entry] = secured.gov.audit_entries(action="run.delete")
    assert (entry.actor, entry.object_id) == ("maintainer", run_id)
    assert entry.before["lifecycle_stage"] == "active"
    assert entry.after["state"]["lifecycle_stage"] == "deleted"
    assert entry.after["path"] == f"/api/v1/runs/{run_id}"


def test_a_model_update_records_the_old_and_new_description(
    secured: Secured, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    client = client_for(secured.app)
    registry = SqlRegistryStore.shared(secured.settings.tracking_uri, secured.settings)
    registry.create_registered_model("churn", description="first words")

    answer = client.patch(
        "/api/v1/registry/models/churn",
        json={"description": "better words"},
        headers=secured.headers("contributor"),
    )
    assert answer.is_success, answer.text

    [entry] = secured.gov.audit_entries(action="model.update")
    assert entry.before["description"] == "first words"
    assert entry.after["state"]["description"] == "better words"
    assert entry.after["state"]["aliases"] == {}


def test_a_refused_change_leaves_no_entry(
    secured: Secured, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    client = client_for(secured.app)
    registry = SqlRegistryStore.shared(secured.settings.tracking_uri, secured.settings)
    registry.create_registered_model("churn")
    answer = client.patch(
        "/api/v1/registry/models/churn",
        json={"description": "x"},
        headers=secured.headers("viewer"),
    )
    assert answer.status_code == 403
    assert secured.gov.audit_entries(action="model.update") == []


def test_the_audit_page_filters_and_exports_for_admins_only(
    secured: Secured, client_for: Callable[[FastAPI], httpx.Client]
) -> None:
    client = client_for(secured.app)
    tracking = SqlTrackingStore.shared(secured.settings.tracking_uri, secured.settings)
    run_id = tracking.create_run(tracking.create_experiment("=cmd|x").experiment_id).run_id
    client.delete(f"/api/v1/runs/{run_id}", headers=secured.headers("maintainer"))
    admin = secured.headers("admin")

    page = client.get("/audit", headers=admin)
    assert page.status_code == 200
    assert "run.delete" in page.text and run_id in page.text
    assert "user.create" in page.text  # the users made for the test, by the CLI store
    only = client.get("/audit", params={"action": "run.", "since": "1d"}, headers=admin)
    assert "run.delete" in only.text and "user.create" not in only.text
    assert 'href="/audit"' in page.text  # the admin sees it in the navigation

    viewer = client.get("/audit", headers=secured.headers("viewer"))
    assert viewer.status_code == 403
    home = client.get("/experiments", headers=secured.headers("viewer"))
    assert 'href="/audit"' not in home.text  # and a viewer does not
    bad = client.get("/audit", params={"since": "yesterday"}, headers=admin)
    assert bad.status_code == 400 and "neither a date" in bad.text

    export = client.get("/api/v1/audit", params={"format": "csv", "action": "run."}, headers=admin)
    assert export.headers["content-disposition"].startswith("attachment")
    assert "run.delete" in export.text
