"""Fixtures for the command line: a runner in a fresh project, and a few tracked runs.

The ``project`` fixture (tests/conftest.py) gives each test its own folder
as the working directory, with its own SQLite store and no cached state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from mlstage.cli.main import app

Cli = Callable[..., Result]


@pytest.fixture
def cli(project: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run ``mlstage ARGS...`` in-process; stdout and stderr come back separately."""
    # Output as in a pipe: no colours, the fixed pipe width, whatever the terminal running pytest.
    for name in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return invoke


@pytest.fixture
def runs(project: Path) -> dict[str, str]:
    """Three finished runs in experiment 'sweep' and one in 'other'; run ids by run name."""
    import mlstage

    ids: dict[str, str] = {}
    mlstage.set_experiment("sweep")
    for c, auc in ((0.1, 0.81), (1.0, 0.93), (10.0, 0.88)):
        with mlstage.start_run(name=f"lr-{c}", tags={"team": "risk"}) as run:
            mlstage.log_params({"C": c, "model": "logreg"})
            mlstage.log_metrics({"auc": auc, "accuracy": auc - 0.05})
            mlstage.log_input(np.arange(12.0).reshape(4, 3), name="toy-data")
            mlstage.log_dict({"C": c}, "config/params.json")
            mlstage.log_text("fitted", "notes.txt")
        ids[run.name] = run.run_id
    mlstage.set_experiment("other")
    with mlstage.start_run(name="baseline") as run:
        mlstage.log_metric("auc", 0.5)
    ids[run.name] = run.run_id
    return ids
