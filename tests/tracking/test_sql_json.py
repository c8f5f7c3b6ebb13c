"""The REST search's JSON written from rows equals the JSON of the entities it replaces."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import pytest

from mlstage.errors import InvalidInput
from mlstage.server.responses import rendered
from mlstage.tracking import runs_table
from mlstage.tracking.entities import (
    ColumnSchema,
    Dataset,
    DatasetInput,
    Metric,
    RunContext,
    RunStatus,
)
from mlstage.tracking.fluent import runs_frame
from mlstage.tracking.sql_json import float_json
from mlstage.tracking.sql_store import SqlTrackingStore

ODD_TEXT = 'quote " backslash \\ tab \t newline \n nul-free \x01 é 漢字 😀 </script>'
ODD_NAME = 'quote " backslash \\ é 漢字 😀 </script>'  # names refuse control characters


def _same_documents(fast: bytes, slow: bytes) -> None:
    # sort_keys and NaN written as a token: two equal documents give equal text. SQLite
    # keeps -0.0 as 0.0 in a REAL column (the text form keeps the sign): equal numbers.
    def canonical(raw: bytes) -> str:
        doc = json.loads(raw, parse_float=lambda text: float(text) + 0.0)
        return json.dumps(doc, sort_keys=True, allow_nan=True)

    assert canonical(fast) == canonical(slow)


def _populate(store: SqlTrackingStore) -> str:
    exp = store.create_experiment("json-" + ODD_TEXT[:5]).experiment_id
    plain = store.create_run(exp, "plain")
    store.end_run(plain.run_id, RunStatus.FINISHED)
    rich = store.create_run(
        exp,
        "rich " + ODD_NAME,
        RunContext(
            user="ü" + ODD_NAME[:10],
            git_commit="abc123",
            git_dirty=True,
            python_version="3.11.7",
            packages={"numpy": "2.0", "é": "1"},
        ),
        tags={"t: odd": ODD_TEXT},
    )
    values = [0.1, -0.0, 1e300, 5e-324, 123456789.123456789, math.nan, math.inf, -math.inf, 3.0]
    store.log_batch(
        rich.run_id,
        [Metric(key=f"m{i}", value=value, step=0, timestamp=1) for i, value in enumerate(values)]
        + [Metric(key="m0", value=0.7, step=1, timestamp=2)],  # the latest point wins
        params={"p": ODD_TEXT, "empty": ""},
    )
    schema = [ColumnSchema(name="a", dtype="int64")]
    dataset = Dataset(name="d", digest="f" * 16, num_rows=3, num_columns=1, schema=schema)
    store.log_inputs(rich.run_id, [DatasetInput(dataset=dataset, context="eval")])
    clean = store.create_run(exp, "clean", RunContext(git_dirty=False))
    store.end_run(clean.run_id, RunStatus.FAILED, "boom " + ODD_TEXT)
    deleted = store.create_run(exp, "deleted")
    store.delete_run(deleted.run_id)
    return exp


@pytest.fixture(params=["one connection", "metrics meanwhile"])
def aggregation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Each search reads the metrics on its own connection, or on a second one meanwhile
    (the path of large searches, taken here from one run); the second connections used."""
    from mlstage.tracking import sql_run_reads

    used: list[Any] = []
    if request.param == "metrics meanwhile":
        real = sql_run_reads._meanwhile

        def counted(*args: Any) -> Any:
            found = real(*args)
            used.append(found)
            return found

        monkeypatch.setattr(sql_run_reads, "PARALLEL_FROM", 1)
        monkeypatch.setattr(sql_run_reads, "_meanwhile", counted)
    return used


def test_search_json_equals_the_entities_json(
    sql_store: SqlTrackingStore, aggregation: list[Any]
) -> None:
    exp = _populate(sql_store)
    for order in ([], ["metrics.m0 DESC"], ["attributes.run_name ASC"]):
        fast = sql_store.search_runs_json([exp], None, order)
        slow = rendered(sql_store.search_runs([exp], None, order)).body
        _same_documents(fast, slow)
        runs = json.loads(fast)["runs"]
        assert len(runs) == 3  # the deleted run is not listed
    rich = next(r for r in json.loads(fast)["runs"] if r["name"].startswith("rich"))
    assert rich["metrics"]["m0"] == 0.7
    assert math.isnan(rich["metrics"]["m5"]) and rich["metrics"]["m6"] == math.inf
    assert rich["params"]["p"] == ODD_TEXT and rich["context"]["git_dirty"] is True
    assert rich["inputs"][0]["dataset"]["schema"] == [{"name": "a", "dtype": "int64"}]
    assert all(used is not None for used in aggregation)  # a file or a server: two connections


