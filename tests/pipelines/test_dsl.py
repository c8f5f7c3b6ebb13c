"""Pipelines are checked when defined, and errors point at the user's file and line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlstage.errors import InvalidInput
from mlstage.pipelines import pipeline, step
from mlstage.pipelines.graph import Graph, Location, Node, OutputRef
from tests.pipelines.conftest import line_of

THIS = Path(__file__)


@step
def load(path: str) -> pd.DataFrame:
    return pd.DataFrame({"path": [path]})


@step
def count(df: pd.DataFrame) -> int:
    return len(df)


@step
def halve(x: float) -> float:
    return x / 2


def where(marker: str) -> str:
    return f"{THIS}:{line_of(THIS, marker)}"


def test_a_step_outside_a_pipeline_is_its_plain_function() -> None:
    assert count(pd.DataFrame({"a": [1, 2, 3]})) == 3


def test_a_well_wired_pipeline_has_its_graph_in_order() -> None:
    @pipeline
    def ok(path: str = "x.csv"):
        n = count(load(path))
        return halve(n)  # int fits a float input

    assert ok.order == ["load", "count", "halve"]
    spec = ok.graph.spec()
    assert spec["params"] == {"path": {"type": "str", "default": "x.csv", "required": False}}
    assert spec["steps"][1]["inputs"] == {"df": {"output": "load"}}
    assert spec["steps"][0]["inputs"] == {"path": {"param": "path"}}


def test_a_type_mismatch_names_both_steps_with_their_lines() -> None:
    with pytest.raises(InvalidInput) as caught:

        @pipeline
        def bad():
            df = load("x.csv")
            halve(df)  # marker:mismatch

    message = caught.value.message
    assert message.startswith(where("marker:mismatch") + ": ")
    assert "step 'halve': input 'x' expects float, but step 'load'" in message
    assert "returns DataFrame" in message


def test_a_missing_required_input_points_at_the_call() -> None:
    with pytest.raises(InvalidInput, match="missing a required argument: 'df'") as caught:

        @pipeline
        def bad():
            count()  # marker:missing

    assert caught.value.message.startswith(where("marker:missing"))


def test_an_unknown_input_points_at_the_call() -> None:
    with pytest.raises(
        InvalidInput, match="step .count. has no input .frame. \\(inputs: df\\)"
    ) as caught:

        @pipeline
        def bad():
            count(frame=load("x"))  # marker:unknown

    assert caught.value.message.startswith(where("marker:unknown"))


def test_an_output_of_another_pipeline_is_an_unknown_input() -> None:
    leaked = {}

    @pipeline
    def first():
        leaked["df"] = load("x")

    with pytest.raises(InvalidInput, match="of another pipeline") as caught:

        @pipeline
        def second():
            count(leaked["df"])  # marker:foreign

    assert caught.value.message.startswith(where("marker:foreign"))


def test_a_return_type_without_a_serializer_is_refused_with_step_and_type() -> None:
    class Thing:
        pass

    with pytest.raises(InvalidInput) as caught:

        @step
        def make() -> Thing:  # marker:thing
            return Thing()

    message = caught.value.message
    assert message.startswith(f"{THIS}:{line_of(THIS, 'marker:thing') - 1}")  # the decorator line
    assert "step 'make' returns" in message
    assert "Thing, which mlstage cannot store without pickle" in message


def test_unannotated_parameters_and_returns_are_refused() -> None:
    with pytest.raises(InvalidInput, match="parameter 'x' has no type annotation"):

        @step
        def untyped(x) -> int:  # type: ignore[no-untyped-def]
            return 1

    with pytest.raises(InvalidInput, match="the return type is not annotated"):

        @step
        def no_return(x: int):  # type: ignore[no-untyped-def]
            return x


def test_looking_at_an_output_while_defining_is_refused_at_its_line() -> None:
    with pytest.raises(InvalidInput, match="cannot be tested while the pipeline is defined") as c:

        @pipeline
        def bad():
            df = load("x")
            if df:  # marker:truth
                count(df)

    assert c.value.message.startswith(where("marker:truth"))


def test_constants_must_be_json_and_of_the_declared_type() -> None:
    with pytest.raises(InvalidInput, match="input 'path' expects str, got the constant 3"):

        @pipeline
        def bad():
            load(3)

    with pytest.raises(InvalidInput, match="constants in a pipeline function must be JSON-able"):

        @pipeline
        def bad2():
            count(pd.DataFrame())


def test_pipeline_parameters_must_be_json_able_and_typed() -> None:
    with pytest.raises(InvalidInput, match="parameter 'df' has DataFrame"):

        @pipeline
        def bad(df: pd.DataFrame):
            count(df)


def test_a_bad_schedule_is_refused_at_definition() -> None:
    with pytest.raises(InvalidInput, match="schedule: cron '0 25 \\* \\* \\*': hour field"):

        @pipeline(schedule="0 25 * * *")
        def nightly():
            load("x")


def test_bad_step_options_are_refused() -> None:
    with pytest.raises(InvalidInput, match="retries must be 0 or more"):
        step(retries=-1)(halve.fn)
    with pytest.raises(InvalidInput, match="timeout must be seconds > 0"):
        step(timeout=0)(halve.fn)


def test_a_cycle_in_a_graph_is_reported_with_the_steps_in_it() -> None:
    at = Location("flow.py", 7)
    a_out = OutputRef("a", None, float, "json")
    b_out = OutputRef("b", None, float, "json")
    graph = Graph()
    graph.nodes["a"] = Node("a", halve, {"x": b_out}, [a_out], at, 0)
    graph.nodes["b"] = Node("b", halve, {"x": a_out}, [b_out], Location("flow.py", 8), 1)
    with pytest.raises(InvalidInput, match=r"flow\.py:7: the steps form a cycle: a -> b -> a"):
        graph.validate()


def test_steps_called_twice_get_distinct_names_and_tuples_unpack() -> None:
    @step
    def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        return df, df

    @pipeline
    def twice():
        left, right = split(load("x"))
        count(left)
        count(right)

    assert twice.order == ["load", "split", "count", "count-2"]
    assert twice.graph.nodes["count-2"].bindings["df"] == OutputRef(
        "split", 1, pd.DataFrame, "dataframe"
    )
