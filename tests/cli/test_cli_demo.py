"""``mlstage demo``: five tracked runs, the best registered, validated, promoted and carded.

Stage 2 (the loop over simulated days) has its own test: ``test_cli_demo_loop.py``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Cli = Callable[..., Result]
MODELS = {"logreg-C0.01", "logreg-C0.1", "logreg-C1.0", "random-forest", "gradient-boosting"}
STAGE_1 = ("demo", "--dir", ".", "--until", "1")
"""Stages 0 and 1 only, in the test's project: tracking, registry, gate, card."""


def section(output: str, title: str) -> list[str]:
    """The lines under a demo heading, up to the next blank line."""
    lines = output.split(f"\n{title}\n", 1)[1].split("\n\n", 1)[0]
    return lines.splitlines()


@pytest.mark.slow
def test_demo_tracks_five_runs_and_prints_them_best_first(cli: Cli, project: Path) -> None:
    result = cli(*STAGE_1)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "Experiment 'demo', best roc_auc first" in result.stdout
    assert (project / ".mlstage" / "mlstage.db").exists()

    runs = json.loads(
        cli("runs", "list", "-e", "demo", "--order-by", "metrics.roc_auc DESC", "--json").stdout
    )
    assert {r["run_name"] for r in runs} == MODELS
    for run in runs:
        assert run["status"] == "FINISHED"
        assert set(run["metrics"]) >= {"accuracy", "f1", "roc_auc"}
        assert 0.9 < run["metrics"]["roc_auc"] <= 1.0
        assert run["params"]["model"] in {
            "logistic_regression",
            "random_forest",
            "gradient_boosting",
        }
    table_names = [
        line.split("│")[2].strip() for line in result.stdout.splitlines() if line.startswith("│")
    ]
    assert table_names == [r["run_name"] for r in runs]
    assert f"mlstage runs show {runs[0]['run_id']}" in result.stdout

    shown = json.loads(cli("runs", "show", runs[0]["run_id"], "--json").stdout)
    assert {(i["dataset"]["name"], i["context"]) for i in shown["inputs"]} == {
        ("breast-cancer", "training"),
        ("breast-cancer", "evaluation"),
    }
    paths = {a["path"] for a in shown["artifacts"]}
    assert {"confusion_matrix.json", "model/mlstage-model.yaml", "card/model-card.md"} <= paths


@pytest.mark.slow
def test_demo_registers_validates_and_promotes_the_best(cli: Cli, project: Path) -> None:
    result = cli(*STAGE_1)
    assert result.exit_code == 0, result.output
    out = result.stdout
    best = json.loads(
        cli("runs", "list", "-e", "demo", "--order-by", "metrics.roc_auc DESC", "--json").stdout
    )[0]

    assert section(out, "Registry") == [
        f"Registered demo-classifier version 1 from runs:/{best['run_id']}/model."
    ]
    gate = section(out, "Validation gate")
    assert gate[0].startswith("  no champion baseline: model 'demo-classifier' has no alias")
    assert gate[1].startswith("  roc_auc 0.9") and gate[1].endswith(" >= min 0.900: pass")
    assert [line.split(" roc_auc")[0] for line in gate[2:4]] == [
        "  slice size=large",
        "  slice size=small",
    ]
    assert gate[-1] == "PASSED: models:/demo-classifier/1 meets all 3 checks; now VALIDATED"
    assert section(out, "Promotion") == ["demo-classifier@champion → version 1."]

    card = out.split("\nModel card (short)\n", 1)[1].split("\nLook closer\n", 1)[0]
    assert card.startswith("# Model card: demo-classifier version 1\n")
    assert "| Aliases | champion |" in card
    assert "## Intended use\n\nA demonstration of mlstage" in card
    assert "## Limitations" in card
    assert "## Signature" not in card  # the short form; `mlstage models card` prints it all

    model = json.loads(cli("models", "show", "demo-classifier", "--json").stdout)
    assert model["aliases"] == {"champion": 1}
    [version] = model["versions"]
    assert (version["status"], version["run_id"]) == ("VALIDATED", best["run_id"])
    assert version["card"]["intended_use"].startswith("A demonstration of mlstage")
    validation = json.loads(cli("runs", "list", "-e", "demo-validation", "--json").stdout)
    assert len(validation) == 2  # the gate's run and the candidate's evaluation: no champion yet

    # The gate the demo suggests runs as printed, on the data the demo saved.
    assert (project / ".mlstage" / "demo" / "holdout.csv").is_file()
    [command] = [x for x in out.splitlines() if x.startswith("  mlstage models validate")]
    again = cli(*shlex.split(command)[1:])
    assert again.exit_code == 0, again.output


@pytest.mark.slow
def test_demo_twice_validates_the_new_version_against_the_first_champion(cli: Cli) -> None:
    assert cli(*STAGE_1).exit_code == 0
    second = cli(*STAGE_1)
    assert second.exit_code == 0, second.output
    out = second.stdout
    assert sum(line.startswith("│") for line in out.splitlines()) == len(MODELS)
    assert len(json.loads(cli("runs", "list", "-e", "demo", "--json").stdout)) == 2 * len(MODELS)

    assert section(out, "Registry")[0].startswith("Registered demo-classifier version 2 from")
    gate = section(out, "Validation gate")
    assert "  champion demo-classifier@champion is demo-classifier/1" in gate
    assert "  roc_auc delta +0.000 >= min_delta -0.010 vs champion demo-classifier/1: pass" in gate
    assert gate[-1] == "PASSED: models:/demo-classifier/2 meets all 4 checks; now VALIDATED"
    assert section(out, "Promotion") == ["demo-classifier@champion → version 2 (was version 1)."]
    assert "# Model card: demo-classifier version 2" in out

    versions = json.loads(cli("models", "versions", "demo-classifier", "--json").stdout)
    assert [(v["version"], v["status"], v["aliases"]) for v in versions] == [
        (1, "VALIDATED", []),
        (2, "VALIDATED", ["champion"]),
    ]


@pytest.mark.slow
def test_demo_serve_ends_with_the_ui_up_and_a_login_that_works(project: Path) -> None:
    import os
    import re
    import subprocess
    import sys
    import time

    import httpx

    from tests.conftest import free_port

    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlstage")), *STAGE_1, "--serve", "--port", str(port)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        login = None
        deadline = time.monotonic() + 120
        while login is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            login = re.search(r"Sign in as 'demo' with password '([^']+)'", line)
        assert login is not None, "".join(lines)
        assert f"http://127.0.0.1:{port}/" in "".join(lines)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert client.get("/api/v1/experiments").status_code == 401  # sign-in is on
            signed = client.post(
                "/login",
                data={"name": "demo", "password": login.group(1), "next": "/experiments"},
                follow_redirects=False,
            )
            assert signed.status_code == 303, signed.text
            page = client.get("/experiments")
            assert page.status_code == 200
            assert "demo-validation" in page.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
