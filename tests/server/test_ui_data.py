"""The data pages of the web UI: datasets, statistics, lineage, drift, validation, features.

One app over a real SQLite store, seeded once for the module through the
public API with a script payload in every free-text value; each test reads
pages in process.
"""

from __future__ import annotations

import hashlib
import html
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from mlstage.governance.scope import ProjectScope, scoped
from mlstage.server import create_app
from mlstage.server.ui import routes_data
from mlstage.server.ui.render import CONTENT_SECURITY_POLICY, NAV
from tests.e2e.ui_data import XSS
from tests.e2e.ui_stage2 import DATASET, Stage2, seed_stage2, stage2_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAYLOAD = " ".join(XSS)
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[TestClient, Stage2]]:
    root = tmp_path_factory.mktemp("ui-data")
    settings = stage2_settings(root, sqlite_template)
    seeded = seed_stage2(settings, root, PAYLOAD)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, seeded


@pytest.fixture
def ui(site: tuple[TestClient, Stage2]) -> httpx.Client:
    return site[0]


@pytest.fixture
def seeded(site: tuple[TestClient, Stage2]) -> Stage2:
    return site[1]


def assert_safe_page(response: httpx.Response, path: str) -> None:
    assert response.status_code == 200, (path, response.text[:400])
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    for payload in XSS:
        assert payload not in response.text, path
    assert " style=" not in response.text, path
    assert "<script>" not in response.text, path


def test_every_data_page_escapes_user_text(ui: httpx.Client, seeded: Stage2) -> None:
    pages = [
        "/datasets",
        f"/datasets/{DATASET}",
        f"/datasets/{DATASET}/versions/1",
        f"/datasets/{DATASET}/versions/latest",
        f"/datasets/{DATASET}/drift?base=1&current=2",
        f"/runs/{seeded.validation_run}/validation",
        "/features",
    ]
    for path in pages:
        response = ui.get(path)
        assert_safe_page(response, path)
        assert ESCAPED in response.text, path


def test_the_navigation_lists_the_new_pages_before_maturity() -> None:
    keys = [key for key, _, _ in NAV]
    assert keys[-5:] == ["datasets", "features", "pipelines", "audit", "assess"]


def test_the_list_shows_each_dataset_with_its_latest_version(
    ui: httpx.Client, seeded: Stage2
) -> None:
    page = ui.get("/datasets").text
    row = re.search(r'<table class="table" id="datasets">.*?</table>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    assert f'<a href="/datasets/{DATASET}">{DATASET}</a>' in cells[0]
    assert cells[1] == "2"  # versions
    assert "@2" in cells[2]
    assert cells[3:5] == ["200", "4"]  # rows, columns of the latest
    assert "Churn rows" in page  # the dataset's description
    assert 'aria-current="page">Datasets<' in page


def test_a_dataset_shows_its_schema_statistics_and_versions(
    ui: httpx.Client, seeded: Stage2
) -> None:
    page = ui.get(f"/datasets/{DATASET}").text
    assert 'id="dataset-name">churn-data <span class="chip alias">@2</span>' in page
    stats = re.search(r'id="statistics">.*?</table>', page, re.S)
    assert stats is not None
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r'<th scope="row" class="feature">(.*?)</th>(.*?)</tr>', stats.group(0), re.S
        )
    }
    assert list(rows) == ["tenure", "charges", "plan", "churned"]
    charges = re.findall(r'<td class="num[^"]*">(.*?)</td>', rows["charges"], re.S)
    assert charges[0] == "188" and charges[1].startswith("12")  # count, missing (NaN -> null)
    assert "team" in rows["plan"] and ESCAPED in rows["plan"]  # top values, escaped
    for name in rows:
        assert '<svg class="spark"' in rows[name], name  # a histogram or value chart each
    assert rows["tenure"].count("<rect") == 20  # the stored histogram's bins
    versions = re.findall(r'href="/datasets/churn-data/versions/(\d+)">@', page)
    assert versions == ["2", "1"]  # newest first
    assert 'id="drift-link" href="/datasets/churn-data/drift?base=1&amp;current=2"' in page


