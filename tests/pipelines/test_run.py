"""Running pipelines in-process: records, outputs, caching, retries, timeouts, logs, resume."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlstage
from mlstage import config
from mlstage.pipelines import pipeline, step
from mlstage.pipelines.entities import PipelineStatus, StepStatus
from mlstage.pipelines.runner import get_pipeline_run, pipeline_store, resume_pipeline

CALLS: dict[str, int] = {}


def called(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest, project: Path) -> str:
    """The project's SQLite store, or a fresh PostgreSQL schema."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        config.set_settings(config.load_settings(start=project, tracking_uri=url))
    return str(request.param)


@step
def source(n: int) -> pd.DataFrame:
    called("source")
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n) % 2})


@step
def as_array(df: pd.DataFrame) -> np.ndarray:
    called("as_array")
    return df[["x"]].to_numpy()


@step
def model_of(df: pd.DataFrame, C: float = 1.0) -> LogisticRegression:
    called("model_of")
    return LogisticRegression(C=C).fit(df[["x"]], df["y"])


@step
def summary(model: LogisticRegression, x: np.ndarray) -> dict[str, float]:
    called("summary")
    print(f"scoring {len(x)} rows")
    return {"mean_x": float(x.mean()), "coef": round(float(model.coef_[0][0]), 10)}


@pipeline
def train_flow(n: int = 20, C: float = 1.0):
    df = source(n)
    model = model_of(df, C=C)
    return summary(model, as_array(df))


def test_a_run_stores_outputs_by_type_and_records_every_step(store_backend: str) -> None:
    run = train_flow.run(n=10)
    assert run.status is PipelineStatus.SUCCEEDED, run.error
    assert run.result == {"mean_x": 4.5, "coef": run.result["coef"]}
    assert isinstance(run.outputs["source"], pd.DataFrame)
    assert run.outputs["source"]["x"].tolist() == [float(i) for i in range(10)]
    assert isinstance(run.outputs["as_array"], np.ndarray)
    assert isinstance(run.outputs["model_of"], LogisticRegression)
    kinds = {name: out.kind for s in run.steps for name, out in s.outputs.items()}
    assert kinds == {
        "source": "dataframe",
        "as_array": "ndarray",
        "model_of": "sklearn",
        "summary": "json",
    }
    assert run.params == {"n": 10, "C": 1.0}
    assert [s.step for s in run.steps] == ["source", "model_of", "as_array", "summary"]
    assert all(s.status is StepStatus.SUCCEEDED and not s.cached for s in run.steps)
    assert "scoring 10 rows" in run.steps_by_name["summary"].logs
    # Every step is a tracked run in an experiment named after the pipeline.
    tracked = mlstage.search_runs("train_flow", output="list")
    assert sorted(r.name for r in tracked) == sorted(s.step for s in run.steps)
    assert {r.tags["mlstage.pipeline_run_id"] for r in tracked} == {run.run_id}
    assert {r.status.value for r in tracked} == {"FINISHED"}
    model_run = next(r for r in tracked if r.name == "model_of")
    assert model_run.params == {"C": "1.0"}
    # The recorded run reads back the same.
    again = pipeline_store().get_run(run.run_id)
    assert again.status is PipelineStatus.SUCCEEDED
    assert [s.outputs for s in again.steps] == [s.outputs for s in run.steps]


def test_cache_hits_and_misses(project: Path) -> None:
    first = train_flow.run(n=12, C=1.0)
    assert CALLS == {"source": 1, "model_of": 1, "as_array": 1, "summary": 1}
    second = train_flow.run(n=12, C=1.0)
    assert all(s.cached for s in second.steps)
    assert CALLS == {"source": 1, "model_of": 1, "as_array": 1, "summary": 1}
    assert second.outputs.hashes() == first.outputs.hashes()
    assert second.result == first.result
    # A parameter of one step changes: it and what depends on its output run again.
    third = train_flow.run(n=12, C=0.5)
    cached = {s.step: s.cached for s in third.steps}
    assert cached == {"source": True, "model_of": False, "as_array": True, "summary": False}
    # An input changes: everything downstream of it runs again.
    fourth = train_flow.run(n=13, C=0.5)
    assert not any(s.cached for s in fourth.steps)


def test_a_change_of_code_misses_the_cache_and_cache_false_always_runs(project: Path) -> None:
    @step(name="double")
    def double_v1(x: int) -> int:
        return x * 2

    @pipeline(name="codechange")
    def v1():
        return double_v1(3)

    @step(name="double")
    def double_v2(x: int) -> int:
        return x + x + 0

    @pipeline(name="codechange")
    def v2():
        return double_v2(3)

    assert v1.run().steps[0].cached is False
    assert v1.run().steps[0].cached is True
    changed = v2.run()
    assert changed.steps[0].cached is False
    assert changed.result == 6

    @step(cache=False)
    def always(x: int) -> int:
        called("always")
        return x

    @pipeline
    def uncached():
        always(1)

    uncached.run()
    uncached.run()
    assert CALLS["always"] == 2


