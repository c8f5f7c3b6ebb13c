"""The tracking REST API over HTTP, in process: what a client of /api/v1 sees."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import pytest

UNKNOWN_RUN = "0" * 32


def error_of(response: httpx.Response) -> dict[str, str]:
    return dict(response.json()["error"])


def post_json(api: httpx.Client, url: str, text: str) -> httpx.Response:
    """POST a JSON text as is: NaN and Infinity tokens included."""
    return api.post(url, content=text.encode(), headers={"content-type": "application/json"})


# -- experiments -----------------------------------------------------------------------


def test_experiment_create_get_list_delete(api: httpx.Client) -> None:
    created = api.post("/api/v1/experiments", json={"name": "churn", "tags": {"team": "risk"}})
    assert created.status_code == 201
    exp = created.json()
    assert (exp["name"], exp["tags"], exp["lifecycle_stage"]) == (
        "churn",
        {"team": "risk"},
        "active",
    )
    exp_id = exp["experiment_id"]
    assert api.get(f"/api/v1/experiments/{exp_id}").json() == exp
    assert api.get("/api/v1/experiments/by-name", params={"name": "churn"}).json() == exp
    missing = api.get("/api/v1/experiments/by-name", params={"name": "nope"})
    assert missing.status_code == 404
    assert error_of(missing) == {"code": "NOT_FOUND", "message": "experiment 'nope' does not exist"}
    assert api.get("/api/v1/experiments").json() == {"experiments": [exp]}
    again = api.post("/api/v1/experiments/get-or-create", json={"name": "churn"})
    assert again.status_code == 200 and again.json() == exp
    duplicate = api.post("/api/v1/experiments", json={"name": "churn"})
    assert duplicate.status_code == 409
    assert error_of(duplicate)["code"] == "CONFLICT"
    assert api.delete(f"/api/v1/experiments/{exp_id}").status_code == 204
    assert api.get("/api/v1/experiments").json() == {"experiments": []}
    everything = api.get("/api/v1/experiments", params={"include_deleted": "true"}).json()
    assert [e["lifecycle_stage"] for e in everything["experiments"]] == ["deleted"]


def test_unknown_and_malformed_experiment_ids(api: httpx.Client) -> None:
    missing = api.get("/api/v1/experiments/999")
    assert missing.status_code == 404
    assert error_of(missing) == {"code": "NOT_FOUND", "message": "experiment '999' does not exist"}
    assert api.post("/api/v1/runs", json={"experiment_id": "999"}).status_code == 404
    assert api.delete("/api/v1/experiments/999").status_code == 404
    bad = api.get("/api/v1/experiments/1;DROP TABLE runs")
    assert bad.status_code == 400
    assert "experiment_id must be a whole number" in error_of(bad)["message"]


# -- runs ----------------------------------------------------------------------------------


def test_run_lifecycle(api: httpx.Client, make_run: Any) -> None:
    context = {"user": "ada", "host": "box", "git_commit": "abc", "packages": {"numpy": "2.0"}}
    run_id = make_run(name="first", context=context, tags={"stage": "dev"})
    run = api.get(f"/api/v1/runs/{run_id}").json()
    assert (run["name"], run["status"], run["end_time"]) == ("first", "RUNNING", None)
    assert run["context"]["user"] == "ada" and run["context"]["packages"] == {"numpy": "2.0"}
    assert run["tags"] == {"stage": "dev"}
    assert api.post("/api/v1/runs/heartbeat", json={"run_ids": [run_id]}).status_code == 204
    ended = api.post(f"/api/v1/runs/{run_id}/end", json={"status": "FAILED", "reason": "boom"})
    assert ended.status_code == 204
    run = api.get(f"/api/v1/runs/{run_id}").json()
    assert (run["status"], run["status_reason"]) == ("FAILED", "boom")
    assert run["end_time"] >= run["start_time"]
    assert api.delete(f"/api/v1/runs/{run_id}").status_code == 204
    assert api.get(f"/api/v1/runs/{run_id}").json()["lifecycle_stage"] == "deleted"
    refused = api.post(f"/api/v1/runs/{run_id}/batch", json={"params": {"a": "1"}})
    assert refused.status_code == 409


def test_bad_status_is_refused(api: httpx.Client, make_run: Any) -> None:
    run_id = make_run()
    response = api.post(f"/api/v1/runs/{run_id}/end", json={"status": "DONE"})
    assert response.status_code == 400
    assert error_of(response)["message"].startswith("body.status: Input should be")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/v1/runs/{UNKNOWN_RUN}"),
        ("DELETE", f"/api/v1/runs/{UNKNOWN_RUN}"),
        ("GET", f"/api/v1/runs/{UNKNOWN_RUN}/metrics/history?key=m"),
        ("GET", f"/api/v1/runs/{UNKNOWN_RUN}/artifacts"),
        ("GET", f"/api/v1/runs/{UNKNOWN_RUN}/artifacts/model.pkl"),
    ],
)
def test_unknown_runs_are_404(api: httpx.Client, method: str, path: str) -> None:
    response = api.request(method, path)
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "NOT_FOUND" and UNKNOWN_RUN in error["message"]


def test_malformed_run_ids_are_400(api: httpx.Client) -> None:
    response = api.get("/api/v1/runs/not-a-run-id")
    assert response.status_code == 400
    assert "run_id must be 32 lowercase hex characters" in error_of(response)["message"]


# -- logging -------------------------------------------------------------------------------------


def test_log_batch_and_history_round_trip_nan_and_infinity(
    api: httpx.Client, make_run: Any
) -> None:
    run_id = make_run()
    body = (
        '{"metrics": ['
        '{"key": "loss", "value": NaN, "step": 0, "timestamp": 1},'
        '{"key": "loss", "value": Infinity, "step": 1, "timestamp": 2},'
        '{"key": "loss", "value": -Infinity, "step": 2, "timestamp": 3},'
        '{"key": "loss", "value": 0.25, "step": 3, "timestamp": 4},'
        '{"key": "acc", "value": 1, "step": 0, "timestamp": 5}],'
        '"params": {"C": "1.0"}, "tags": {"t": "a"}}'
    )
    assert post_json(api, f"/api/v1/runs/{run_id}/batch", body).status_code == 204
    history = api.get(f"/api/v1/runs/{run_id}/metrics/history", params={"key": "loss"})
    assert history.status_code == 200
    assert "NaN" in history.text and "-Infinity" in history.text
    points = history.json()["metrics"]
    assert [(p["step"], p["timestamp"]) for p in points] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    values = [p["value"] for p in points]
    assert math.isnan(values[0]) and values[1:] == [math.inf, -math.inf, 0.25]
    run = api.get(f"/api/v1/runs/{run_id}").json()
    assert run["metrics"] == {"loss": 0.25, "acc": 1.0}
    assert (run["params"], run["tags"]) == ({"C": "1.0"}, {"t": "a"})
    nan_latest = post_json(
        api,
        f"/api/v1/runs/{run_id}/batch",
        '{"metrics": [{"key": "loss", "value": NaN, "step": 9, "timestamp": 9}]}',
    )
    assert nan_latest.status_code == 204
    assert math.isnan(api.get(f"/api/v1/runs/{run_id}").json()["metrics"]["loss"])


@pytest.mark.parametrize(
    ("batch", "problem"),
    [
        ({"metrics": [{"key": "a/../b", "value": 1}]}, "metric key 'a/../b' must not contain '..'"),
        ({"metrics": [{"key": "/abs", "value": 1}]}, "metric key '/abs' must not start with '/'"),
        ({"params": {"..": "1"}}, "param key '..' must not contain '..'"),
        ({"tags": {"/etc": "1"}}, "tag key '/etc' must not start with '/'"),
        (
            {"params": {"big": "x" * 6001}},
            "param 'big' value is 6001 characters; the limit is 6000",
        ),
    ],
)
def test_bad_keys_and_values_are_400_and_write_nothing(
    api: httpx.Client, make_run: Any, batch: dict[str, Any], problem: str
) -> None:
    run_id = make_run()
    batch.setdefault("metrics", []).append({"key": "good", "value": 1.0})
    response = api.post(f"/api/v1/runs/{run_id}/batch", json=batch)
    assert response.status_code == 400
    assert error_of(response) == {"code": "INVALID_INPUT", "message": problem}
    run = api.get(f"/api/v1/runs/{run_id}").json()
    assert (run["metrics"], run["params"], run["tags"]) == ({}, {}, {})


def test_metric_value_as_a_string_is_refused_naming_the_field(
    api: httpx.Client, make_run: Any
) -> None:
    run_id = make_run()
    for value in ('"nan"', '"0.5"', "null", "true"):
        response = post_json(
            api,
            f"/api/v1/runs/{run_id}/batch",
            f'{{"metrics": [{{"key": "ok", "value": 1}}, {{"key": "a", "value": {value}}}]}}',
        )
        assert response.status_code == 400, value
        assert error_of(response)["message"].startswith("body.metrics.1.value: "), value
    assert api.get(f"/api/v1/runs/{run_id}").json()["metrics"] == {}


@pytest.mark.parametrize(
    ("batch", "problem"),
    [
        (
            {"metrics": [{"key": "m", "value": 0.0, "step": i} for i in range(1001)]},
            "at most 1000 metrics; got 1001",
        ),
        ({"params": {f"p{i}": "v" for i in range(101)}}, "at most 100 params; got 101"),
        ({"tags": {f"t{i}": "v" for i in range(101)}}, "at most 100 tags; got 101"),
    ],
)
def test_batches_over_the_limits_are_413(
    api: httpx.Client, make_run: Any, batch: dict[str, Any], problem: str
) -> None:
    run_id = make_run()
    response = api.post(f"/api/v1/runs/{run_id}/batch", json=batch)
    assert response.status_code == 413
    assert error_of(response) == {
        "code": "PAYLOAD_TOO_LARGE",
        "message": f"a batch holds {problem}",
    }
    history = api.get(f"/api/v1/runs/{run_id}/metrics/history", params={"key": "m"})
    assert history.json() == {"metrics": []}


def test_log_inputs(api: httpx.Client, make_run: Any) -> None:
    run_id = make_run()
    dataset = {
        "name": "train",
        "digest": "a" * 64,
        "num_rows": 10,
        "num_columns": 1,
        "schema": [{"name": "x", "dtype": "float64"}],
    }
    for _ in range(2):
        response = api.post(
            f"/api/v1/runs/{run_id}/inputs", json={"inputs": [{"dataset": dataset}]}
        )
        assert response.status_code == 204
    inputs = api.get(f"/api/v1/runs/{run_id}").json()["inputs"]
    assert inputs == [{"dataset": {**dataset, "source": ""}, "context": "training"}]


# -- search ------------------------------------------------------------------------------------


@pytest.fixture
def searchable(api: httpx.Client, make_run: Any) -> tuple[str, list[str]]:
    ids = []
    for i in range(7):
        run_id = make_run("search", name=f"run-{i}")
        batch = {"metrics": [{"key": "acc", "value": i / 10}], "params": {"i": str(i)}}
        assert api.post(f"/api/v1/runs/{run_id}/batch", json=batch).status_code == 204
        ids.append(run_id)
    exp_id = api.get("/api/v1/experiments/by-name", params={"name": "search"}).json()
    return exp_id["experiment_id"], ids


def search(api: httpx.Client, **body: Any) -> httpx.Response:
    return api.post("/api/v1/runs/search", json=body)


def test_search_filters_orders_and_pages(
    api: httpx.Client, searchable: tuple[str, list[str]]
) -> None:
    exp_id, ids = searchable
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        response = search(
            api,
            experiment_ids=[exp_id],
            filter="metrics.acc > 0.15 and params.i != '6'",
            order_by=["metrics.acc DESC"],
            max_results=2,
            page_token=token,
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [run["name"] for run in page["runs"]]
        pages += 1
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == ["run-5", "run-4", "run-3", "run-2"]
    assert pages == 2


@pytest.mark.parametrize(
    ("filter_text", "problem"),
    [
        ("metrics.acc > 0.9 OR 1=1", "OR is not supported"),
        ("tags.t = 'a'; DROP TABLE runs;--", "unexpected character ';'"),
        ("params.x = '' OR ''=''", "OR is not supported"),
        ("metrics.acc > 'high'", "compares with a number"),
    ],
)
def test_bad_filters_are_400_and_harmless(
    api: httpx.Client, searchable: tuple[str, list[str]], filter_text: str, problem: str
) -> None:
    exp_id, ids = searchable
    response = search(api, experiment_ids=[exp_id], filter=filter_text)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "INVALID_INPUT" and problem in error["message"]
    everything = search(api, experiment_ids=[exp_id]).json()
    assert len(everything["runs"]) == len(ids)  # the table is still there


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"order_by": ["metrics.acc; DROP TABLE runs"]}, "unexpected character ';'"),
        ({"page_token": "forged"}, "page_token"),
        ({"max_results": 0}, "max_results must be between 1 and 50000"),
        ({"max_results": "10"}, "body.max_results: Input should be a valid integer"),
    ],
)
def test_bad_search_arguments_are_400(
    api: httpx.Client, searchable: tuple[str, list[str]], body: dict[str, Any], problem: str
) -> None:
    exp_id, _ = searchable
    response = search(api, experiment_ids=[exp_id], **body)
    assert response.status_code == 400
    assert problem in error_of(response)["message"]


def test_search_response_is_plain_json(
    api: httpx.Client, searchable: tuple[str, list[str]]
) -> None:
    exp_id, _ = searchable
    response = search(api, experiment_ids=[exp_id], filter="params.i = '3'")
    assert response.headers["content-type"] == "application/json"
    run = json.loads(response.text)["runs"][0]
    assert (run["name"], run["metrics"], run["params"]) == ("run-3", {"acc": 0.3}, {"i": "3"})
