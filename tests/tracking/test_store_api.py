"""The TrackingStore contract, run against SQLite, PostgreSQL and the HTTP store alike."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pytest

from mlstage.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from mlstage.tracking.entities import (
    ColumnSchema,
    Dataset,
    DatasetInput,
    Metric,
    RunContext,
    RunStatus,
)

UNKNOWN_RUN = "0" * 32


def make_run(store: Any, experiment: str = "exp", name: str | None = None) -> str:
    exp = store.get_or_create_experiment(experiment)
    return str(store.create_run(exp.experiment_id, name).run_id)


def points(key: str, values: list[float], start: int = 0) -> list[Metric]:
    return [
        Metric(key=key, value=x, step=start + i, timestamp=1000 + i) for i, x in enumerate(values)
    ]


# -- experiments --------------------------------------------------------------------


def test_experiment_create_get_list_delete(store: Any) -> None:
    created = store.create_experiment("churn", {"team": "risk"})
    assert created.name == "churn"
    assert created.tags == {"team": "risk"}
    assert store.get_experiment(created.experiment_id) == created
    assert store.get_experiment_by_name("churn") == created
    assert store.get_experiment_by_name("nope") is None
    assert [e.name for e in store.list_experiments()] == ["churn"]
    store.delete_experiment(created.experiment_id)
    assert store.list_experiments() == []
    assert [e.lifecycle_stage for e in store.list_experiments(include_deleted=True)] == ["deleted"]


def test_duplicate_experiment_name_is_a_conflict(store: Any) -> None:
    store.create_experiment("churn")
    with pytest.raises(Conflict, match="experiment 'churn' already exists"):
        store.create_experiment("churn")
    assert len(store.list_experiments()) == 1


def test_get_or_create_experiment_is_idempotent(store: Any) -> None:
    first = store.get_or_create_experiment("a")
    assert store.get_or_create_experiment("a") == first


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must not be empty"),
        ("x" * 251, "the limit is 250"),
        ("a\x00b", "control character"),
        (" padded", "white space"),
    ],
)
def test_bad_experiment_names_are_refused(store: Any, name: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        store.create_experiment(name)
    assert store.list_experiments() == []


def test_unknown_experiment_ids(store: Any) -> None:
    with pytest.raises(NotFound, match="experiment '999' does not exist"):
        store.get_experiment("999")
    with pytest.raises(NotFound, match="999"):
        store.create_run("999")
    with pytest.raises(InvalidInput, match="experiment_id must be a whole number"):
        store.get_experiment("1; DROP TABLE runs")


# -- runs ------------------------------------------------------------------------------


def test_run_lifecycle_records_status_times_and_context(store: Any) -> None:
    exp = store.create_experiment("e")
    context = RunContext(
        user="ada",
        host="box",
        git_commit="abc123",
        git_dirty=True,
        python_version="3.11.7",
        packages={"numpy": "2.0"},
        command="train.py",
    )
    run = store.create_run(exp.experiment_id, "first", context, {"stage": "dev"})
    assert run.status is RunStatus.RUNNING
    fetched = store.get_run(run.run_id)
    assert fetched.name == "first"
    assert fetched.context == context
    assert fetched.tags == {"stage": "dev"}
    assert fetched.end_time is None
    store.end_run(run.run_id, RunStatus.FAILED, "ValueError: boom")
    ended = store.get_run(run.run_id)
    assert ended.status is RunStatus.FAILED
    assert ended.status_reason == "ValueError: boom"
    assert ended.end_time is not None and ended.end_time >= ended.start_time


def test_unknown_run_ids_are_not_found(store: Any) -> None:
    for call in (
        lambda: store.get_run(UNKNOWN_RUN),
        lambda: store.end_run(UNKNOWN_RUN, RunStatus.FINISHED),
        lambda: store.log_batch(UNKNOWN_RUN, points("m", [1.0])),
        lambda: store.get_metric_history(UNKNOWN_RUN, "m"),
        lambda: store.delete_run(UNKNOWN_RUN),
    ):
        with pytest.raises(NotFound, match=UNKNOWN_RUN):
            call()
    with pytest.raises(InvalidInput, match="run_id must be 32 lowercase hex"):
        store.get_run("../../etc/passwd")


def test_deleted_runs_leave_search_and_refuse_logging(store: Any) -> None:
    run_id = make_run(store)
    exp_id = store.get_run(run_id).experiment_id
    store.delete_run(run_id)
    assert store.search_runs([exp_id]).runs == []
    with pytest.raises(Conflict, match="deleted"):
        store.log_batch(run_id, points("m", [1.0]))


# -- metrics, params, tags ----------------------------------------------------------------------


def test_metric_history_round_trips_in_step_order(store: Any) -> None:
    run_id = make_run(store)
    store.log_batch(run_id, points("loss", [0.5, 0.4, 0.3], start=1))
    store.log_batch(run_id, [Metric(key="loss", value=0.9, step=0, timestamp=5)])
    history = store.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (2, 0.4), (3, 0.3)]
    assert store.get_run(run_id).metrics == {"loss": 0.3}


def test_latest_metric_is_the_highest_step_not_the_last_written(store: Any) -> None:
    run_id = make_run(store)
    store.log_batch(run_id, points("acc", [0.1, 0.2, 0.9]))
    store.log_batch(run_id, [Metric(key="acc", value=0.0, step=0, timestamp=9999)])
    assert store.get_run(run_id).metrics["acc"] == 0.9


def test_nan_and_infinity_are_stored_faithfully(store: Any) -> None:
    run_id = make_run(store)
    values = [float("nan"), float("inf"), float("-inf"), -0.0, 1e308]
    store.log_batch(run_id, points("odd", values))
    history = [m.value for m in store.get_metric_history(run_id, "odd")]
    assert math.isnan(history[0])
    assert history[1:] == [math.inf, -math.inf, 0.0, 1e308]


def test_params_are_immutable_and_tags_overwrite(store: Any) -> None:
    run_id = make_run(store)
    store.log_batch(run_id, params={"C": "1.0"}, tags={"t": "a"})
    store.log_batch(run_id, params={"C": "1.0"}, tags={"t": "b"})  # same value: fine
    with pytest.raises(Conflict, match="param 'C' .* is already '1.0'"):
        store.log_batch(run_id, params={"C": "2.0", "new": "x"})
    run = store.get_run(run_id)
    assert run.params == {"C": "1.0"}  # "new" was not written either
    assert run.tags == {"t": "b"}


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("a/../b", "must not contain '..'"),
        ("..", "must not contain '..'"),
        ("/abs", "must not start with '/'"),
        ("tab\there", "control character"),
        ("x" * 251, "the limit is 250"),
        ("semi;colon", "may only contain"),
        ("", "must not be empty"),
    ],
)
def test_bad_keys_are_refused_and_nothing_is_written(store: Any, key: str, problem: str) -> None:
    run_id = make_run(store)
    good = Metric(key="good", value=1.0, step=0, timestamp=1)
    with pytest.raises(InvalidInput, match=problem):
        store.log_batch(run_id, [good, Metric(key=key, value=1.0, step=0, timestamp=1)])
    with pytest.raises(InvalidInput, match=problem):
        store.log_batch(run_id, params={"fine": "1", key: "v"})
    with pytest.raises(InvalidInput, match=problem):
        store.log_batch(run_id, tags={key: "v"})
    run = store.get_run(run_id)
    assert (run.metrics, run.params, run.tags) == ({}, {}, {})
    assert store.get_metric_history(run_id, "good") == []


def test_long_param_values_are_refused(store: Any) -> None:
    run_id = make_run(store)
    store.log_batch(run_id, params={"ok": "x" * 6000})
    with pytest.raises(
        InvalidInput, match="param 'big' value is 6001 characters; the limit is 6000"
    ):
        store.log_batch(run_id, params={"big": "x" * 6001})
    assert list(store.get_run(run_id).params) == ["ok"]


def test_batch_limits(store: Any) -> None:
    run_id = make_run(store)
    with pytest.raises(PayloadTooLarge, match="at most 1000 metrics; got 1001"):
        store.log_batch(run_id, points("m", [0.0] * 1001))
    assert store.get_metric_history(run_id, "m") == []


# -- search --------------------------------------------------------------------------------


@pytest.fixture
def searchable(store: Any) -> tuple[Any, str, list[str]]:
    exp = store.create_experiment("search")
    ids = []
    for i in range(6):
        run = store.create_run(exp.experiment_id, f"run-{i}")
        store.log_batch(
            run.run_id,
            [Metric(key="auc", value=i / 10, step=0, timestamp=1)],
            params={"model": "rf" if i % 2 else "lr", "i": str(i)},
            tags={"team": "a" if i < 3 else "b"},
        )
        store.end_run(run.run_id, RunStatus.FINISHED if i != 5 else RunStatus.FAILED)
        ids.append(run.run_id)
    return store, exp.experiment_id, ids


def test_search_filters_and_orders(searchable: tuple[Any, str, list[str]]) -> None:
    store, exp_id, ids = searchable
    page = store.search_runs(
        [exp_id],
        "metrics.auc > 0.05 and params.model = 'rf' and attributes.status = 'FINISHED'",
        ["metrics.auc DESC"],
    )
    assert [r.name for r in page.runs] == ["run-3", "run-1"]
    page = store.search_runs([exp_id], "tags.team != 'a'", ["metrics.auc ASC"])
    assert [r.name for r in page.runs] == ["run-3", "run-4", "run-5"]
    page = store.search_runs([exp_id], "params.i IN ('0', '4')", ["params.i DESC"])
    assert [r.name for r in page.runs] == ["run-4", "run-0"]
    page = store.search_runs([exp_id], "attributes.run_name LIKE 'run-%' and metrics.auc <= 0.1")
    assert sorted(r.name for r in page.runs) == ["run-0", "run-1"]


def test_search_pages_through_every_run_once(searchable: tuple[Any, str, list[str]]) -> None:
    store, exp_id, ids = searchable
    seen: list[str] = []
    token = None
    while True:
        page = store.search_runs([exp_id], None, ["metrics.auc DESC"], 4, token)
        seen += [r.run_id for r in page.runs]
        token = page.next_page_token
        if token is None:
            break
    assert seen == list(reversed(ids))


def test_search_returns_whole_runs(searchable: tuple[Any, str, list[str]]) -> None:
    store, exp_id, ids = searchable
    run = store.search_runs([exp_id], "params.i = '2'").runs[0]
    assert run.metrics == {"auc": 0.2}
    assert run.params == {"model": "lr", "i": "2"}
    assert run.tags == {"team": "a"}


@pytest.mark.parametrize(
    ("filter_text", "problem"),
    [
        ("metrics.acc > 0.9 OR 1=1", "OR is not supported"),
        ("params.x = '' OR ''=''", "OR is not supported"),
        ("tags.t = 'a'; DROP TABLE runs;--", "unexpected character ';'"),
        ("metrics.acc > 'high'", "compares with a number"),
        ("params.x > 3", "does not apply to param"),
        ("bogus.x = 1", "unknown entity 'bogus'"),
        ("metrics.acc >", "compares with a number, got 'the end'"),
        (" and ".join(["metrics.a > 1"] * 51), "at most 50 clauses"),
    ],
)
def test_bad_filters_point_at_the_token(
    searchable: tuple[Any, str, list[str]], filter_text: str, problem: str
) -> None:
    store, exp_id, _ = searchable
    with pytest.raises(InvalidInput, match=problem):
        store.search_runs([exp_id], filter_text)
    assert len(store.search_runs([exp_id]).runs) == 6  # and the table is still there


def test_bad_order_by_and_page_token(searchable: tuple[Any, str, list[str]]) -> None:
    store, exp_id, _ = searchable
    with pytest.raises(
        InvalidInput, match="invalid order_by at position 11: unexpected character ';'"
    ):
        store.search_runs([exp_id], None, ["metrics.acc; DROP TABLE runs"])
    with pytest.raises(InvalidInput, match="only ASC or DESC"):
        store.search_runs([exp_id], None, ["metrics.acc sideways"])
    with pytest.raises(InvalidInput, match="page_token"):
        store.search_runs([exp_id], None, None, 10, "not-a-token")
    with pytest.raises(InvalidInput, match="max_results must be between 1 and 50000"):
        store.search_runs([exp_id], None, None, 10**9)


# -- inputs and artifacts ---------------------------------------------------------------------------


def test_log_inputs_records_dataset_once(store: Any) -> None:
    run_id = make_run(store)
    dataset = Dataset(
        name="train",
        digest="a" * 64,
        num_rows=10,
        num_columns=2,
        schema=[ColumnSchema(name="x", dtype="float64"), ColumnSchema(name="y", dtype="int64")],
    )
    store.log_inputs(run_id, [DatasetInput(dataset=dataset)])
    store.log_inputs(run_id, [DatasetInput(dataset=dataset)])
    inputs = store.get_run(run_id).inputs
    assert len(inputs) == 1
    assert inputs[0].dataset == dataset
    assert inputs[0].context == "training"


def test_artifacts_round_trip_with_hash(store: Any) -> None:
    run_id = make_run(store)
    info = store.log_artifact(run_id, "plots/roc.txt", b"curve")
    assert info.sha256 == hashlib.sha256(b"curve").hexdigest()
    store.log_artifact(run_id, "model.json", b"{}")
    assert store.read_artifact(run_id, "plots/roc.txt") == b"curve"
    assert [(a.path, a.is_dir) for a in store.list_artifacts(run_id)] == [
        ("model.json", False),
        ("plots", True),
    ]
    assert [a.path for a in store.list_artifacts(run_id, "plots")] == ["plots/roc.txt"]
    with pytest.raises(NotFound, match="no artifact 'missing.txt'"):
        store.read_artifact(run_id, "missing.txt")


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "../../../../srv/canary.txt",
        "/etc/passwd",
        "a/../../b",
        "a\\b",
        "a//b",
        "./a",
        "C:/x",
        "file:///etc/passwd",
    ],
)
def test_artifact_paths_escaping_the_run_are_refused(store: Any, path: str) -> None:
    run_id = make_run(store)
    with pytest.raises(InvalidInput, match="artifact"):
        store.log_artifact(run_id, path, b"x")
    with pytest.raises(InvalidInput, match="artifact"):
        store.read_artifact(run_id, path)
    assert store.list_artifacts(run_id) == []


def test_a_repeated_batch_id_is_stored_once(store: Any) -> None:
    run_id = make_run(store)
    batch = points("m", [1.0, 2.0, 3.0])
    store.log_batch(run_id, batch, batch_id="retry-0001")
    store.log_batch(run_id, batch, batch_id="retry-0001")  # the retry of a lost answer
    store.log_batch(run_id, batch, batch_id="retry-0002")
    assert len(store.get_metric_history(run_id, "m")) == 6
    with pytest.raises(InvalidInput, match="batch_id must be 8 to 64"):
        store.log_batch(run_id, batch, batch_id="x; DROP")
