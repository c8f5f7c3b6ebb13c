"""Fixtures of the pipeline tests: a project folder, and one real Dask cluster per module."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing

HERE = Path(__file__).parent


def line_of(path: Path, marker: str) -> int:
    """The 1-based line of ``path`` holding ``marker`` (how tests find the line an error names)."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} is not in {path}")


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    """A LocalCluster with two worker processes on 127.0.0.1, shared by a module's tests."""
    try:
        from distributed import LocalCluster
    except ImportError:
        missing("dask.distributed is not installed (pip install 'mlstage[dask]')")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    yield cluster
    cluster.close()
