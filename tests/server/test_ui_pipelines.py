"""The pipelines pages of the web UI: definitions, schedules, a pipeline's runs, a run's graph.

One app over a real SQLite store; the runs are real ``@pipeline`` runs (one
that succeeds, one whose step fails), with a script payload in a parameter,
a step's log and its error.
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import event

from mlstage import config
from mlstage.config import Settings
from mlstage.server import create_app
from mlstage.server.ui import svg
from mlstage.server.ui.render import CONTENT_SECURITY_POLICY, when
from tests.e2e.ui_data import XSS
from tests.e2e.ui_stage2 import Stage2, seed_stage2, stage2_settings, ui_training

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAYLOAD = " ".join(XSS)
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[TestClient, Stage2, Settings]]:
    root = tmp_path_factory.mktemp("ui-pipelines")
    settings = stage2_settings(root, sqlite_template)
    seeded = seed_stage2(settings, root, PAYLOAD)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, seeded, settings


@pytest.fixture
def ui(site: tuple[TestClient, Stage2, Settings]) -> httpx.Client:
    return site[0]


@pytest.fixture
def seeded(site: tuple[TestClient, Stage2, Settings]) -> Stage2:
    return site[1]


def nodes(page: str) -> dict[str, tuple[str, float, float]]:
    """Step name -> (class, x, y) of each box of the run graph."""
    found = {}
    for m in re.finditer(
        r'<a href="#step-\d+" class="([^"]+)" data-step="([^"]+)">.*?<rect x="([\d.]+)" y="([\d.]+)"',
        page,
        re.S,
    ):
        found[m.group(2)] = (m.group(1), float(m.group(3)), float(m.group(4)))
    return found


def test_every_pipeline_page_escapes_user_text(ui: httpx.Client, seeded: Stage2) -> None:
    for path in [
        "/pipelines",
        "/pipelines/ui_training",
        "/pipelines/ui_broken",
        f"/pipelines/runs/{seeded.ok_run}",
        f"/pipelines/runs/{seeded.failed_run}",
    ]:
        response = ui.get(path)
        assert response.status_code == 200, (path, response.text[:400])
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        for payload in XSS:
            assert payload not in response.text, path
        assert ESCAPED in response.text, path  # a parameter value at least
        assert " style=" not in response.text and "<script>" not in response.text, path


def test_the_list_shows_definitions_last_runs_and_schedules(
    ui: httpx.Client, seeded: Stage2, site: tuple[TestClient, Stage2, Settings]
) -> None:
    page = ui.get("/pipelines").text
    table = re.search(r'id="pipelines">.*?</table>', page, re.S)
    assert table is not None
    rows = re.findall(r"<tr>\s*<td class=\"nowrap\"><a href=\"/pipelines/(\w+)\">.*?</tr>",
                      table.group(0), re.S)  # fmt: skip
    assert rows == ["ui_broken", "ui_training"]
    training = re.search(r'href="/pipelines/ui_training">.*?</tr>', table.group(0), re.S)
    assert training is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", training.group(0), re.S)
    assert cells[0] == "4"  # steps
    assert f'href="/pipelines/runs/{seeded.ok_run}"' in training.group(0)
    assert "badge-succeeded" in training.group(0)
    assert "badge-failed" in table.group(0)  # ui_broken's last run
    assert f'href="/pipelines/runs/{seeded.failed_run}"' in page  # recent runs
    schedules = re.search(r'id="schedules">.*?</table>', page, re.S)
    assert schedules is not None
    from mlstage.pipelines.sql_schedules import SqlScheduleStore

    tracking = site[0].app.state.stores.tracking()  # type: ignore[attr-defined]
    nightly = SqlScheduleStore(tracking.db).get_schedule("nightly")
    text = schedules.group(0)
    assert '<td class="mono">0 2 * * *</td>' in text and when(nightly.next_due) in text
    assert text.count(">enabled<") == 1 and text.count(">disabled<") == 1
    assert f"message=night{ESCAPED}" in text


def test_a_run_is_drawn_as_a_graph_by_dependency_level(ui: httpx.Client, seeded: Stage2) -> None:
    page = ui.get(f"/pipelines/runs/{seeded.ok_run}").text
    boxes = nodes(page)
    assert list(boxes) == ["make_rows", "validate_data", "summarise", "report"]
    assert all("node-succeeded" in css for css, _, _ in boxes.values())
    xs = [x for _, x, _ in boxes.values()]
    assert xs == sorted(xs) and len(set(xs)) == 4  # a chain: one column a step
    assert page.count('<path class="edge"') == 3
    assert re.search(r'class="node-meta"[^>]*>succeeded · \d', page)  # status and duration
    steps = re.search(r'id="steps">.*?</table>', page, re.S)
    assert steps is not None
    assert steps.group(0).count('class="step-row"') == 4
    assert "make_rows · DataFrame" in steps.group(0)  # an output with its type
    assert re.search(r'<a href="/runs/[0-9a-f]{32}">', steps.group(0))  # tracked runs
    assert f"report says hi{ESCAPED}" in page  # a step's log, escaped
    assert 'class="step-logs"><summary>Logs of report' in page


def test_a_failed_run_shows_its_error_and_traceback(ui: httpx.Client, seeded: Stage2) -> None:
    page = ui.get(f"/pipelines/runs/{seeded.failed_run}").text
    boxes = nodes(page)
    assert "node-succeeded" in boxes["make_rows"][0]
    assert "node-failed" in boxes["fail_loudly"][0]
    assert boxes["fail_loudly"][1] > boxes["make_rows"][1]
    assert 'id="run-error">' in page and f"refused: no{ESCAPED}" in page
    traceback = re.search(r'<details class="step-traceback" open>.*?</details>', page, re.S)
    assert traceback is not None
    assert "Traceback (most recent call last)" in traceback.group(0)
    assert f"RuntimeError: refused: no{ESCAPED}" in traceback.group(0)


def test_a_cached_step_is_marked(
    ui: httpx.Client, site: tuple[TestClient, Stage2, Settings], seeded: Stage2
) -> None:
    config.set_settings(site[2])
    again = ui_training.run(schema=seeded.schema, message=f"hi{PAYLOAD}")
    config.set_settings(None)
    assert again.steps_by_name["summarise"].cached
    page = ui.get(f"/pipelines/runs/{again.run_id}").text
    boxes = nodes(page)
    assert "node-cached" in boxes["summarise"][0]
    assert "node-cached" not in boxes["validate_data"][0]  # never cached
    assert "badge-cached" in page
    runs = ui.get("/pipelines/ui_training").text
    assert runs.count('href="/pipelines/runs/') == 2 and "2 runs" in runs


def test_the_runs_of_a_pipeline(ui: httpx.Client, seeded: Stage2) -> None:
    page = ui.get("/pipelines/ui_broken").text
    table = re.search(r'id="runs">.*?</table>', page, re.S)
    assert table is not None
    assert f'href="/pipelines/runs/{seeded.failed_run}"' in table.group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", table.group(0), re.S)
    assert "FAILED" in cells[1] and cells[4] == "local"
    assert f"message=no{ESCAPED}" in cells[5]
    steps = re.search(r'id="definition-steps">.*?</table>', page, re.S)
    assert steps is not None and "tests.e2e.ui_stage2.fail_loudly" in steps.group(0)
    assert "ui_stage2.py:" in steps.group(0)  # where the step is called


def test_unknown_pipelines_runs_and_pages(ui: httpx.Client) -> None:
    for path, status, message in [
        ("/pipelines/nope", 404, "pipeline 'nope' has never run"),
        ("/pipelines/runs/0123456789abcdef", 404, "pipeline run '0123456789abcdef' does not exist"),
        ("/pipelines/ui_broken?page=2", 404, "past the last page"),
        ("/pipelines/ui_broken?page=0", 400, "page must be a whole number"),
        (f"/pipelines/{quote(XSS[0])}", 404, "has never run"),
        (f"/pipelines/runs/{quote(XSS[0])}", 404, "does not exist"),
    ]:
        response = ui.get(path)
        assert response.status_code == status, path
        assert message in html.unescape(response.text), path
        assert XSS[0] not in response.text, path


def test_the_list_reads_a_constant_number_of_queries(
    ui: httpx.Client, site: tuple[TestClient, Stage2, Settings], seeded: Stage2
) -> None:
    tracking = site[0].app.state.stores.tracking()  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(tracking.db.engine, "before_cursor_execute", count)
    try:
        ui.get("/pipelines")
        before = len(statements)
        config.set_settings(site[2])
        for _ in range(3):
            ui_training.run(schema=seeded.schema, message="more")
        config.set_settings(None)
        statements.clear()
        assert ui.get("/pipelines").status_code == 200
    finally:
        event.remove(tracking.db.engine, "before_cursor_execute", count)
    assert len(statements) == before


def test_levels_place_each_step_after_its_deepest_input() -> None:
    upstream = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["a", "d"], "x": []}
    assert svg.levels(upstream) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3, "x": 0}
    assert svg.levels({"p": ["q"], "q": ["p"], "r": []}) == {"p": 1, "q": 1, "r": 0}  # a cycle


def test_a_diamond_shares_a_column_and_every_edge_is_drawn() -> None:
    spec = [
        {"name": "load", "upstream": []},
        {"name": "left", "upstream": ["load"]},
        {"name": "right", "upstream": ["load"]},
        {"name": "join", "upstream": ["left", "right"]},
    ]
    graph = svg.run_graph(spec, {}, str)
    boxes = {n.name: n for n in graph.nodes}
    assert boxes["left"].x == boxes["right"].x > boxes["load"].x
    assert boxes["left"].y != boxes["right"].y
    assert boxes["join"].x > boxes["left"].x
    assert {(e.source, e.target) for e in graph.edges} == {
        ("load", "left"), ("load", "right"), ("left", "join"), ("right", "join"),
    }  # fmt: skip
    assert all(n.status == "PENDING" for n in graph.nodes)
    assert graph.width >= boxes["join"].x + graph.node_width
    assert graph.height >= boxes["right"].y + graph.node_height
