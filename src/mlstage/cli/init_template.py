"""``mlstage init --template training``: a pipeline that runs as-is on bundled example data.

Writes ``pipeline.py`` (the standard steps, wired), ``data/churn.csv`` (a
synthetic customer table, generated here with a fixed seed so nothing is
downloaded) and ``data/churn.schema.yaml`` (inferred from it, to be reviewed
and kept in git). Existing files are never overwritten.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from mlstage.errors import Conflict

if TYPE_CHECKING:
    import pandas as pd

TEMPLATES = ("training",)
CI_TABLE = """
[project.ci]
# What `mlstage ci` checks, in order: the data against the schema, the training pipeline,
# its validation gate, and the model card of the validated version.
data = "data/churn.csv"
schema = "data/churn.schema.yaml"
pipeline = "pipeline.py:training"
executor = "local"
"""
ROWS = 2000


def template_targets(root: Path, name: str) -> list[Path]:
    """The files template ``name`` writes; refuses an unknown template or existing files."""
    from mlstage.errors import InvalidInput

    if name not in TEMPLATES:
        raise InvalidInput(f"template {name!r} does not exist; templates: {', '.join(TEMPLATES)}")
    targets = [
        root / "pipeline.py",
        root / "data" / "churn.csv",
        root / "data" / "churn.schema.yaml",
    ]
    existing = [str(p.relative_to(root)) for p in targets if p.exists()]
    if existing:
        raise Conflict(f"{', '.join(existing)} exist already; move them away or init elsewhere")
    return targets


def write_template(root: Path, name: str) -> list[Path]:
    """The files of template ``name`` under ``root``; refuses to overwrite any."""
    targets = template_targets(root, name)
    source = resources.files("mlstage.cli") / "templates" / name / "pipeline.py"
    targets[0].write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    targets[1].parent.mkdir(exist_ok=True)
    frame = example_churn()
    frame.to_csv(targets[1], index=False)
    from mlstage.data.schema import infer_schema, save_schema

    save_schema(infer_schema(frame), targets[2])
    return targets


def example_churn(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """Customers with tenure, spend, support calls, a plan and a region; ``churned`` 0/1."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "pro", "team"], rows, p=[0.5, 0.3, 0.2])
    tenure = rng.integers(1, 72, rows)
    spend = np.round(rng.normal(60, 20, rows).clip(5, 200), 2)
    calls = rng.poisson(1.5, rows)
    region = rng.choice(["north", "south", "east", "west"], rows)
    score = -0.04 * tenure + 0.5 * calls + 0.01 * spend - 0.8 * (plan == "team") + 0.3
    churned = (rng.random(rows) < 1 / (1 + np.exp(-score))).astype(int)
    return pd.DataFrame(
        {
            "tenure": tenure,
            "monthly_spend": spend,
            "support_calls": calls,
            "plan": plan,
            "region": region,
            "churned": churned,
        }
    )
