"""The README's feature store example is a definitions file that applies, and its commands run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from mlstage.cli.main import app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def block(language: str) -> str:
    section = README.split("### Feature store", 1)[1].split("\n### ", 1)[0]
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match, f"no ```{language} block in the README's feature store section"
    return match.group(1)


def test_the_readme_example_applies_and_its_commands_run(project: Path) -> None:
    (project / "data").mkdir()
    rng = np.random.default_rng(0)
    now = pd.Timestamp.now(tz="UTC")
    pd.DataFrame(
        {
            "customer_id": np.arange(1, 11).repeat(3),
            # recent rows: `materialize-incremental now` looks back one TTL (7 days)
            "event_timestamp": now - pd.to_timedelta(rng.integers(1, 72, 30), unit="h"),
            "spend_7d": rng.random(30),
            "orders_7d": rng.integers(0, 9, 30),
        }
    ).to_parquet(project / "data" / "customer_stats.parquet")
    (project / "features.py").write_text(block("python"), encoding="utf-8")
    runner = CliRunner()
    for line in block("bash").splitlines():
        command = shlex.split(line.split("#", 1)[0])
        assert command[0] == "mlstage"
        result = runner.invoke(app, command[1:])
        assert result.exit_code == 0, (line, result.output)
    got = runner.invoke(
        app, ["features", "get", "customer_stats:spend_7d", "--key", "customer_id=1", "--json"]
    )
    assert '"spend_7d": [' in got.stdout and "null" not in got.stdout
