"""The repository's entry points: ``make help`` and ``.ci/run`` stay usable."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_the_targets() -> None:
    out = subprocess.run(["make", "help"], cwd=REPO, capture_output=True, text=True, check=True)
    for target in ("demo", "test", "lint"):
        assert f" {target} " in out.stdout.replace("\x1b[36m", " ").replace("\x1b[0m", " ")


def test_ci_script_is_executable_strict_bash() -> None:
    script = REPO / ".ci" / "run"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert "MLSTAGE_REQUIRE_ALL=1" in text
    subprocess.run(["bash", "-n", str(script)], check=True)