def test_search_json_pages_like_the_entities(sql_store: SqlTrackingStore) -> None:
    exp = sql_store.create_experiment("paged").experiment_id
    for i in range(5):
        sql_store.create_run(exp, f"r{i}")
    token = None
    seen = []
    while True:
        fast = json.loads(sql_store.search_runs_json([exp], max_results=2, page_token=token))
        slow = sql_store.search_runs([exp], max_results=2, page_token=token)
        assert [r["run_id"] for r in fast["runs"]] == [r.run_id for r in slow.runs]
        assert fast["next_page_token"] == slow.next_page_token
        seen += [r["name"] for r in fast["runs"]]
        token = fast["next_page_token"]
        if token is None:
            break
    assert sorted(seen) == [f"r{i}" for i in range(5)]
    with pytest.raises(InvalidInput, match="max_results"):
        sql_store.search_runs_json([exp], max_results=0)
    with pytest.raises(InvalidInput, match="page_token"):
        sql_store.search_runs_json([exp], page_token="not-a-token")


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "NaN"), (math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity"),
     (0.1, "0.1"), (1e300, "1e+300"), (3, "3.0")],
)  # fmt: skip
def test_float_json_round_trips(value: float | None, text: str) -> None:
    assert float_json(value) == text
    if value is not None and not math.isnan(value):
        assert json.loads(float_json(value)) == value


def test_search_table_equals_the_frame_of_the_entities(store: Any, aggregation: list[Any]) -> None:
    """The columnar page (SQL stores, and the server's Arrow answer) makes the same DataFrame."""
    exp = store.create_experiment("table").experiment_id
    first = store.create_run(exp, "first", tags={"t": "x"})
    store.log_batch(
        first.run_id,
        [Metric(key="a", value=v, step=0, timestamp=1) for v in [math.nan]]
        + [Metric(key="b", value=-math.inf, step=0, timestamp=1)],
        params={"p": ODD_TEXT},
    )
    second = store.create_run(exp, "second")
    store.log_batch(second.run_id, [Metric(key="c", value=0.1, step=0, timestamp=1)])
    store.end_run(second.run_id, RunStatus.FINISHED)
    store.create_run(exp, "bare")
    for size in (1, 2, 10):  # pages with different columns are merged
        tables, token = [], None
        while True:
            page = store.search_runs_table([exp], None, ["attributes.run_name ASC"], size, token)
            tables.append(page)
            token = runs_table.page_token(page)
            if token is None:
                break
        frame = runs_table.frame_of(runs_table.concat_pages(tables))
        runs = store.search_runs([exp], None, ["attributes.run_name ASC"]).runs
        pd.testing.assert_frame_equal(frame, runs_frame(runs))
    assert list(frame["run_name"]) == ["bare", "first", "second"]
    assert math.isnan(frame.loc[1, "metrics.a"]) and frame.loc[1, "metrics.b"] == -math.inf
    assert frame.loc[1, "params.p"] == ODD_TEXT and pd.isna(frame.loc[0, "params.p"])


def test_search_runs_builds_the_dataframe_from_the_table(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mlstage.search_runs`` uses the columnar pages, and falls back to runs without them."""
    import mlstage
    from mlstage.tracking import fluent

    exp = store.create_experiment("fluent-table").experiment_id
    for i in range(3):
        run = store.create_run(exp, f"r{i}")
        store.log_batch(run.run_id, [Metric(key="m", value=float(i), step=0, timestamp=1)])
    monkeypatch.setattr(fluent, "_store", lambda: store)
    fast = mlstage.search_runs([exp], order_by="metrics.m DESC", max_results=2)
    assert list(fast["metrics.m"]) == [2.0, 1.0]
    monkeypatch.setattr(type(store), "search_runs_table", lambda *a, **k: None)
    slow = mlstage.search_runs([exp], order_by="metrics.m DESC", max_results=2)
    pd.testing.assert_frame_equal(fast, slow)


def test_metric_members_parse_to_the_floats_python_wrote() -> None:
    """Every float repr and every key character a metric may have comes back unchanged."""
    import numpy as np

    from mlstage.tracking.sql_json import json_member

    odd = [0.1, -0.0, 1e300, 5e-324, 123456789.123456789, math.inf, -math.inf, 2.5e-7, 3.0]
    keys = ["plain", "a:b", "with space", "x/y.z-1_2", "m:"]
    runs: list[dict[str, float]] = [
        {key: odd[(i + j) % len(odd)] for j, key in enumerate(keys[: 1 + i % len(keys)])}
        for i in range(23)
    ]
    runs[4] = {}  # a run without metrics
    runs[7]["plain"] = math.nan
    members = [",".join(json_member(k, v) for k, v in run.items()) or None for run in runs]
    columns = runs_table._metric_columns(members)
    assert sorted(columns) == sorted(keys)
    for i, run in enumerate(runs):
        for key in keys:
            got = columns[key][i]
            want = run.get(key, math.nan)
            assert (math.isnan(got) and math.isnan(want)) or (
                got == want and math.copysign(1, got) == math.copysign(1, want)
            ), (i, key, got, want)
    assert runs_table._metric_columns([None, ""]) == {}
    assert np.isnan(columns["plain"][4])
