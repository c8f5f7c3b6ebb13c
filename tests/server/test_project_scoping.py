"""Per-project roles: objects of a project a caller cannot read are not there for them.

Two projects: ``default`` (experiment "open") and ``fraud`` (experiment
"secret", a run, and a model registered from it). The user ``fiona`` holds
a role in ``fraud`` only; the ``viewer`` user in ``default`` only. Neither
sees the other's objects in lists, searches or by id (404, never 403,
whose message would confirm that the object exists).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from mlstage.tracking.sql_store import SqlTrackingStore
from tests.server.auth_support import DAY, PASSWORD, Secured, secured

__all__ = ["secured"]  # fixture


@dataclass
class World:
    client: httpx.Client
    secured: Secured
    fiona: dict[str, str]
    open_exp: str
    secret_exp: str
    open_run: str
    secret_run: str


@pytest.fixture
def world(secured: Secured, client_for: Callable[[FastAPI], httpx.Client]) -> World:
    gov = secured.gov
    gov.create_project("fraud")
    gov.create_user("fiona", "viewer", PASSWORD)
    gov.grant("fiona", "fraud", "contributor")
    gov.grant("fiona", "default", None)
    fiona = {"Authorization": "Bearer " + gov.create_token("fiona", "write", DAY).secret}

    tracking = SqlTrackingStore.shared(secured.settings.tracking_uri, secured.settings)
    open_exp = tracking.create_experiment("open").experiment_id
    secret_exp = tracking.create_experiment("secret", project="fraud").experiment_id
    open_run = tracking.create_run(open_exp).run_id
    secret_run = tracking.create_run(secret_exp).run_id
    return World(
        client_for(secured.app), secured, fiona, open_exp, secret_exp, open_run, secret_run
    )


def names(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {e["name"] for e in answer.json()["experiments"]}


def test_lists_show_only_the_callers_projects(world: World) -> None:
    viewer = world.secured.headers("viewer")
    assert names(world.client.get("/api/v1/experiments", headers=viewer)) == {"open"}
    assert names(world.client.get("/api/v1/experiments", headers=world.fiona)) == {"secret"}


def test_an_object_of_another_project_is_not_found_by_id(world: World) -> None:
    viewer = world.secured.headers("viewer")
    for path in (
        f"/api/v1/runs/{world.secret_run}",
        f"/api/v1/experiments/{world.secret_exp}",
        "/api/v1/experiments/by-name?name=secret",
    ):
        answer = world.client.get(path, headers=viewer)
        assert answer.status_code == 404, (path, answer.text)
        assert "does not exist" in answer.json()["error"]["message"]
    assert world.client.get(f"/api/v1/runs/{world.secret_run}", headers=world.fiona).is_success
    assert (
        world.client.get(f"/api/v1/runs/{world.open_run}", headers=world.fiona).status_code == 404
    )


def test_a_search_over_another_projects_experiment_is_not_found(world: World) -> None:
    body = {"experiment_ids": [world.secret_exp], "max_results": 10}
    viewer = world.secured.headers("viewer")
    refused = world.client.post("/api/v1/runs/search", json=body, headers=viewer)
    assert refused.status_code == 404
    found = world.client.post("/api/v1/runs/search", json=body, headers=world.fiona)
    assert [r["run_id"] for r in found.json()["runs"]] == [world.secret_run]


def test_writes_need_the_role_in_the_objects_project(world: World) -> None:
    # fiona contributes in fraud: she may start runs there, not in default (unseen: 404)
    ok = world.client.post(
        "/api/v1/runs", json={"experiment_id": world.secret_exp}, headers=world.fiona
    )
    assert ok.status_code == 201, ok.text
    unseen = world.client.post(
        "/api/v1/runs", json={"experiment_id": world.open_exp}, headers=world.fiona
    )
    assert unseen.status_code == 404
    # deleting needs a maintainer in fraud: she can read the run, so this is 403
    refused = world.client.delete(f"/api/v1/runs/{world.secret_run}", headers=world.fiona)
    assert refused.status_code == 403
    assert "needs the maintainer role" in refused.json()["error"]["message"]
    # new experiments go to the project named in the request, if the caller may write there
    made = world.client.post(
        "/api/v1/experiments", json={"name": "fraud-2", "project": "fraud"}, headers=world.fiona
    )
    assert made.status_code == 201, made.text
    elsewhere = world.client.post("/api/v1/experiments", json={"name": "x"}, headers=world.fiona)
    assert elsewhere.status_code == 404  # the default project is not hers to see


def test_an_admin_of_default_does_not_see_fraud_until_granted(world: World) -> None:
    admin = world.secured.headers("admin")
    assert "secret" not in names(world.client.get("/api/v1/experiments", headers=admin))
    world.secured.gov.grant("admin", "fraud", "viewer")
    world.secured.app.state.authenticator.forget()
    assert "secret" in names(world.client.get("/api/v1/experiments", headers=admin))


def test_with_auth_off_every_project_is_visible(world: World) -> None:
    tracking = SqlTrackingStore.shared(world.secured.settings.tracking_uri, world.secured.settings)
    assert {e.name for e in tracking.list_experiments()} >= {"open", "secret"}


def test_registered_models_follow_their_project(world: World) -> None:
    from mlstage.models.sql_store import SqlRegistryStore

    settings = world.secured.settings
    registry = SqlRegistryStore.shared(settings.tracking_uri, settings)
    registry.create_registered_model("public-model")
    registry.create_registered_model("fraud-model", project="fraud")
    viewer = world.secured.headers("viewer")

    def listed(headers: dict[str, str]) -> set[str]:
        answer = world.client.get("/api/v1/registry/models", headers=headers)
        assert answer.status_code == 200, answer.text
        return {m["name"] for m in answer.json()["models"]}

    assert listed(viewer) == {"public-model"}
    assert listed(world.fiona) == {"fraud-model"}
    hidden = world.client.get("/api/v1/registry/models/fraud-model", headers=viewer)
    assert hidden.status_code == 404
    assert world.client.get("/api/v1/registry/models/fraud-model", headers=world.fiona).is_success


def test_the_web_ui_hides_other_projects_too(world: World) -> None:
    viewer = world.secured.headers("viewer")
    experiments = world.client.get("/experiments", headers=viewer)
    assert experiments.status_code == 200
    assert "open" in experiments.text and "secret" not in experiments.text
    run_page = world.client.get(f"/runs/{world.secret_run}", headers=viewer)
    assert run_page.status_code == 404
    compare = world.client.get(
        f"/compare?runs={world.open_run}&runs={world.secret_run}", headers=viewer
    )
    assert compare.status_code == 404
    assert f"run &#39;{world.secret_run}&#39; does not exist" in compare.text  # as if absent
