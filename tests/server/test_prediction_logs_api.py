"""The request log's REST API: Parquet uploads checked before storing, listing by window, downloads."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI

from mlstage.config import Settings
from mlstage.server import create_app
from mlstage.server.auth import is_protected, live_routes
from mlstage.serving.request_log import PredictionRecord
from mlstage.serving.request_log_store import PARQUET_MEDIA_TYPE, parquet_bytes, prepare_file

URL = "/api/v1/prediction-logs"
PARQUET = {"content-type": PARQUET_MEDIA_TYPE}
DAY_MS = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def records(n: int, *, ts: int = T0, model: str = "churn") -> list[PredictionRecord]:
    return [
        PredictionRecord(
            prediction_id=uuid.uuid4().hex,
            timestamp_ms=ts + i,
            model=model,
            version=1,
            deployment=None,
            route="primary",
            request_key=None,
            inputs={"tenure": i},
            output=i % 2,
            probabilities=[0.4, 0.6],
            latency_ms=2.0,
        )
        for i in range(n)
    ]


def log_file(n: int = 3, *, ts: int = T0, model: str = "churn") -> bytes:
    return prepare_file("churn", "", records(n, ts=ts, model=model)).data


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def upload(api: httpx.Client, data: bytes, model: str = "churn") -> httpx.Response:
    return api.post(URL, params={"model": model}, content=data, headers=PARQUET)


def test_an_upload_is_indexed_from_the_files_own_contents(api: httpx.Client) -> None:
    data = log_file(3, ts=T0 + 5 * 3_600_000, model="Churn")  # the service keeps the name's case
    response = upload(api, data, model="CHURN")
    assert response.status_code == 201, response.text
    sha = hashlib.sha256(data).hexdigest()
    entry = response.json()
    assert entry.pop("created_at") > 0
    assert entry == {
        "file_id": sha[:32],
        "model": "churn",
        "day": "2026-01-01",
        "sha256": sha,
        "rows": 3,
        "min_timestamp": T0 + 5 * 3_600_000,
        "max_timestamp": T0 + 5 * 3_600_000 + 2,
    }


def test_the_same_file_uploaded_again_is_stored_once(api: httpx.Client) -> None:
    data = log_file(4)
    first = upload(api, data)
    again = upload(api, data)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()  # the first upload's entry, created_at included
    listed = api.get(URL, params={"model": "churn"}).json()["files"]
    assert [f["file_id"] for f in listed] == [first.json()["file_id"]]


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "application/json", "text/plain", None]
)
def test_uploads_other_than_parquet_are_415(api: httpx.Client, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = api.post(URL, params={"model": "churn"}, content=log_file(), headers=headers)
    assert response.status_code == 415
    if content_type != "text/plain":  # a type browsers send cross-site is refused before the route
        assert PARQUET_MEDIA_TYPE in error_of(response)["message"]
    assert api.get(URL, params={"model": "churn"}).json() == {"files": []}


def test_the_parquet_type_may_carry_parameters(api: httpx.Client) -> None:
    headers = {"content-type": "Application/VND.apache.parquet; charset=binary"}
    response = api.post(URL, params={"model": "churn"}, content=log_file(), headers=headers)
    assert response.status_code == 201, response.text


def test_an_upload_over_the_body_limit_is_413(
    server_settings: Settings, client_for: Any, tmp_path: Path
) -> None:
    small = client_for(create_app(server_settings, max_body_bytes=2048, max_upload_bytes=2048))
    data = log_file(50)
    assert len(data) > 2048
    response = upload(small, data)
    assert response.status_code == 413
    assert error_of(response)["code"] == "PAYLOAD_TOO_LARGE"
    assert "limit of 2048 bytes" in error_of(response)["message"]
    assert not (tmp_path / "server-artifacts").exists() or not any(
        (tmp_path / "server-artifacts").rglob("*.parquet")
    )
    assert small.get(URL, params={"model": "churn"}).json() == {"files": []}


def _table(**overrides: Any) -> pa.Table:
    """A valid file's table with columns replaced (value) or removed (``None``)."""
    table = pq.read_table(io.BytesIO(log_file(2)))
    for name, column in overrides.items():
        index = table.column_names.index(name)
        table = (
            table.remove_column(index)
            if column is None
            else table.set_column(index, name, pa.array(column))
        )
    return table


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"prediction_id,timestamp\nabc,1\n", "the body is not a Parquet file"),
        (b"", "the body is not a Parquet file"),
        (log_file(3)[:-20], "the body is not a Parquet file"),
        (
            parquet_bytes(_table(timestamp=None, route=None)),
            "the Parquet file lacks the column(s) timestamp, route;",
        ),
        (
            parquet_bytes(pa.table({"a": [1, 2]})),
            "the Parquet file lacks the column(s) prediction_id, timestamp, model, version",
        ),
        (
            parquet_bytes(_table(timestamp=["2026-01-01", "2026-01-02"])),
            "column 'timestamp' of the Parquet file must be integers, not string",
        ),
        (
            parquet_bytes(_table(route=[1, 2])),
            "column 'route' of the Parquet file must be text, not int64",
        ),
        (parquet_bytes(_table().slice(0, 0)), "the Parquet file has no rows"),
        (
            parquet_bytes(_table(model=["churn", "fraud"])),
            "the Parquet file holds predictions of 'fraud', not only of model 'churn'",
        ),
        (
            parquet_bytes(_table(timestamp=[T0 - 1, T0])),
            "the Parquet file spans the UTC days 2025-12-31 to 2026-01-01",
        ),
        (
            parquet_bytes(_table(timestamp=[T0, None])),
            "the Parquet file has rows without a timestamp",
        ),
        (
            parquet_bytes(_table(timestamp=[T0, 2**62])),
            "the Parquet file's timestamps run from",
        ),
    ],
    ids=[
        "csv",
        "empty",
        "cut-short",
        "missing-columns",
        "other-table",
        "text-timestamps",
        "numeric-route",
        "no-rows",
        "other-model",
        "two-days",
        "null-timestamp",
        "timestamp-out-of-range",
    ],
)
def test_bodies_that_are_not_a_prediction_log_file_are_400(
    api: httpx.Client, data: bytes, problem: str
) -> None:
    response = upload(api, data)
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "INVALID_INPUT"
    assert problem in error_of(response)["message"], error_of(response)["message"]
    assert api.get(URL, params={"model": "churn"}).json() == {"files": []}


