"""``mlstage assess`` on a project at Stage 3: governed environments on top of the automated loop.

The project is the one ``mlstage demo`` builds, the loop that runs by itself
over simulated days (pipeline, gate, monitored production deployment,
drift and decay triggers, retraining, canary, promotion by policy): Stage 2,
with C50 the missing keystone of Stage 3. Then the team does what Stage 3
adds, with the commands a team would type: environments with maximum data
classifications, a classification on the training data that every run,
version and deployment inherits, an export refused (and audited) in an
environment below it, and the incident review answered. That, and nothing
else, takes the project to Stage 3.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.governance.test_assess import _env, assess_json, checks, mlstage_cli

pytestmark = pytest.mark.slow

MLSTAGE = str(Path(sys.executable).with_name("mlstage"))


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MLSTAGE, *args], cwd=project, capture_output=True, text=True, env=_env(), timeout=900
    )


@pytest.fixture(scope="module")
def looped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's project, at Stage 2 (built once for the module: the loop takes a minute)."""
    root = tmp_path_factory.mktemp("stage3")
    done = _run(root, "demo", "--dir", "churn", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "churn"


def test_the_automated_loop_without_governance_stops_at_stage_2(looped: Path) -> None:
    report = assess_json(looped)
    found = checks(report)
    assert report["stage"] == 2
    assert not found["C50"]["passed"]  # the keystone of Stage 3 still missing
    assert found["C50"]["evidence"] == "no environments with data classifications are configured"
    assert all(found[i]["passed"] for i in ("C39", "C40", "C44"))  # the other keystones pass
    assert found["C50"]["next_step"] == "configure environments with classifications"
    assert found["C50"]["keystone"] and report["stage_pass_rates"]["S3"] < 0.8


def test_environments_with_classifications_take_the_project_to_stage_3(looped: Path) -> None:
    for name, level in (("dev", "internal"), ("prod", "confidential"),
                        ("enclave", "restricted")):  # fmt: skip
        mlstage_cli(looped, "environments", "create", name, "--max", level)
    mlstage_cli(looped, "classify", "dataset", "churn", "confidential")
    inherited = json.loads(mlstage_cli(looped, "classify", "deployment", "churn-prod", "--json"))
    assert inherited["classification"] == "confidential"
    assert "from dataset 'churn'" in inherited["because"]

    refused = _run(looped, "models", "export", "churn@champion", "--to", "out", "--environment",
                   "dev")  # fmt: skip
    assert refused.returncode == 1
    assert "refused by policy max_classification: cannot export model 'churn/" in refused.stderr
    assert "maximum classification is internal" in refused.stderr
    assert not (looped / "out").exists()
    mlstage_cli(looped, "models", "export", "churn@champion", "--to", "out", "--environment",
                "prod")  # fmt: skip
    assert (looped / "out" / "mlstage-model.yaml").is_file()

    report = assess_json(looped, "--answer", "C49=yes", "--note", "post-mortem of the day-5 drift")
    found = checks(report)
    failing = {c["id"]: c["evidence"] for c in report["checks"] if not c["passed"]}
    assert report["stage"] == 3, failing
    assert found["C50"]["passed"]
    assert found["C50"]["evidence"] == "3 environments with classifications; 1 audited refusals"
    assert "post-mortem" in found["C49"]["evidence"]
    assert report["stage_pass_rates"]["S3"] >= 0.8
    for keystone in ("C39", "C40", "C44", "C50"):
        assert found[keystone]["passed"], (keystone, found[keystone]["evidence"])
    assert "churn-prod" in found["C44"]["evidence"]
    steps: list[dict[str, Any]] = report["next_steps"]
    assert steps and all(s["stage"] in ("S2", "S3") for s in steps)
    assert "C50" not in [s["id"] for s in steps]
