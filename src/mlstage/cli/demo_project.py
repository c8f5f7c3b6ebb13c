"""The folder ``mlstage demo`` works in: what a team at Stage 2 keeps in its repository.

``mlstage init --template training --ci github`` writes most of it (the
pipeline, the example data and its reviewed schema, the CI file); the demo
adds what a team adds next: a test, a lock file of the environment, the
monitoring, triggers and release policy of the production deployment, and a
first commit. Files that exist are kept, so a second demo run builds on the
first.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

DEPLOYMENT = "churn-prod"
MODEL = "churn"
OWNER = "demo-team"
OBJECTIVE = "flag customers about to leave, so the retention team can call them first"
SUCCESS_METRIC = "roc_auc"
RECEIVER_PLACEHOLDER = "{receiver}"
ALLOW_RECEIVER = (
    "# The demo's alert webhook listens on this machine; webhooks to internal addresses\n"
    "# are refused unless allowed here.\n"
    'alert_allowed_networks = ["127.0.0.1/32"]'
)

TEST = '''\
"""The demo project's own tests: CI runs them before the training smoke test."""

from pathlib import Path

import pandas as pd

from mlstage.data import load_schema, validate

DATA = Path(__file__).resolve().parents[1] / "data"


def test_the_training_data_meets_the_reviewed_schema() -> None:
    report = validate(pd.read_csv(DATA / "churn.csv"), load_schema(DATA / "churn.schema.yaml"))
    assert not report.anomalies, report.anomalies
'''

MONITORING = """\
# Monitors, alerts, retraining triggers and the release policy of the production deployment.
# `mlstage scheduler` runs the checks every `check_every` and acts on the triggers.
deployment: churn-prod
check_every: 1d
check_window: 2d
monitors:
  # Inputs against the newest extract of labelled customers: a sudden change alerts,
  # then the extract catches up (compare with `reference: data/churn.csv` to see how far
  # the market has moved since the first training).
  - type: feature_drift
    reference: churn@latest
    features: [tenure, monthly_spend, support_calls, plan, region]
  - type: performance
    task: classification
    metrics: [roc_auc, accuracy]
    min_labels: 50
  - type: service_health
  - type: staleness
alerts:
  - name: drift
    monitor: feature_drift
    metric: drift_share
    comparison: ">="
    threshold: 0.5
    cooldown: 1d
    webhook: {url: "{receiver}"}
# Drift alerts; decay retrains: labelled data of the new market exists only once labels
# have come back, and a model retrained before that would learn the old market again.
triggers:
  - {name: decay, monitor: performance, metric: roc_auc, below: 0.65}
retrain:
  pipeline: pipeline.py:training
  # the newest extract of labelled customers; the loop releases the candidate itself (canary),
  # so the pipeline's own release step only checks the verdict (dry_run)
  params: {data: "churn@latest", dry_run: true}
  cooldown: 2d
release:
  strategy: canary
  weight: 25
  window: 1d
  approval: auto
  min_predictions: 40
  metric: roc_auc
  max_metric_drop: 0.02
  min_labels: 30
"""


def prepare(root: Path, receiver: str) -> list[str]:
    """Write what is missing under ``root``; the paths written, relative to it."""
    from mlstage.cli.init import render_config
    from mlstage.cli.init_ci import write_ci
    from mlstage.cli.init_template import CI_TABLE, write_template

    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    toml = root / "mlstage.toml"
    if not toml.exists():
        config = render_config(OWNER, OBJECTIVE, SUCCESS_METRIC).replace(
            "\n[project]\n", f"\n{ALLOW_RECEIVER}\n\n[project]\n", 1
        )
        toml.write_text(config + CI_TABLE, "utf-8")
        written.append(toml)
    if not (root / "pipeline.py").exists():
        written += write_template(root, "training")
    if not (root / ".github" / "workflows" / "mlstage.yml").exists():
        written.append(write_ci(root, "github", MODEL))
    written += _write_missing(root / "tests" / "test_pipeline.py", TEST)
    written += _write_missing(root / "requirements.lock", _lock())
    written += _write_missing(root / ".gitignore", ".mlstage/\n")
    # The webhook receiver's port changes on every run; the rest of the file is the team's.
    monitoring = root / "monitoring.yaml"
    monitoring.write_text(MONITORING.replace(RECEIVER_PLACEHOLDER, receiver), "utf-8")
    written.append(monitoring)
    _commit(root)
    return [str(p.relative_to(root)) for p in written]


def _write_missing(path: Path, content: str) -> list[Path]:
    if path.exists():
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, "utf-8")
    return [path]


def _lock() -> str:
    """The installed distributions, pinned: the environment every demo run records."""
    from importlib.metadata import distributions

    pins = {(d.metadata["Name"] or "").lower(): d.version for d in distributions()}
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()) if name)


def _commit(root: Path) -> None:
    """Keep the project in git (its own repository), as a team would; skipped without git."""
    git = shutil.which("git")
    if git is None:
        return
    identity = ["-c", "user.name=mlstage demo", "-c", "user.email=demo@localhost"]

    def run(*args: str) -> None:
        subprocess.run([git, *identity, *args], cwd=root, check=True, capture_output=True)

    if not (root / ".git").exists():
        run("init", "-q")
    run("add", "--all")
    status = subprocess.run(
        [git, "status", "--porcelain"], cwd=root, check=True, capture_output=True, text=True
    )
    if status.stdout.strip():
        run("commit", "-q", "-m", "mlstage demo: the churn project")
