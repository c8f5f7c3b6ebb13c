"""The same pipeline on every executor gives the same outputs, byte for byte."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from mlstage.pipelines.entities import PipelineStatus
from tests.conftest import missing
from tests.pipelines import pipes


def outcome(executor: str) -> tuple[dict[str, str], Any]:
    run = pipes.training.run(executor=executor, n=150, seed=3, C=0.7)
    assert run.status is PipelineStatus.SUCCEEDED, run.error
    assert not any(s.cached for s in run.steps)
    assert run.executor == executor
    return run.outputs.hashes(), run.result


@pytest.fixture(scope="module")
def local_outcome(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> tuple[dict[str, str], Any]:
    """The reference: the in-process executor, in its own project folder."""
    import shutil

    from mlstage import config

    folder = tmp_path_factory.mktemp("local")
    (folder / ".mlstage").mkdir()
    shutil.copy(sqlite_template, folder / ".mlstage" / "mlstage.db")
    config.set_settings(config.load_settings(start=folder))
    try:
        return outcome("local")
    finally:
        config.set_settings(None)


def test_processes_match_local(project: Path, local_outcome: tuple[dict[str, str], Any]) -> None:
    hashes, result = outcome("processes")
    assert hashes == local_outcome[0]
    assert result["metrics"] == local_outcome[1]["metrics"]
    assert result["means"] == local_outcome[1]["means"]


@pytest.mark.dask
def test_a_dask_cluster_matches_local(
    project: Path, dask_cluster: Any, local_outcome: tuple[dict[str, str], Any]
) -> None:
    hashes, result = outcome(dask_cluster.scheduler_address)
    assert hashes == local_outcome[0]
    assert result["metrics"] == local_outcome[1]["metrics"]
    model = result["model"]
    assert model.get_params()["C"] == 0.7


@pytest.mark.dask
def test_independent_steps_run_in_parallel_on_dask(project: Path, dask_cluster: Any) -> None:
    run = pipes.parallel.run(executor=dask_cluster.scheduler_address, seconds=0.3)
    assert run.status is PipelineStatus.SUCCEEDED, run.error
    assert run.result == [0, 1, 2, 3]
    spans = sorted((s.start_time or 0, s.end_time or 0) for s in run.steps)
    overlapping = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    assert overlapping >= 1  # two workers: some steps ran at the same time


@pytest.mark.dask
def test_resources_no_worker_offers_are_refused(project: Path, dask_cluster: Any) -> None:
    from mlstage.errors import InvalidInput
    from mlstage.pipelines import pipeline, step

    @step(resources={"GPU": 1})
    def on_gpu() -> int:
        return 1

    on_gpu.fn.__qualname__ = "on_gpu"  # as if defined at module level

    @pipeline
    def gpu():
        on_gpu()

    with pytest.raises(InvalidInput, match="needs resource GPU=1, but no worker"):
        gpu.run(executor=dask_cluster.scheduler_address)


def test_steps_inside_functions_are_refused_by_process_executors(project: Path) -> None:
    from mlstage.errors import InvalidInput
    from mlstage.pipelines import pipeline, step

    @step
    def inner() -> int:
        return 1

    @pipeline
    def nested():
        inner()

    with pytest.raises(InvalidInput, match="is defined inside a function; the processes executor"):
        nested.run(executor="processes")


@pytest.mark.dask
def test_executor_dask_starts_and_stops_its_own_local_cluster(project: Path) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        missing("dask.distributed is not installed (pip install 'mlstage[dask]')")
    from tests.pipelines import light

    run = light.arithmetic.run(executor="dask", a=2, b=5)
    assert run.status is PipelineStatus.SUCCEEDED, run.error
    assert run.result == 70
    assert run.executor == "dask"
