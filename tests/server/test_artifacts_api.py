"""Artifact upload, download and listing over the REST API."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest


def artifacts_url(run_id: str, path: str = "") -> str:
    return f"/api/v1/runs/{run_id}/artifacts" + (f"/{path}" if path else "")


def test_upload_download_and_list(api: httpx.Client, make_run: Any) -> None:
    run_id = make_run()
    data = bytes(range(256)) * 100
    uploaded = api.put(
        artifacts_url(run_id, "plots/roc curve.bin"),
        content=data,
        headers={"content-type": "application/octet-stream"},
    )
    assert uploaded.status_code == 200, uploaded.text
    sha = hashlib.sha256(data).hexdigest()
    assert uploaded.json() == {
        "path": "plots/roc curve.bin",
        "is_dir": False,
        "size": len(data),
        "sha256": sha,
    }
    assert api.put(artifacts_url(run_id, "model.json"), content=b"{}").status_code == 200

    download = api.get(artifacts_url(run_id, "plots/roc%20curve.bin"))
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["x-content-sha256"] == sha
    assert download.headers["content-length"] == str(len(data))
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"

    listing = api.get(artifacts_url(run_id)).json()["artifacts"]
    assert [(a["path"], a["is_dir"]) for a in listing] == [("model.json", False), ("plots", True)]
    inside = api.get(artifacts_url(run_id), params={"path": "plots"}).json()["artifacts"]
    assert [(a["path"], a["sha256"]) for a in inside] == [("plots/roc curve.bin", sha)]


def test_uploading_a_path_again_replaces_it(api: httpx.Client, make_run: Any) -> None:
    run_id = make_run()
    api.put(artifacts_url(run_id, "notes.txt"), content=b"first")
    api.put(artifacts_url(run_id, "notes.txt"), content=b"second")
    assert api.get(artifacts_url(run_id, "notes.txt")).content == b"second"


def test_html_artifacts_are_served_as_inert_downloads(api: httpx.Client, make_run: Any) -> None:
    run_id = make_run()
    page = b"<html><script>alert(document.cookie)</script></html>"
    api.put(artifacts_url(run_id, "report.html"), content=page)
    download = api.get(artifacts_url(run_id, "report.html"))
    assert download.content == page
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''report.html"


@pytest.mark.parametrize(
    ("raw_path", "problem"),
    [
        ("..%2Fx", "has an empty, '.' or '..' segment"),
        ("a%2F..%2F..%2Fb", "has an empty, '.' or '..' segment"),
        ("%2Fetc%2Fpasswd", "must be relative to the run"),
        ("a%5Cb", "must use '/' as separator"),
        ("C:%2Fx", "must be relative to the run"),
        ("a%2F%2Fb", "has an empty, '.' or '..' segment"),
    ],
)
def test_paths_escaping_the_run_are_400(
    api: httpx.Client, make_run: Any, raw_path: str, problem: str
) -> None:
    run_id = make_run()
    for method in ("PUT", "GET"):
        response = api.request(method, artifacts_url(run_id, raw_path), content=b"x")
        assert response.status_code == 400, (method, response.text)
        error = response.json()["error"]
        assert error["code"] == "INVALID_INPUT" and problem in error["message"]
    listing = api.get(artifacts_url(run_id), params={"path": "../x"})
    assert listing.status_code == 400
    assert api.get(artifacts_url(run_id)).json() == {"artifacts": []}


def test_missing_artifacts_are_404(api: httpx.Client, make_run: Any) -> None:
    run_id = make_run()
    response = api.get(artifacts_url(run_id, "missing.txt"))
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "NOT_FOUND",
        "message": f"run {run_id} has no artifact 'missing.txt'",
    }


def test_uploads_to_deleted_runs_are_refused(api: httpx.Client, make_run: Any) -> None:
    run_id = make_run()
    api.delete(f"/api/v1/runs/{run_id}")
    response = api.put(artifacts_url(run_id, "late.txt"), content=b"x")
    assert response.status_code == 409