@pytest.mark.parametrize("model", ["no spaces", "", "a" * 300])
def test_a_bad_model_name_is_400(api: httpx.Client, model: str) -> None:
    assert upload(api, log_file(), model=model).status_code == 400
    assert api.get(URL, params={"model": model}).status_code == 400


def test_the_model_is_required(api: httpx.Client) -> None:
    response = api.post(URL, content=log_file(), headers=PARQUET)
    assert response.status_code == 400
    assert "model" in error_of(response)["message"]
    assert api.get(URL).status_code == 400


def test_listing_chooses_the_files_of_a_window(api: httpx.Client) -> None:
    day1 = upload(api, log_file(3, ts=T0 + 100)).json()  # T0+100 .. T0+102
    day2 = upload(api, log_file(2, ts=T0 + DAY_MS)).json()
    day3 = upload(api, log_file(1, ts=T0 + 2 * DAY_MS)).json()
    upload(api, log_file(5, model="fraud"), model="fraud")

    def listed(**window: int) -> list[str]:
        response = api.get(URL, params={"model": "churn", **window})
        assert response.status_code == 200, response.text
        return [f["file_id"] for f in response.json()["files"]]

    ids = [day1["file_id"], day2["file_id"], day3["file_id"]]
    assert listed() == ids  # oldest first
    assert listed(since_ms=T0 + 102) == ids  # since inclusive
    assert listed(since_ms=T0 + 103) == ids[1:]
    assert listed(until_ms=T0 + 100) == []  # until exclusive
    assert listed(until_ms=T0 + DAY_MS + 1) == ids[:2]
    assert listed(since_ms=T0 + DAY_MS, until_ms=T0 + 2 * DAY_MS) == [ids[1]]
    assert api.get(URL, params={"model": "other"}).json() == {"files": []}
    (fraud,) = api.get(URL, params={"model": "fraud"}).json()["files"]
    assert (fraud["model"], fraud["rows"]) == ("fraud", 5)
    backwards = api.get(URL, params={"model": "churn", "since_ms": 10, "until_ms": 5})
    assert backwards.status_code == 400
    assert "until_ms (5) is before since_ms (10)" in error_of(backwards)["message"]
    assert api.get(URL, params={"model": "churn", "since_ms": "soon"}).status_code == 400


def test_a_file_downloads_with_its_hash_as_an_attachment(api: httpx.Client) -> None:
    data = log_file(3)
    entry = upload(api, data).json()
    download = api.get(f"{URL}/{entry['file_id']}")
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()
    assert download.headers["content-length"] == str(len(data))
    assert download.headers["content-disposition"] == (
        f"attachment; filename*=UTF-8''{entry['file_id']}.parquet"
    )
    assert download.headers["x-content-type-options"] == "nosniff"
    assert pq.read_table(io.BytesIO(download.content)).num_rows == 3


def test_unknown_and_malformed_file_ids(api: httpx.Client) -> None:
    missing = api.get(f"{URL}/{'0' * 32}")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "NOT_FOUND"
    malformed = api.get(f"{URL}/not-an-id")
    assert malformed.status_code == 400
    assert "32 lower-case hex digits" in error_of(malformed)["message"]


def test_a_blob_corrupted_on_the_server_is_never_sent(api: httpx.Client, tmp_path: Path) -> None:
    entry = upload(api, log_file(3)).json()
    sha = entry["sha256"]
    blob = tmp_path / "server-artifacts" / "sha256" / sha[:2] / sha[2:4] / sha
    blob.write_bytes(blob.read_bytes()[:-4] + b"oops")
    response = api.get(f"{URL}/{entry['file_id']}")
    assert response.status_code == 500
    assert error_of(response)["code"] == "INTEGRITY_ERROR"
    assert "corrupt" in error_of(response)["message"]


def test_every_prediction_log_route_checks_the_caller(app: FastAPI) -> None:
    routes = {
        (method, route.path): route
        for route in live_routes(app)
        for method in getattr(route, "methods", None) or ()
    }
    for key in [("POST", URL), ("GET", URL), ("GET", URL + "/{file_id}")]:
        assert key in routes, sorted(routes)
        assert is_protected(routes[key]), key


def test_the_upload_is_described_as_parquet(api: httpx.Client) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    upload_spec = paths[URL]["post"]
    assert PARQUET_MEDIA_TYPE in upload_spec["requestBody"]["content"]
    assert {"200", "201"} <= set(upload_spec["responses"])
    assert "get" in paths[URL + "/{file_id}"]
