"""The monitoring pages of the web UI: the list, one deployment's history, scoping, scale.

One site over a real SQLite store, seeded once for the module through the
public APIs (``tests/e2e/ui_monitoring.py``: hourly ``run_check`` over a
drifting request log, labels, failed alert deliveries, retrainings) with a
script payload in a feature name, an error and the retrainings' reasons. The
charts' specs are read back from the page and compared with what
``SqlMonitorResults`` stored. A model of another project has results too:
callers without a role there never see it. A year of hourly results is
folded in SQL, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlstage import config
from mlstage.config import Settings
from mlstage.governance.sql_store import GovernanceStore
from mlstage.monitoring.results import MetricResult, SqlMonitorResults
from mlstage.server import create_app
from mlstage.server.ui.monitoring_reads import MAX_POINTS
from mlstage.server.ui.render import CONTENT_SECURITY_POLICY, NAV
from mlstage.store.database import Database
from tests.e2e.ui_data import XSS
from tests.e2e.ui_monitoring import (
    DEPLOYMENT,
    HIDDEN_MODEL,
    HIDDEN_PROJECT,
    HOUR,
    IDLE_DEPLOYMENT,
    Monitored,
    seed_monitoring,
    stage_settings,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAYLOAD = " ".join(XSS)
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"
PASSWORD = "correct horse battery"
DAY = 86_400_000


@dataclass
class Site:
    ui: TestClient
    secured: TestClient
    seeded: Monitored
    settings: Settings
    tokens: dict[str, str]

    def as_user(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui-monitoring")
    settings = stage_settings(root, sqlite_template)
    seeded = seed_monitoring(settings, root, PAYLOAD)
    db = Database(settings.tracking_uri)
    gov = GovernanceStore(db)
    gov.create_user("vera", "viewer", PASSWORD)  # the default project only
    gov.create_user("fiona", "viewer", PASSWORD)
    gov.grant("fiona", HIDDEN_PROJECT, "viewer")
    gov.grant("fiona", "default", None)  # the other project only
    tokens = {name: gov.create_token(name, "read", DAY).secret for name in ("vera", "fiona")}
    secure = config.load_settings(
        start=root,
        tracking_uri=settings.tracking_uri,
        artifact_root=settings.artifact_root,
        auth_required=True,
    )
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as ui,
        TestClient(create_app(secure), raise_server_exceptions=False) as secured,
    ):
        yield Site(ui, secured, seeded, settings, tokens)
    db.dispose()


@pytest.fixture
def ui(site: Site) -> httpx.Client:
    return site.ui


def assert_safe_page(response: httpx.Response, path: str) -> None:
    assert response.status_code == 200, (path, response.text[:400])
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    for payload in XSS:
        assert payload not in response.text, path
    assert " style=" not in response.text, path
    assert "<script>" not in response.text, path


def charts(page: str) -> dict[str, dict[str, Any]]:
    """DOM id -> the chart spec the page hands to monitoring.js."""
    found = re.findall(r'<div class="chart-box[^"]*" id="([^"]+)">\s*<div class="chart" '
                       r'data-chart-spec="([^"]*)"', page)  # fmt: skip
    return {key: json.loads(html.unescape(spec)) for key, spec in found}


def stored(settings: Settings, metric: str, monitor: str) -> list[MetricResult]:
    """What the check stored for ``metric``, oldest window first (per check, no sub-windows)."""
    db = Database(settings.tracking_uri)
    try:
        rows = SqlMonitorResults(db).list(DEPLOYMENT, monitor=monitor, metric=metric)
    finally:
        db.dispose()
    return sorted(rows, key=lambda r: r.window_end)


def sig(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.6g}")


# -- rendering and escaping -------------------------------------------------------------------


def test_every_monitoring_page_escapes_user_text(ui: httpx.Client) -> None:
    for path in ["/monitoring", f"/monitoring/{DEPLOYMENT}", f"/monitoring/{DEPLOYMENT}?range=all"]:
        assert_safe_page(ui.get(path), path)
    page = ui.get(f"/monitoring/{DEPLOYMENT}").text
    assert f"drift_score[plan{ESCAPED}" in page  # the feature name, in the latest checks
    assert "does not exist" in page and f"missing{ESCAPED}" in page  # the failed monitor
    retrainings = re.search(r'<table class="table" id="retrainings">.*?</table>', page, re.S)
    assert retrainings is not None
    assert f"candidate error rate 4% is above the champion&#39;s 1%{ESCAPED}" in retrainings[0]
    assert f"step train failed{ESCAPED}" in retrainings[0]
    spec = charts(page)["m0-f1"]  # JSON inside an attribute: the payload stays text
    assert spec["title"] == f"plan{PAYLOAD}"


def test_monitoring_is_in_the_navigation_and_the_deployment_links_to_it(ui: httpx.Client) -> None:
    assert ("monitoring", "Monitoring", "/monitoring") in NAV
    assert 'aria-current="page">Monitoring<' in ui.get("/monitoring").text
    deployment = ui.get(f"/deployments/{DEPLOYMENT}").text
    assert f'<a href="/monitoring/{DEPLOYMENT}" id="monitoring-link">Monitoring</a>' in deployment


# -- the list ---------------------------------------------------------------------------------


def test_the_list_shows_each_subject_with_its_monitors_status_and_alerts(
    ui: httpx.Client, site: Site
) -> None:
    page = ui.get("/monitoring").text
    rows = dict(re.findall(r'<tr data-subject="([^"]+)">(.*?)</tr>', page, re.S))
    assert set(rows) == {DEPLOYMENT, HIDDEN_MODEL}  # auth is off: every project
    row = rows[DEPLOYMENT]
    chips = dict(
        re.findall(r'<span class="chip"[^>]*>([^<]+) <span class="badge[^"]*">(\w+)<', row)
    )
    assert chips == {
        "feature_drift": "alert",
        "prediction_drift": "alert",
        "performance": "ok",
        "service_health": "ok",
        "staleness": "ok",
        "quality": "alert",  # it failed: its schema file is missing
    }
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert "drift_share = 1" in cells[3]  # alerting now
    assert cells[4] == str(site.seeded.alerts) and site.seeded.alerts == 6  # sent in 7 days
    assert '<strong class="warn-text">2 alerting</strong>' in page
    unmonitored = re.search(r'<ul id="unmonitored">(.*?)</ul>', page, re.S)
    assert unmonitored is not None
    assert f'<a href="/monitoring/{IDLE_DEPLOYMENT}">' in unmonitored[1]
    assert DEPLOYMENT + "<" not in unmonitored[1]


def test_with_nothing_monitored_both_pages_say_so(
    sqlite_url: str, tmp_path: Path, client_for: Any
) -> None:
    settings = config.load_settings(
        start=tmp_path, tracking_uri=sqlite_url, artifact_root=str(tmp_path / "a")
    )
    client = client_for(create_app(settings))
    page = client.get("/monitoring")
    assert page.status_code == 200
    assert 'id="no-monitoring"' in page.text and "mlstage monitor check" in page.text
    missing = client.get("/monitoring/churn-prod")
    assert missing.status_code == 404
    assert "&#39;churn-prod&#39; is neither a deployment nor a monitored model" in missing.text


# -- one deployment -------------------------------------------------------------------------


def test_drift_charts_are_the_stored_scores_with_their_thresholds(
    ui: httpx.Client, site: Site
) -> None:
    page = ui.get(f"/monitoring/{DEPLOYMENT}?range=all").text
    specs = charts(page)
    for key in ("m0-f0", "m0-f1", "m0-f2"):
        feature = specs[key]["title"]
        rows = stored(site.settings, f"drift_score[{feature}]", "feature_drift")
        assert len(rows) == 6  # one check an hour
        (trace,) = specs[key]["traces"]
        assert trace["x"] == [r.window_end for r in rows]
        assert trace["y"] == [sig(r.value) for r in rows]
        assert trace["s"] == "".join(r.status[0] for r in rows)
        assert specs[key]["threshold"] == sig(rows[-1].details["threshold"])
    assert specs["m0-f0"]["title"] == "charges"  # drifted first, the largest latest score first
    share = stored(site.settings, "drift_share", "feature_drift")
    assert specs["m0-share"]["traces"][0]["y"] == [sig(100 * (r.value or 0)) for r in share]
    prediction = stored(site.settings, "prediction_drift", "prediction_drift")
    assert specs["m1-prediction"]["traces"][0]["y"] == [sig(r.value) for r in prediction]
    assert specs["m1-prediction"]["threshold"] == sig(prediction[-1].details["threshold"])


def test_performance_shows_each_sub_window_with_its_label_coverage(
    ui: httpx.Client, site: Site
) -> None:
    spec = charts(ui.get(f"/monitoring/{DEPLOYMENT}?range=all").text)["m2-performance"]
    traces = {t["name"]: t for t in spec["traces"]}
    assert list(traces) == ["accuracy", "f1", "label coverage"]
    coverage = [
        r for r in stored(site.settings, "label_coverage", "performance") if r.details.get("bucket")
    ]
    assert len(coverage) == 10  # five hours in half hours: the sixth has no labels yet
    assert traces["label coverage"]["x"] == [r.window_end for r in coverage]
    assert traces["label coverage"]["y"] == [sig(100 * (r.value or 0)) for r in coverage]
    assert traces["label coverage"]["y"][0] == pytest.approx(50, abs=2)  # every second one
    assert traces["label coverage"]["axis"] == "y2" and traces["label coverage"]["kind"] == "bar"
    accuracy = [
        r for r in stored(site.settings, "accuracy", "performance") if r.details.get("bucket")
    ]
    assert traces["accuracy"]["y"] == [sig(r.value) for r in accuracy]
    page = ui.get(f"/monitoring/{DEPLOYMENT}").text
    labelled = "<dt>Labelled in the last check</dt><dd>0 of 147 predictions (0%)</dd>"
    assert labelled in page  # the last hour: 147 answered (3 calls failed), no label yet


def test_service_health_alerts_and_retrainings(ui: httpx.Client, site: Site) -> None:
    page = ui.get(f"/monitoring/{DEPLOYMENT}").text
    specs = charts(page)
    latency = {t["name"]: t for t in specs["m3-latency"]["traces"]}
    assert list(latency) == ["p50", "p95", "p99"]
    p99 = stored(site.settings, "latency_p99_ms", "service_health")
    assert latency["p99"]["y"] == [sig(r.value) for r in p99]
    assert latency["p99"]["y"][-1] > 2 * latency["p99"]["y"][0]  # slower after the shift
    assert specs["m3-throughput"]["traces"][0]["y"][0] == sig(150 / 3600)
    errors = stored(site.settings, "error_rate", "service_health")
    assert specs["m3-errors"]["traces"][0]["y"] == [sig(100 * (r.value or 0)) for r in errors]
    assert specs["m3-errors"]["traces"][0]["y"][:3] == [0, 0, 0]  # 2% fail after the shift
    assert specs["m3-errors"]["traces"][0]["y"][3:] == [2, 2, 2] and specs["m3-errors"]["percent"]

    alerts = re.search(r'<table class="table" id="alerts">.*?</table>', page, re.S)
    assert alerts is not None
    rows = re.findall(r"<tr>\s*<td.*?</tr>", alerts[0], re.S)
    assert len(rows) == 6
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0], re.S)
    assert cells[1:3] == ["drift", "webhook"]
    assert ">failed<" in cells[3] and "loopback address" in cells[6]

    first, second = site.seeded.retrainings
    table = page.split('<table class="table" id="retrainings">', 1)[1].split("</section>", 1)[0]
    parts = re.split(r'<tr id="retraining-(\d+)">', table)  # a row holds a table of figures
    rows_by_id = {int(i): text for i, text in zip(parts[1::2], parts[2::2], strict=True)}
    assert list(rows_by_id) == [second, first]  # newest first
    rolled = rows_by_id[first]
    assert '<strong class="nowrap">drift</strong>' in rolled and "0.667 against 0.3" in rolled
    assert (
        '<a href="/models/churn/versions/1">v1</a> → <a href="/models/churn/versions/2">v2</a>'
        in rolled
    )
    assert f'pipeline run <a class="mono" href="/pipelines/runs/{"a" * 32}">' in rolled
    states = re.findall(r"</span> (\w[\w ]*?)(?: <span| ?</li>|:)", rolled)
    assert states == ["triggered", "training", "validated", "canary", "rolled back"]
    assert "<strong>rollback</strong>" in rolled
    arms = re.findall(
        r"<tr><th class=\"nowrap\">([\w ]+)</th><td class=\"num\">([^<]*)</td><td class=\"num\">([^<]*)</td>",
        rolled,
    )
    assert arms == [
        ("version", "v1", "v2"),
        ("predictions", "900", "100"),
        ("error rate", "1.00%", "4.00%"),
        ("accuracy", "0.91", ""),
    ]
    failed = rows_by_id[second]
    assert ">failed<" in failed and "→ <span class" in failed and "arms" not in failed


def test_a_deployment_without_results_and_bad_requests(ui: httpx.Client) -> None:
    idle = ui.get(f"/monitoring/{IDLE_DEPLOYMENT}")
    assert idle.status_code == 200
    assert (
        'id="no-results"' in idle.text and f"mlstage monitor check {IDLE_DEPLOYMENT}" in idle.text
    )
    assert 'id="no-alerts"' in idle.text and 'id="no-retrainings"' in idle.text
    assert "data-chart-spec" not in idle.text and "plotly" not in idle.text
    bad = ui.get(f"/monitoring/{DEPLOYMENT}?range=2w")
    assert bad.status_code == 400
    assert "range must be one of 1d, 7d, 30d, 90d, 1y, all; got &#39;2w&#39;" in bad.text
    assert ui.get("/monitoring/nobody").status_code == 404
    assert ui.get("/monitoring/a..b").status_code == 400


def test_the_script_is_served_behind_the_pages_auth(site: Site) -> None:
    script = site.ui.get("/ui/monitoring.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "window.Plotly.newPlot" in script.text
    again = site.ui.get("/ui/monitoring.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert site.secured.get("/ui/monitoring.js").status_code == 401
    assert site.secured.get("/ui/monitoring.js", headers=site.as_user("vera")).status_code == 200


# -- project scoping --------------------------------------------------------------------------


def test_subjects_of_a_project_the_caller_cannot_read_never_appear(site: Site) -> None:
    vera, fiona = site.as_user("vera"), site.as_user("fiona")
    listed = site.secured.get("/monitoring", headers=vera)
    assert listed.status_code == 200
    assert f'data-subject="{DEPLOYMENT}"' in listed.text and HIDDEN_MODEL not in listed.text
    hidden = site.secured.get(f"/monitoring/{HIDDEN_MODEL}", headers=vera)
    assert hidden.status_code == 404  # as if it did not exist
    assert f"&#39;{HIDDEN_MODEL}&#39; is neither a deployment nor a monitored model" in hidden.text

    theirs = site.secured.get("/monitoring", headers=fiona)
    assert f'data-subject="{HIDDEN_MODEL}"' in theirs.text
    assert DEPLOYMENT not in theirs.text and IDLE_DEPLOYMENT not in theirs.text
    assert site.secured.get(f"/monitoring/{HIDDEN_MODEL}", headers=fiona).status_code == 200
    for name in (DEPLOYMENT, IDLE_DEPLOYMENT):
        assert site.secured.get(f"/monitoring/{name}", headers=fiona).status_code == 404


# -- a year of hourly checks -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_year_of_hourly_results_is_folded_in_sql(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, client_for: Any
) -> None:
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    settings = config.load_settings(
        start=tmp_path, tracking_uri=url, artifact_root=str(tmp_path / "a")
    )
    end = 1_780_000_000_000 // HOUR * HOUR
    hours = 365 * 24
    db = Database(url)
    try:
        SqlMonitorResults(db).add(
            [
                MetricResult(
                    subject="yearly",
                    model="yearly",
                    monitor="service_health",
                    window_start=end - (hours - h + 1) * HOUR,
                    window_end=end - (hours - h) * HOUR,
                    metric=metric,
                    value=float(h),
                    status="alert" if h == hours - 5 else "ok",
                )
                for h in range(1, hours + 1)
                for metric in ("latency_p50_ms", "throughput_per_s")
            ]
        )
    finally:
        db.dispose()
    client = client_for(create_app(settings))
    year = charts(client.get("/monitoring/yearly?range=1y").text)["m0-latency"]
    (trace,) = year["traces"]
    assert len(trace["x"]) == 183 <= MAX_POINTS  # two days a point
    assert sum(trace["n"]) == hours  # every check counted once
    last = range(182 * 48 + 1, hours + 1)  # the last two days' slot holds the rest
    assert trace["n"][-1] == len(last) == 24
    assert trace["y"][-1] == pytest.approx(sum(last) / len(last), rel=1e-6)
    assert trace["lo"][-1] == last[0] and trace["hi"][-1] == hours
    assert trace["s"].count("a") == 1 and trace["s"][-1] == "a"  # the alert survives folding
    month = charts(client.get("/monitoring/yearly").text)["m0-latency"]["traces"][0]
    assert len(month["x"]) == 240 and set(month["n"]) == {3}  # 30 days, three hours a point
    assert month["x"][-1] == end
    listed = client.get("/monitoring").text  # the distinct subjects: a recursive skip-scan
    assert 'data-subject="yearly"' in listed and "latency_p50_ms = 8755" not in listed