def test_retries_with_backoff_then_success(project: Path) -> None:
    @step(retries=2, retry_backoff=0.01)
    def shaky() -> int:
        called("shaky")
        if CALLS["shaky"] < 3:
            raise ConnectionError(f"try {CALLS['shaky']}")
        return 7

    @pipeline
    def retrying():
        return shaky()

    run = retrying.run()
    assert run.status is PipelineStatus.SUCCEEDED
    step_run = run.steps[0]
    assert step_run.attempts == 3
    assert "attempt 1 of step 'shaky' failed: ConnectionError: try 1; retrying in 0.01 s" in (
        step_run.logs
    )
    assert "attempt 2 of step 'shaky' failed: ConnectionError: try 2; retrying in 0.02 s" in (
        step_run.logs
    )


def test_a_failed_step_fails_the_run_with_its_error_and_skips_the_rest(project: Path) -> None:
    @step(retries=1, retry_backoff=0.0)
    def broken(x: int) -> int:
        raise ValueError(f"bad value {x}")

    @step
    def later(x: int) -> int:
        return x

    @pipeline
    def failing():
        later(broken(1))

    run = failing.run()
    assert run.status is PipelineStatus.FAILED
    assert run.error == "step 'broken' failed: ValueError: bad value 1"
    broken_run, later_run = run.steps
    assert broken_run.status is StepStatus.FAILED
    assert broken_run.attempts == 2
    assert "Traceback" in broken_run.traceback
    assert 'raise ValueError(f"bad value {x}")' in broken_run.traceback
    assert later_run.status is StepStatus.SKIPPED
    tracked = mlstage.get_run(broken_run.tracking_run_id)
    assert tracked.status.value == "FAILED"


def test_a_step_past_its_timeout_fails_at_the_deadline(project: Path) -> None:
    @step(timeout=0.3)
    def stuck() -> int:
        time.sleep(6)
        return 1

    @pipeline
    def hanging():
        stuck()

    started = time.monotonic()
    run = hanging.run()
    assert time.monotonic() - started < 5  # not the 6 s the step would take
    assert run.status is PipelineStatus.FAILED
    assert run.steps[0].error == (
        "StepTimeout: step 'stuck' ran past its timeout of 0.3 s and was abandoned"
    )


def test_a_value_of_the_wrong_type_fails_the_step(project: Path) -> None:
    @step
    def liar() -> int:
        return "seven"  # type: ignore[return-value]

    @pipeline
    def lying():
        liar()

    run = lying.run()
    assert run.status is PipelineStatus.FAILED
    assert "step 'liar' output 'liar' is declared int, got a str" in run.error


def test_resume_reruns_from_the_failed_step_reusing_the_others(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = {"fail": True}

    @step(cache=False)
    def first(n: int) -> int:
        called("first")
        return n + 1

    @step(cache=False)
    def second(x: int) -> int:
        called("second")
        if state["fail"]:
            raise RuntimeError("not yet")
        return x * 2

    @pipeline
    def resumable(n: int = 1):
        return second(first(n))

    failed = resumable.run(n=4)
    assert failed.status is PipelineStatus.FAILED
    state["fail"] = False
    resumed = resume_pipeline(failed.run_id)
    assert resumed.status is PipelineStatus.SUCCEEDED
    assert resumed.resumed_from == failed.run_id
    assert resumed.params == {"n": 4}
    assert resumed.result == 10
    assert CALLS == {"first": 1, "second": 2}  # first was reused although cache=False
    assert resumed.steps_by_name["first"].cached is True
    assert get_pipeline_run(resumed.run_id).result == 10
    with pytest.raises(mlstage.Conflict, match="succeeded; there is nothing to resume"):
        resume_pipeline(resumed.run_id)


def test_parameters_are_checked(project: Path) -> None:
    with pytest.raises(mlstage.InvalidInput, match="has no parameter 'm' \\(parameters: n, C\\)"):
        train_flow.run(m=1)
    with pytest.raises(mlstage.InvalidInput, match="parameter 'n' expects int, got '3'"):
        train_flow.run(n="3")
    with pytest.raises(mlstage.InvalidInput, match="executor 'gpu' is unknown"):
        train_flow.run(executor="gpu")


def test_an_interrupted_run_ends_failed_with_the_running_step_failed(project: Path) -> None:
    @step
    def interrupted() -> int:
        raise KeyboardInterrupt

    @step
    def never(x: int) -> int:
        return x

    @pipeline
    def stopping():
        never(interrupted())

    with pytest.raises(KeyboardInterrupt):
        stopping.run()
    (record,) = pipeline_store().list_runs("stopping")
    ended = pipeline_store().get_run(record.run_id)
    assert ended.status is PipelineStatus.FAILED
    assert ended.error == "interrupted: KeyboardInterrupt: "
    assert [s.status for s in ended.steps] == [StepStatus.FAILED, StepStatus.SKIPPED]