def test_lineage_shows_the_runs_and_models_that_used_a_version(
    ui: httpx.Client, seeded: Stage2
) -> None:
    first = ui.get(f"/datasets/{DATASET}/versions/1").text
    runs = re.search(r'id="lineage-runs">.*?</table>', first, re.S)
    assert runs is not None and f'href="/runs/{seeded.lineage_run}"' in runs.group(0)
    assert f"trained-on-v1{ESCAPED}" in runs.group(0)
    models = re.search(r'id="lineage-models">.*?</table>', first, re.S)
    assert models is not None and "/models/churn-from-data/versions/1" in models.group(0)
    latest = ui.get(f"/datasets/{DATASET}").text
    assert 'id="lineage-runs"' not in latest and "No run logged this version" in latest


def test_lineage_leaves_out_projects_the_caller_cannot_read(
    site: tuple[TestClient, Stage2],
) -> None:
    app = site[0].app
    tracking = app.state.stores.tracking()  # type: ignore[attr-defined]
    store = routes_data.dataset_store(tracking)
    from mlstage.models.sql_store import SqlRegistryStore

    registry = SqlRegistryStore(tracking)
    lineage = store.lineage(store.get(routes_data.parse_ref(f"{DATASET}@1")))
    assert lineage.runs and lineage.models
    with scoped(ProjectScope("bob", {987654: "viewer"})):
        hidden = routes_data._visible(lineage, tracking, registry)
    assert hidden.runs == [] and hidden.models == []
    assert routes_data._visible(lineage, tracking, registry) == lineage  # no scope: all


def test_unknown_names_and_versions_are_404_pages(ui: httpx.Client) -> None:
    for path, message in [
        ("/datasets/nope", "dataset 'nope' does not exist"),
        (f"/datasets/{DATASET}/versions/9", "has no version 9 (versions 1 to 2)"),
        (f"/datasets/{DATASET}/drift?base=1&current=7", "has no version 7"),
        (f"/datasets/{DATASET}?page=2", "past the last page"),
        ("/runs/0123456789abcdef0123456789abcdef/validation", "does not exist"),
    ]:
        response = ui.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert message in html.unescape(response.text), path


def test_hostile_names_and_values_are_refused_and_escaped(ui: httpx.Client) -> None:
    for path in [
        f"/datasets/{quote(XSS[0])}",
        f"/datasets/{DATASET}/versions/{quote(XSS[0])}",
        f"/datasets/{DATASET}/drift?base={quote(XSS[0])}",
        f"/datasets/{DATASET}?page={quote(XSS[0])}",
    ]:
        response = ui.get(path)
        assert response.status_code == 400, path
        assert XSS[0] not in response.text and ESCAPED in response.text, path


def test_the_drift_page_has_a_row_and_a_chart_per_feature(ui: httpx.Client, seeded: Stage2) -> None:
    page = ui.get(f"/datasets/{DATASET}/drift", params={"base": "1", "current": "2"}).text
    table = re.search(r'id="drift-table">.*?</table>', page, re.S)
    assert table is not None
    rows = re.findall(r'<tr class="(drifted|stable)">\s*<th scope="row"><a [^>]*>(.*?)</a>'
                      r'.*?<td class="mono">(.*?)</td>\s*<td class="mono">(.*?)</td>',
                      table.group(0), re.S)  # fmt: skip
    by_name = {name: (state, kind, method) for state, name, kind, method in rows}
    assert set(by_name) == {"tenure", "charges", "plan", "churned"}
    assert by_name["charges"] == ("drifted", "float", "jsd")  # shifted by 3 sd
    assert by_name["plan"] == ("drifted", "string", "linf")  # shares 60/30/10 -> 20/30/50
    assert by_name["churned"][2] == "linf"
    assert 'id="verdict">drifted<' in page
    assert page.count('class="drift-chart') == 4
    assert 'class="bar bar-reference"' in page and 'class="bar bar-current"' in page
    link = re.search(r'id="download-report" href="([^"]+)"', page)
    assert link is not None
    assert link.group(1).replace("&amp;", "&") == (
        f"/datasets/{DATASET}/drift/report.html?base=1&current=2"
    )
    defaults = ui.get(f"/datasets/{DATASET}/drift").text  # latest against the one before
    assert "Drift of churn-data@2 against churn-data@1" in defaults


