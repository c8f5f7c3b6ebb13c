"""The README stays true: its example is a file that runs, its commands work, its tables match.

Every command in the README's quickstart is run here, in a fresh project
folder, so a renamed option or a changed default breaks a test rather than
a new user's first ten minutes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

from mlstage import config
from mlstage.tracking import search, store, validation

Cli = Callable[..., Result]
REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
QUICKSTART = REPO / "examples" / "quickstart.py"
MLSTAGE = Path(sys.executable).parent / "mlstage"


def code_block(after_heading: str, language: str) -> str:
    """The first fenced block of ``language`` after the heading."""
    section = README.split(after_heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match, f"no ```{language} block after {after_heading!r}"
    return match.group(1)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTAGE_")}
    return {**env, **extra}


def run_quickstart(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(QUICKSTART)],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- the example ---------------------------------------------------------------------


def test_the_readme_python_example_is_examples_quickstart() -> None:
    assert code_block("### Track runs from Python", "python") == QUICKSTART.read_text()


@pytest.mark.slow
def test_quickstart_runs_in_a_fresh_folder(project: Path) -> None:
    done = run_quickstart(project)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert (project / ".mlstage" / "mlstage.db").is_file()
    names = [line.split()[1] for line in done.stdout.splitlines()[1:]]
    assert sorted(names) == ["logreg-C0.01", "logreg-C0.1", "logreg-C1.0"]


@pytest.mark.slow
def test_every_command_of_the_cli_section_works(cli: Cli, project: Path) -> None:
    lines = [line for line in code_block("### The command line", "bash").splitlines() if line]
    assert lines[0] == "python examples/quickstart.py"
    assert run_quickstart(project).returncode == 0
    runs = json.loads(cli("runs", "list", "-e", "quickstart", "--json").stdout)
    run_ids = iter([r["run_id"] for r in runs] * 3)
    for line in lines[1:]:
        args = shlex.split(line, comments=True)
        assert args[0] == "mlstage", line
        args = [next(run_ids) if arg == "RUN_ID" else arg for arg in args[1:]]
        result = cli(*args)
        assert result.exit_code == 0, f"{line}\n{result.output}"
        assert result.stderr == "", line


@pytest.mark.slow
def test_the_server_section_works_over_http(project: Path) -> None:
    """``mlstage server``, then the quickstart and the CLI as clients through MLSTAGE_TRACKING_URI."""
    pytest.importorskip("mlstage.tracking.http_store", reason="the HTTP tracking store is missing")
    server_dir, client_dir = project / "server", project / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    port = _free_port()
    with _server(server_dir, port):
        env = {"MLSTAGE_TRACKING_URI": f"http://127.0.0.1:{port}"}
        done = run_quickstart(client_dir, **env)
        assert done.returncode == 0, done.stderr
        listed = subprocess.run(
            [str(MLSTAGE), "runs", "list", "-e", "quickstart", "--json"],
            cwd=client_dir,
            env=clean_env(**env),
            capture_output=True,
            text=True,
            check=True,
        )
        assert len(json.loads(listed.stdout)) == 3
    assert (server_dir / ".mlstage" / "mlstage.db").is_file()
    assert not (client_dir / ".mlstage").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(cwd: Path, port: int) -> Iterator[None]:
    process = subprocess.Popen(
        [str(MLSTAGE), "server", "--port", str(port)],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _, err = process.communicate()
                raise AssertionError(f"mlstage server did not start:\n{err}")
            time.sleep(0.1)
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- the reference tables --------------------------------------------------------------


def test_every_setting_is_documented_with_its_env_var_and_default() -> None:
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", README, re.MULTILINE)}
    defaults = config.Settings()
    for field in dataclasses.fields(config.Settings):
        assert field.name in rows, f"README lacks a row for setting {field.name!r}"
        if field.name in ("project_root", "project"):
            continue
        row = rows[field.name]
        assert f"`MLSTAGE_{field.name.upper()}`" in row
        default = getattr(defaults, field.name)
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        if isinstance(default, tuple):
            shown = ",".join(default)  # as the environment variable takes it
        if default not in ("", (), None):
            assert f"`{shown}`" in row, f"{field.name}: default {shown!r} not in {row!r}"


def test_documented_limits_match_the_code() -> None:
    for limit in (
        validation.MAX_KEY_LENGTH,
        validation.MAX_NAME_LENGTH,
        validation.MAX_PARAM_VALUE_LENGTH,
        validation.MAX_TAG_VALUE_LENGTH,
        validation.MAX_BATCH_METRICS,
        validation.MAX_BATCH_PARAMS,
        validation.MAX_BATCH_TAGS,
        search.MAX_FILTER_LENGTH,
        search.MAX_CLAUSES,
        store.MAX_PAGE_SIZE,
    ):
        assert f"{limit:,}" in README, limit


def test_the_grammar_is_the_one_the_parser_documents() -> None:
    grammar = code_block("## Searching runs", "")
    assert search.__doc__ is not None
    for line in grammar.strip().splitlines():
        assert line.strip() in search.__doc__, line
