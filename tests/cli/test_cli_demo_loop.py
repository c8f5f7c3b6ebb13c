"""``mlstage demo``, all of it: stages 0 to 2, the loop over simulated days, ending at Stage 2.

One run in a fresh process, as a new user starts it; the JSON summary and
the records the demo leaves behind are checked against each other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MLSTAGE = str(Path(sys.executable).with_name("mlstage"))


def _env() -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith("MLSTAGE_")}
    return {
        **kept,
        "COLUMNS": "200",
        "MLSTAGE_REQUIRE_ALL": os.environ.get("MLSTAGE_REQUIRE_ALL", ""),
    }


def _mlstage(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [MLSTAGE, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, (args, done.stdout[-3000:], done.stderr[-3000:])
    return done


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """The demo run once: its folder, its JSON summary, and its progress (stderr)."""
    cwd = tmp_path_factory.mktemp("demo")
    done = _mlstage(cwd, "demo", "--json")
    return cwd / "mlstage-demo", json.loads(done.stdout), done.stderr


@pytest.mark.slow
def test_the_loop_retrains_validates_releases_by_canary_and_promotes(
    demo: tuple[Path, dict[str, Any], str],
) -> None:
    _, summary, progress = demo
    moves = [(t["retraining_id"], t["state"]) for t in summary["transitions"]]
    # Exactly one retraining: the trigger fired once, and not again while it ran.
    assert moves == [
        (1, "triggered"),
        (1, "training"),
        (1, "validated"),
        (1, "canary"),
        (1, "promoted"),
    ], moves
    triggered = summary["transitions"][0]
    assert triggered["trigger"] == "decay"
    assert triggered["observed"] < triggered["threshold"] == 0.65
    # drift seen before decay: the shift shows in the inputs on its first day
    days = {d["day"]: d["figures"] for d in summary["days"]}
    assert "ALERT" in days[3]["drift_share"]
    assert "ALERT" not in days[2].get("drift_share", "")
    assert float(days[2]["roc_auc"]) > 0.7
    # the canary held for its window (1 day) before the promotion
    canary, promoted = summary["transitions"][3], summary["transitions"][4]
    assert promoted["at"] - canary["at"] >= 86_400_000
    assert "roc_auc" in promoted["reason"]
    # after the promotion, performance recovers on the new market
    last = days[max(days)]
    assert float(last["roc_auc"].split()[0]) > 0.7, days

    assert summary["champion"] == {"model": "churn", "version": 2}
    assert [(v["version"], v["aliases"]) for v in summary["versions"]] == [
        (1, []),
        (2, ["champion"]),
    ]
    assert summary["alerts"] and all(a["signed"] for a in summary["alerts"])
    assert {a["rule"] for a in summary["alerts"]} == {"drift"}
    assert summary["stage"] == 2
    assert summary["ui"].startswith("http://127.0.0.1:")
    assert "Stage 2 reached" in progress
    assert "Day 8" in progress


@pytest.mark.slow
def test_the_demo_leaves_a_project_the_commands_can_inspect(
    demo: tuple[Path, dict[str, Any], str],
) -> None:
    root, _, _ = demo
    for path in ("mlstage.toml", "pipeline.py", "monitoring.yaml", "data/churn.schema.yaml",
                 ".github/workflows/mlstage.yml", "tests/test_pipeline.py", "requirements.lock"):  # fmt: skip
        assert (root / path).is_file(), path
    retrainings = json.loads(
        _mlstage(root, "monitor", "retrainings", "churn-prod", "--json").stdout
    )
    assert [(r["retraining_id"], r["state"], r["candidate_version"]) for r in retrainings] == [
        (1, "promoted", 2)
    ]
    report = json.loads(_mlstage(root, "assess", "--json").stdout)
    assert report["stage"] == 2
    passed = {c["id"] for c in report["checks"] if c["passed"]}
    assert {"C25", "C39", "C40", "C41", "C42"} <= passed