def test_a_version_has_nothing_before_it_to_drift_from(ui: httpx.Client) -> None:
    response = ui.get(f"/datasets/{DATASET}/drift", params={"current": "1"})
    assert response.status_code == 400
    assert "no version before 1" in html.unescape(response.text)


def test_the_drift_report_downloads_as_an_attachment(ui: httpx.Client) -> None:
    response = ui.get(f"/datasets/{DATASET}/drift/report.html?base=1&current=2")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-type-options"] == "nosniff"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "drift-churn-data-1-2.html" in disposition
    assert response.headers["x-content-sha256"] == hashlib.sha256(response.content).hexdigest()
    body = response.text
    assert body.startswith("<!DOCTYPE html>") and "churn-data@1" in body
    assert XSS[0] not in body and ESCAPED in body  # the category value, escaped in the report


def test_the_validation_report_of_a_run(ui: httpx.Client, seeded: Stage2) -> None:
    page = ui.get(f"/runs/{seeded.validation_run}/validation").text
    table = re.search(r'id="anomalies">.*?</table>', page, re.S)
    assert table is not None
    row = re.search(r'<th scope="row">plan</th>(.*?)</tr>', table.group(0), re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert cells[0] == "out_of_domain" and cells[1] == "one of 3 values"
    assert "error" in cells[3] and ESCAPED in cells[4]
    assert 'id="verdict">failed<' in page  # an error anomaly (the step did not halt)
    assert 'id="updates"' in page  # the suggested domain update
    run_page = ui.get(f"/runs/{seeded.validation_run}").text
    assert f'id="validation-link" href="/runs/{seeded.validation_run}/validation"' in run_page


def test_a_run_without_a_validation_report(ui: httpx.Client, seeded: Stage2) -> None:
    assert 'id="validation-link"' not in ui.get(f"/runs/{seeded.lineage_run}").text
    response = ui.get(f"/runs/{seeded.lineage_run}/validation")
    assert response.status_code == 404
    assert "has no validation report" in response.text


def test_the_features_page_lists_entities_views_and_watermarks(ui: httpx.Client) -> None:
    page = ui.get("/features").text
    entities = re.search(r'id="entities">.*?</table>', page, re.S)
    assert entities is not None
    assert "customer" in entities.group(0) and "customer_id" in entities.group(0)
    assert 'href="#view-customer_stats"' in entities.group(0)
    view = re.search(r'<section class="card" id="view-customer_stats".*?</section>', page, re.S)
    assert view is not None
    text = view.group(0)
    for feature, dtype in [("spend", "float64"), ("orders", "int64"), ("tier", "string")]:
        assert f'class="mono">customer_stats:{feature}</th><td class="mono">{dtype}<' in text
    assert "<dd>7 days</dd>" in text
    assert "customer_id (int64)" in text and "customer_stats.parquet" in text
    watermark = re.search(r'class="table materializations">.*?</table>', text, re.S)
    assert watermark is not None and "2026-01-05 00:00:00" in watermark.group(0)
    assert f"growth{ESCAPED}" in text  # a tag


def test_the_features_page_without_definitions(tmp_path: Path, sqlite_template: Path) -> None:
    settings = stage2_settings(tmp_path, sqlite_template)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        page = client.get("/features").text
        assert "No feature definitions yet" in page
        assert "No datasets registered yet" in client.get("/datasets").text
