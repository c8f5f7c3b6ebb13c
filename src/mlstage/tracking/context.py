"""Where a run comes from: user, host, source file, command line, git and package versions.

Collected once per process (git and package look-ups cost milliseconds, and
a sweep may start thousands of runs).
"""

from __future__ import annotations

import functools
import getpass
import os
import platform
import shlex
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from mlstage.tracking.entities import RunContext

KEY_PACKAGES = (
    "mlstage",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "torch",
    "xgboost",
    "lightgbm",
)


@functools.cache
def _git_state(folder: str) -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return (commit or None), bool(status.strip())


@functools.cache
def _packages() -> tuple[tuple[str, str], ...]:
    found = []
    for name in KEY_PACKAGES:
        try:
            found.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return tuple(found)


@functools.cache
def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "")


def collect_context() -> RunContext:
    source = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if source in ("-c", ""):
        source = "<interactive>" if source == "" else "<command>"
    # A training script's own folder; for console scripts (mlstage demo) and
    # notebooks, the working directory, where the project's code is.
    is_script = source.endswith(".py") and Path(source).is_file()
    folder = str(Path(source).resolve().parent) if is_script else os.getcwd()
    commit, dirty = _git_state(folder)
    return RunContext(
        user=_user(),
        host=socket.gethostname(),
        source=source,
        command=shlex.join(sys.argv) if sys.argv else "",
        git_commit=commit,
        git_dirty=dirty,
        python_version=platform.python_version(),
        packages=dict(_packages()),
    )


LOCK_FILES = (
    "uv.lock",
    "poetry.lock",
    "pylock.toml",
    "Pipfile.lock",
    "requirements.lock",
    "conda-lock.yml",
)
"""Lock files whose hash pins a run's environment, looked for in the project root."""
LOCK_TAG = "mlstage.env.lock_sha256"


@functools.cache
def lock_file_tags(root: str) -> tuple[tuple[str, str], ...]:
    """Run tags naming the project's lock file and its sha256 (none without a lock file)."""
    import hashlib

    for name in LOCK_FILES:
        path = Path(root) / name
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            return ((LOCK_TAG, digest), ("mlstage.env.lock_file", name))
    return ()
