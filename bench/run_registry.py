#!/usr/bin/env python3
"""Model registry benchmark: mlstage side by side with MLflow 3.x, on SQLite, in one run.

    python bench/run_registry.py            # everything, ~4 minutes; updates BENCHMARKS.md
    python bench/run_registry.py --only 2 --no-write

Standard library only. It reuses the tracking benchmark's harness
(``bench/run_tracking.py``: venvs, quiet-machine wait, tool alternation,
machine report; ``bench/tracking/_common.py``: network guard, profiler,
result line) and its MLflow venv (``bench/.venvs/mlflow``, ``pip install
"mlflow<3.18"`` on first use). Workers: ``bench/registry/*_worker.py``, each
measurement a fresh process of the tool in a fresh temp folder with its own
SQLite file. Every Python process, including those the tools start
themselves (MLflow infers requirements in a subprocess), runs with the
network guard (``bench/registry/netguard/sitecustomize.py``).

The model: one RandomForestClassifier (100 trees, 20 features), trained once
by this script and written to one skops file; each tool logs the object read
back from that file (untimed).

Figures (the goals are those of the registry issue; MLflow as measured
earlier on this machine kind in brackets):
  1. ``register_model("runs:/<id>/model", "bench")`` 100 times from one logged
     run: versions/s; goal mlstage >= 10x MLflow [79 versions/s]. Also moving an
     alias 100 times: ms per move, reported only [4.5 ms].
  2. Loading the model by alias in a fresh process, from process start
     (spawn, imports included) to the first prediction on one row, median of 7
     processes: goal mlstage >= 3x faster [2.4 s]. Also the warm load (the
     second ``load_model`` in the same process).

Profiling one measurement (cProfile of the timed part, the same as tracking)::

    s=$(mktemp -d); d=$(mktemp -d); cd $d
    R=/path/to/repo; P=$R/.venv/bin/python
    $P $R/bench/registry/mlstage_worker.py train --dir $s
    MLSTAGE_TRACKING_URI=sqlite:///$d/mlstage.db MLSTAGE_ARTIFACT_ROOT=$d/artifacts \\
      $P $R/bench/registry/mlstage_worker.py register --dir $d --shared $s --n 100 \\
      --moves 100 --profile $d/register.txt --profile-alias $d/alias.txt
    # load: populate first, then profile imports + load + first prediction
    ... mlstage_worker.py populate --dir $d --shared $s
    ... mlstage_worker.py load --dir $d --shared $s --profile $d/load.txt

The MLflow worker takes the same arguments (``bench/.venvs/mlflow/bin/python
bench/registry/mlflow_worker.py ...`` with ``MLFLOW_TRACKING_URI=sqlite:///$d/mlflow.db``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import run_tracking as rt  # the tracking harness, next to this file

BENCH = rt.BENCH
REPO = rt.REPO
WORKERS = BENCH / "registry"
RESULTS = rt.RESULTS
BENCHMARKS_MD = rt.BENCHMARKS_MD
BEGIN, END = "<!-- registry:begin -->", "<!-- registry:end -->"

GOALS = {
    "register": {"ratio": 10.0, "bracket": 79.0},  # mlstage versions/s >= 10x MLflow's
    "alias": {"bracket": 0.0045},  # report only
    "load": {"speedup": 3.0, "bracket": 2.4},  # mlstage at least 3x faster, fresh process
}

log = rt.log
median = rt.median
fmt_time = rt.fmt_time


# Packages both sides load a model with: the mlstage venv gets the MLflow venv's versions.
SHARED_PACKAGES = ("numpy", "scipy", "scikit-learn", "skops", "pandas", "pyarrow", "sqlalchemy")
VERSIONS_PROBE = (
    "import importlib.metadata as m, json, sys; "
    f"print(json.dumps({{p: m.version(p) for p in {SHARED_PACKAGES!r}}}))"
)


def package_versions(python: Path) -> dict[str, str] | None:
    done = subprocess.run([str(python), "-c", VERSIONS_PROBE], capture_output=True, text=True)
    return json.loads(done.stdout) if done.returncode == 0 else None


def mlstage_runtime_venv(mlflow_py: Path) -> Path:
    """``bench/.venvs/mlstage``: ``pip install -e .`` (the working tree), runtime dependencies only.

    Not the dev venv: scikit-learn and skops import optional packages when they are
    installed (``sklearn.utils._testing`` imports pytest, its array-API shim imports
    dask), so the dev venv's extras would slow mlstage's fresh-process load and not
    MLflow's. The packages both sides load a model with are pinned to the MLflow
    venv's versions (a constraints file from its ``pip freeze``).
    """
    venv = rt.VENVS / "mlstage"
    python = rt.venv_python(venv)
    wanted = package_versions(mlflow_py)
    probe = "import mlstage, sys; sys.exit(0 if mlstage.__file__.startswith(sys.argv[1]) else 1)"
    if (
        python.exists()
        and wanted is not None
        and package_versions(python) == wanted
        and subprocess.run([str(python), "-c", probe, str(REPO / "src")]).returncode == 0
    ):
        return python
    freeze = subprocess.run(
        [str(mlflow_py), "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    constraints = rt.WORK / "registry-constraints.txt"
    constraints.parent.mkdir(parents=True, exist_ok=True)
    constraints.write_text(
        "\n".join(ln for ln in freeze if "==" in ln and not ln.lower().startswith("mlflow")) + "\n",
        encoding="utf-8",
    )
    log(f"installing mlstage (pip install -e .) into {venv.relative_to(REPO)} (one-off, ~1.5 min)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-e", str(REPO)]
    done = subprocess.run([*pip, "-c", str(constraints)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"could not install mlstage into {venv}")
    return python


class RegistryTool(rt.Tool):
    """A tool of the tracking harness, running the registry workers.

    ``run`` returns the worker's result plus ``t_spawn`` (CLOCK_MONOTONIC just
    before the process is started, after the quiet wait) and ``t_exit``; the
    workers report their own CLOCK_MONOTONIC marks, the same clock.
    """

    TIMED = ("register", "load", "floor", "floor_pickle")

    def __init__(self, name: str, python: Path, net_log: Path) -> None:
        super().__init__(name, python)
        self.worker = WORKERS / f"{name}_worker.py"
        self.net_log = net_log

    def env(self, folder: Path) -> dict[str, str]:
        env = super().env(folder)  # telemetry off, MLSTAGE_* for mlstage, the venv's bin on PATH
        env["PYTHONPATH"] = str(WORKERS / "netguard")
        env["BENCH_NET_LOG"] = str(self.net_log)
        # As in an ordinary environment: bytecode (and mlstage's cache of skops' default
        # trusted types) is written on first use. This workspace sets the variable; left set,
        # mlstage's editable sources would be compiled again in every process, while pip
        # compiled MLflow's at install.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if self.name == "mlflow":
            env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
        return env

    def run(self, scenario: str, folder: Path, *args: str, timeout: float = 600) -> dict[str, Any]:
        cmd = [str(self.python), str(self.worker), scenario, "--dir", str(folder), *args]
        if scenario in self.TIMED:
            rt.wait_for_quiet()
        env = self.env(folder)
        t_spawn = time.monotonic()
        done = subprocess.run(
            cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout
        )
        t_exit = time.monotonic()
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
        if done.returncode != 0 or not lines:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{self.name} {scenario} failed (exit {done.returncode}):\n{tail}")
        result = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
        if result.get("network_attempts"):
            rt.NETWORK_ATTEMPTS.append(f"{self.name} {scenario}: {result['network_attempts']}")
        result["t_spawn"] = t_spawn
        result["t_exit"] = t_exit
        return result


# -- figures -------------------------------------------------------------------------


def figure_register(tools: list[RegistryTool], shared: Path, args: argparse.Namespace) -> dict:
    samples: dict[str, list[dict]] = {t.name: [] for t in tools}
    for i, tool in rt.pairs(tools, args.repeats):
        folder = rt.fresh_folder("registry")
        try:
            r = tool.run(
                "register",
                folder,
                "--shared",
                str(shared),
                "--n",
                str(args.versions),
                "--moves",
                str(args.moves),
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        r["rate"] = r["n"] / r["seconds"]
        r["per_move"] = r["alias_seconds"] / r["moves"]
        samples[tool.name].append(r)
        log(
            f"  1. register    {tool.name:8s} #{i + 1}: {r['n']} versions in {r['seconds']:.3f} s"
            f" = {r['rate']:,.0f} versions/s; {r['moves']} alias moves, "
            f"{r['per_move'] * 1000:.2f} ms each"
        )
    return {
        "samples": samples,
        "median": {k: median([s["rate"] for s in v]) for k, v in samples.items()},
        "median_first": {k: median([s["times"][0] for s in v]) for k, v in samples.items()},
        "median_call": {k: median([x for s in v for x in s["times"]]) for k, v in samples.items()},
        "alias": {k: median([s["per_move"] for s in v]) for k, v in samples.items()},
        "alias_call": {
            k: median([x for s in v for x in s["move_times"]]) for k, v in samples.items()
        },
    }


def populate(tools: list[RegistryTool], shared: Path) -> dict[str, tuple[Path, dict]]:
    out = {}
    for tool in tools:
        folder = rt.fresh_folder(f"load-{tool.name}")
        r = tool.run("populate", folder, "--shared", str(shared))
        log(
            f"  populated {tool.name}: model logged, registered as version {r['version']} and "
            f"aliased in {r['seconds']:.1f} s (not timed); stored model file {r['model_bytes']:,} B"
        )
        out[tool.name] = (folder, r)
    return out


def figure_load(
    tools: dict[str, RegistryTool], dbs: dict, shared: Path, trained: dict, rounds: int
) -> dict:
    """Fresh processes, one untimed round first, then ``rounds`` rounds, the order alternating.

    ``floor`` is a fresh process of the mlstage venv that imports numpy and skops
    alone, loads the same skops file and predicts: no tool, no registry. ``pickle``
    unpickles the same model instead: no tool, no checks, the floor of any loader.
    """
    entries = [
        ("mlstage", tools["mlstage"], "load", dbs["mlstage"][0]),
        ("mlflow", tools["mlflow"], "load", dbs["mlflow"][0]),
        ("floor", tools["mlstage"], "floor", dbs["mlstage"][0]),
        ("pickle", tools["mlstage"], "floor_pickle", dbs["mlstage"][0]),
    ]
    samples: dict[str, list[dict]] = {label: [] for label, *_ in entries}
    for rnd in range(rounds + 1):
        order = entries if rnd % 2 == 0 else list(reversed(entries))
        for label, tool, scenario, folder in order:
            r = tool.run(scenario, folder, "--shared", str(shared))
            if r["prediction"] != trained["expected"]:
                raise RuntimeError(
                    f"{label} predicted {r['prediction']}, not {trained['expected']}"
                )
            if r["example_predictions"] != trained["expected_example"]:
                raise RuntimeError(f"{label} predicts {r['example_predictions']} on the example")
            r["cold"] = r["t_predicted"] - r["t_spawn"]
            r["start"] = r["t_start"] - r["t_spawn"]
            r["import"] = r["t_import"] - r["t_start"]
            r["load"] = r["t_loaded"] - r["t_import"]
            r["predict"] = r["t_predicted"] - r["t_loaded"]
            r["exit"] = r["t_exit"] - r["t_predicted"]
            # To the scikit-learn object in memory: mlstage rebuilds it on first use (after
            # its first prediction, from a forest's flat arrays); the others have it at load.
            r["object"] = r.get("t_object", r["t_predicted"]) - r["t_spawn"]
            if not 0 < r["start"] < r["cold"] < r["t_exit"] - r["t_spawn"]:
                raise RuntimeError(f"{label}: clock marks out of order: {r}")
            tag = "warm-up" if rnd == 0 else f"#{rnd}"
            log(
                f"  2. load        {label:8s} {tag:7s}: first prediction at {r['cold']:.2f} s "
                f"(start {r['start'] * 1000:.0f} ms, import {r['import'] * 1000:.0f} ms, load "
                f"{r['load'] * 1000:.0f} ms, predict {r['predict'] * 1000:.0f} ms); warm load "
                f"{r['warm_load'] * 1000:.0f} ms"
            )
            if rnd > 0:  # round 0 warms the file cache
                samples[label].append(r)
    parts = ("cold", "start", "import", "load", "predict", "object", "warm_load", "exit")
    return {
        "samples": samples,
        "median": {
            label: {p: median([s[p] for s in v]) for p in parts} for label, v in samples.items()
        },
        "modules": {label: v[-1]["modules"] for label, v in samples.items()},
    }


# -- report ---------------------------------------------------------------------------


def ratio_text(x: float) -> str:
    return f"{x:,.1f}x" if x < 100 else f"{x:,.0f}x"


def time_ratio(a: float, b: float) -> str:
    """mlstage's time over MLflow's: ``1/N`` when mlstage is faster, ``N (slower)`` otherwise."""
    if a <= b:
        return f"1/{b / a:,.1f}" if b / a < 100 else f"1/{b / a:,.0f}"
    return f"{a / b:,.1f} (slower)"


def render(results: dict, args: argparse.Namespace) -> tuple[str, list[dict]]:
    info = results["info"]
    m = results["machine"]
    trained = results["trained"]
    lines: list[str] = []
    summary: list[dict] = []
    add = lines.append
    add("## Model registry: mlstage vs MLflow (SQLite)")
    add("")
    add(
        f"Measured {results['date']} by `{results['command']}` "
        f"({results['elapsed']:.0f} s in all). Generated by the script; edit it, not this section."
    )
    add("")
    summary_at = len(lines)
    add("| machine | |")
    add("|---|---|")
    add(f"| CPU | {m['cpu']}, {m['cores']} cores |")
    add(f"| RAM | {m['ram']} |")
    add(f"| OS | {m['os']} |")
    add(f"| temp folders (the databases, the artifacts) | {m['tmp']} |")
    add(
        f"| load average (1, 5, 15 min) at the start; at the end | {m['load']}; "
        f"{results.get('load_end', '?')} |"
    )
    busy = results.get("busy_seen") or []
    if busy:
        over = sum(1 for b in busy if b > rt.QUIET["threshold"])
        add(
            f"| other processes' CPU use just before each measurement | median {median(busy):.0%}, "
            f"max {max(busy):.0%}; {over} of {len(busy)} measurements started above "
            f"{rt.QUIET['threshold']:.0%}; {results.get('waited', 0):.0f} s spent waiting for "
            "quiet |"
        )
    add("")
    ms, mf = info["mlstage"], info["mlflow"]
    add("| versions | mlstage side | MLflow side |")
    add("|---|---|---|")
    add(f"| tool | mlstage {ms['mlstage']} (commit {results['commit']}) | MLflow {mf['mlflow']} |")
    for key, label in (
        ("python", "Python"),
        ("sklearn", "scikit-learn"),
        ("skops", "skops"),
        ("numpy", "NumPy"),
        ("sqlalchemy", "SQLAlchemy"),
        ("sqlite", "SQLite library"),
    ):
        add(f"| {label} | {ms[key]} | {mf[key]} |")
    add(f"| venv | `{results['mlstage_python']}` | `{results['mlflow_python']}` |")
    add("")
    add(
        "Reproduce from the repository root: `python bench/run_registry.py` (any Python 3.11+; "
        "standard library only). MLflow runs from the tracking benchmark's venv, "
        '`bench/.venvs/mlflow` (`pip install "mlflow<3.18"` on first use; 3.18.0 does not '
        "install here). mlstage runs from `bench/.venvs/mlstage`, made on first use with "
        "`pip install -e .` (the working tree, runtime dependencies only), with the packages "
        f"both sides load a model with ({', '.join(SHARED_PACKAGES)}) pinned to the MLflow "
        "venv's versions; not from the dev venv `.venv`, because scikit-learn and skops import "
        "optional packages when they are installed (pytest from `sklearn.utils._testing`, dask "
        "from scikit-learn's array-API shim), which would slow mlstage's fresh-process load and "
        "not MLflow's. `--mlstage-python .venv/bin/python` measures the dev venv instead."
    )
    add("")
    add("How it measures:")
    add("")
    add(
        f"- The model: one `RandomForestClassifier(n_estimators=100)` on 20 features (2,000 "
        f"rows, {trained['nodes']:,} tree nodes), trained once by the script and written to one "
        f"skops file ({trained['model_bytes'] / 1e6:.1f} MB). Each tool logs the object read back "
        "from that file, with the same 5-row input example (so both infer a signature and both "
        'check inputs against it at `predict`). mlstage: `mlstage.log_model(model, "model", '
        'input_example=x5)`; MLflow: `mlflow.sklearn.log_model(model, name="model", '
        "input_example=x5, skops_trusted_types=[...])` (MLflow 3.x saves scikit-learn models "
        "with skops too; a forest needs its tree type trusted). Both tools store the model as a "
        "skops file, and every load is checked to predict the trained model's classes."
    )
    add(
        "- Every measurement is a fresh subprocess of the tool in a fresh temp folder with its own "
        "SQLite file (mlstage: `MLSTAGE_TRACKING_URI=sqlite:///<tmp>/mlstage.db`, "
        "`MLSTAGE_ARTIFACT_ROOT=<tmp>/artifacts`; MLflow: "
        "`MLFLOW_TRACKING_URI=sqlite:///<tmp>/mlflow.db`, artifacts in `<tmp>/mlruns`, its "
        "default). Set-up (database creation and migration, the experiment, the run logging the "
        "model) is not timed. Both tools run as in an ordinary environment: the script removes "
        "`PYTHONDONTWRITEBYTECODE` (set in this workspace) from every worker's environment, so "
        "bytecode is written on first use (pip compiled MLflow's at install; mlstage is an "
        "editable install, whose sources pip does not compile). The two tools alternate "
        "(A B, B A, ...). Before each timed process "
        f"the script waits (up to {rt.QUIET['max_wait']:.0f} s, {rt.QUIET['budget']:.0f} s in "
        f"all) until other processes use less than {rt.QUIET['threshold']:.0%} of the CPUs, and "
        "reports what it saw."
    )
    attempts = results.get("network_attempts") or []
    add(
        "- Telemetry off for every process (`MLFLOW_DISABLE_TELEMETRY=true`, `DO_NOT_TRACK=true`); "
        "every Python process, workers and the subprocesses the tools start themselves (MLflow's "
        "requirement inference at `log_model`), refuses every network connection and name "
        "look-up from its first line and reports any attempt: "
        + ("none was made." if not attempts else "**attempts: " + "; ".join(attempts) + "**")
    )
    add(
        "- Figures are medians. The ratio is mlstage / MLflow: for a rate, how many times more "
        "mlstage does; for a time, the fraction of MLflow's time mlstage takes (the speed-up is "
        "its inverse)."
    )
    add("")

    if "register" in results:
        r = results["register"]
        a, b = r["median"]["mlstage"], r["median"]["mlflow"]
        ratio = a / b
        goal = GOALS["register"]["ratio"]
        v = rt.verdict(None, ratio >= goal)
        am, af = r["alias"]["mlstage"], r["alias"]["mlflow"]
        n_proc = len(r["samples"]["mlstage"])
        add("### 1. Registering 100 versions, moving an alias 100 times")
        add("")
        add(
            f"One run logs the model (untimed); then {args.versions} calls register it again and "
            f"again as the next version of one model, timed together, the first (which creates "
            f"the registered model) included. mlstage: "
            f'`mlstage.register_model("runs:/<id>/model", "bench")`; MLflow: '
            f'`mlflow.register_model("runs:/<id>/model", "bench")` (MLflow 3.x finds the model '
            f"logged by that run and registers it; it logs a warning and two info lines a call, "
            f"to a pipe here). All {args.versions} versions are then read back and checked. Then "
            f"the alias `champion` is set on version 1 (untimed) and moved {args.moves} times, "
            f"to a different version each time, timed together; the final target is read back "
            f'and checked. mlstage: `mlstage.set_alias("bench", "champion", v)`; MLflow: '
            f'`MlflowClient().set_registered_model_alias("bench", "champion", v)`. '
            f"{n_proc} process{'es' if n_proc != 1 else ''} per tool. MLflow measured earlier "
            f"on this machine kind: "
            f"{GOALS['register']['bracket']:.0f} versions/s, "
            f"{GOALS['alias']['bracket'] * 1000:.1f} ms per move."
        )
        add("")
        add("| | mlstage | MLflow | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        add(
            f"| versions/s ({args.versions} `register_model` calls) | {rt.fmt_rate(a)} | "
            f"{rt.fmt_rate(b)} | {ratio_text(ratio)} | >= {goal:.0f}x | {v} |"
        )
        add(
            f"| one `register_model` call, median of all calls | "
            f"{fmt_time(r['median_call']['mlstage'])} | {fmt_time(r['median_call']['mlflow'])} | "
            f"{time_ratio(r['median_call']['mlstage'], r['median_call']['mlflow'])} | | |"
        )
        add(
            f"| the first call (creates the registered model) | "
            f"{fmt_time(r['median_first']['mlstage'])} | {fmt_time(r['median_first']['mlflow'])} "
            f"| | | |"
        )
        add(
            f"| alias move, ms per move ({args.moves} moves) | {am * 1000:.2f} ms | "
            f"{af * 1000:.2f} ms | {time_ratio(am, af)} | none (reported) | - |"
        )
        add("")
        summary.append(
            {
                "figure": f"1. register_model, {args.versions} versions (versions/s)",
                "mlstage": rt.fmt_rate(a, "/s"),
                "mlflow": rt.fmt_rate(b, "/s"),
                "ratio": ratio_text(ratio),
                "goal": f">= {goal:.0f}x",
                "result": v,
            }
        )
        summary.append(
            {
                "figure": "1. alias move (ms per move)",
                "mlstage": f"{am * 1000:.2f} ms",
                "mlflow": f"{af * 1000:.2f} ms",
                "ratio": time_ratio(am, af),
                "goal": "none (reported)",
                "result": "-",
            }
        )

    if "load" in results:
        r = results["load"]
        med = r["median"]
        a, b = med["mlstage"]["cold"], med["mlflow"]["cold"]
        speedup = b / a
        goal = GOALS["load"]["speedup"]
        v = rt.verdict(None, speedup >= goal)
        n_proc = len(r["samples"]["mlstage"])
        add("### 2. Loading by alias in a fresh process, to a first prediction")
        add("")
        add(
            f"A fresh process per load, in the populated temp folder of its tool (the model "
            f"logged, registered as version 1, `champion` set on it, all untimed beforehand). "
            f"Timed from the moment the script starts the process (`time.monotonic()` just "
            f"before `subprocess.run`, after the quiet wait) to the first prediction returning "
            f"(`time.monotonic()` in the worker, the same system-wide clock): interpreter start, "
            f"imports, the load and the prediction. mlstage: "
            f'`mlstage.load_model("models:/bench@champion").predict(row)`; MLflow: '
            f'`mlflow.pyfunc.load_model("models:/bench@champion").predict(row)`; `row` is one '
            f"row of 20 floats as a NumPy array. One untimed round first (file cache), then "
            f"{n_proc} rounds, the order alternating; the median. The warm load is the second "
            f"`load_model` call in the same process (load only). MLflow measured earlier on this "
            f"machine kind: {GOALS['load']['bracket']:.1f} s."
        )
        add("")
        add("| | mlstage | MLflow | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        add(
            f"| fresh process to first prediction | {fmt_time(a)} | {fmt_time(b)} | "
            f"{time_ratio(a, b)} | <= 1/{goal:.0f} ({goal:.0f}x faster) | {v} |"
        )
        oa, ob = med["mlstage"]["object"], med["mlflow"]["object"]
        add(
            f"| fresh process to the scikit-learn object in memory | {fmt_time(oa)} | "
            f"{fmt_time(ob)} | {time_ratio(oa, ob)} | none (reported) | - |"
        )
        wa, wb = med["mlstage"]["warm_load"], med["mlflow"]["warm_load"]
        add(
            f"| warm load (second `load_model` in the process) | {fmt_time(wa)} | {fmt_time(wb)} "
            f"| {time_ratio(wa, wb)} | none (reported) | - |"
        )
        add("")
        fl = med["floor"]
        pk = med.get("pickle")
        columns = ("mlstage", "mlflow", "floor", "pickle") if pk else ("mlstage", "mlflow", "floor")
        add(
            "Where the time goes (medians of the same processes; CLOCK_MONOTONIC marks in the "
            "worker). *No tool, skops* is a fresh process of the mlstage venv that imports NumPy "
            "and `skops.io`, loads the same skops file with `skops.io.load` and predicts: no "
            "registry, no checks; what any loader pays that rebuilds the scikit-learn object "
            "with skops as skops ships (skops computes its default trusted types at import, "
            "`all_estimators` importing every scikit-learn module). *No tool, pickle* "
            "unpickles the same model (a pickle the script wrote; never a tool's file): no "
            "registry, no checks, no skops; it imports only what the object needs (NumPy, "
            "scikit-learn's forest and all that scikit-learn imports with it, SciPy and pandas "
            "among them): the floor of any loader in a fresh Python process."
        )
        add("")
        head = "| | mlstage | MLflow | no tool, skops (numpy + skops) |"
        add(head + (" no tool, pickle (numpy + pickle, no checks) |" if pk else ""))
        add("|---|---|---|---|" + ("---|" if pk else ""))
        rows = (
            ("interpreter start, to the worker's first line", "start"),
            ("`import mlstage` / `import mlflow` / `import numpy, skops.io` / `numpy`", "import"),
            (
                "`load_model(...)` / `skops.io.load(file)` / `pickle.load` (with the imports they "
                "trigger)",
                "load",
            ),
            ("first `predict(row)`", "predict"),
            ("**to first prediction**", "cold"),
            ("to the scikit-learn object in memory", "object"),
            ("warm load (second load in the process)", "warm_load"),
        )
        for label, key in rows:
            cells = [fmt_time(med[t][key]) for t in columns]
            if key == "cold":
                cells = [f"**{c}**" for c in cells]
            add(f"| {label} | " + " | ".join(cells) + " |")
        add(
            "| modules in `sys.modules` at the end | "
            + " | ".join(f"{r['modules'][t]:,}" for t in columns)
            + " |"
        )
        add("")
        target = b / goal
        text = (
            f"The goal asks for at most {fmt_time(target)} here (MLflow's {fmt_time(b)} / "
            f"{goal:.0f}). A process that only imports NumPy and skops, loads this file and "
            f"predicts takes {fmt_time(fl['cold'])}"
            + (", above that target. " if fl["cold"] > target else ". ")
        )
        if pk:
            text += (
                f"One that only unpickles the model, with no check of any kind, takes "
                f"{fmt_time(pk['cold'])}"
                + (
                    ", above the target too: on this machine no loader that rebuilds the "
                    "scikit-learn object before its first prediction can meet the goal, because "
                    "importing what the object needs "
                    "(scikit-learn, and the SciPy and pandas it imports) costs more than a third "
                    "of MLflow's time. "
                    if pk["cold"] > target
                    else (
                        f", {fmt_time(target - pk['cold'])} under the target: a loader that "
                        "rebuilds the object first must add at most that to unpickling, while "
                        "the issue forbids unpickling (skops, and every file checked against "
                        f"the registry). Loading with skops as it ships costs "
                        f"{fmt_time(fl['cold'] - pk['cold'])} more than unpickling (its "
                        "default types computed at import, its own modules, the object rebuilt "
                        "node by node); mlstage's cache (below) takes the first part away. "
                    )
                )
                + (
                    f"mlstage answers {fmt_time(pk['cold'] - a)} before even that floor: a "
                    "forest's first prediction comes from its flat arrays (`forest.npz`, "
                    "logged beside `model.skops` once the arrays gave the model's own answers "
                    "bit for bit on probe rows, and checked against the registry's sha256 like "
                    "every file), walked with NumPy alone, so scikit-learn is not imported "
                    "until the object itself is asked for; the object is in memory at "
                    f"{fmt_time(oa)} (row above), {fmt_time(oa - pk['cold'])} more than the "
                    f"pickle floor. MLflow takes {fmt_time(b - pk['cold'])} more."
                    if a < pk["cold"]
                    else f"mlstage takes {fmt_time(a - pk['cold'])} more than the pickle floor "
                    f"({(a - pk['cold']) / a:.0%} of its time); MLflow "
                    f"{fmt_time(b - pk['cold'])} more."
                )
            )
        else:
            text += (
                f"mlstage spends {fmt_time(a - fl['cold'])} over that floor "
                f"({(a - fl['cold']) / a:.0%} of its time); MLflow {fmt_time(b - fl['cold'])}."
            )
        add(text)
        add("")
        add(
            "mlstage's cache of skops' default trusted types: skops computes the same lists in "
            "every fresh process (the *no tool, skops* column pays it); mlstage keeps them like "
            "bytecode, in `__pycache__` "
            "beside `mlstage/models/flavors/skops_defaults.py`, written the first time a "
            "process of the environment imports skops through mlstage (here during the "
            "untimed set-up, when the model is logged), keyed by the installed skops, "
            "scikit-learn, NumPy, SciPy and Python, and puts them in place before importing "
            "skops. The lists are skops' own, unchanged: every load trusts the same types. A "
            "process that finds no valid cache (the first after installing or upgrading one of "
            "those packages) pays what the skops floor pays."
        )
        add("")
        add(
            "What else mlstage's load does to stay near the floor, with the same checks: on a "
            "local SQLite store (no user scope, no environment policy, the file at the current "
            "schema revision) the registry is read with the standard library's `sqlite3` "
            "(`mlstage/models/sqlite_lookup.py`: the same queries as the SQL registry store, "
            "read-only; anything else takes the full path), so SQLAlchemy is never imported "
            "(about half a second on a slow machine); every file is still read from the "
            "content-addressed store and checked against the sha256 the version recorded, "
            "and pickles are still refused; entity schemas are built on first use instead of "
            "at import; the cyclic garbage collector is paused while the load imports "
            "scikit-learn and skops rebuilds the forest (about a tenth of the import time); "
            "and a float array of the signature's width, for a model fitted on arrays, goes "
            "to the model as it is once checked (`signature._float_matrix`: no DataFrame "
            "built and taken apart again), which halves the first prediction."
        )
        add("")
        summary.append(
            {
                "figure": "2. load by alias, fresh process to first prediction",
                "mlstage": fmt_time(a),
                "mlflow": fmt_time(b),
                "ratio": time_ratio(a, b),
                "goal": f"<= 1/{goal:.0f}",
                "result": v,
            }
        )
        summary.append(
            {
                "figure": "2. warm load (second load_model in the process)",
                "mlstage": fmt_time(wa),
                "mlflow": fmt_time(wb),
                "ratio": time_ratio(wa, wb),
                "goal": "none (reported)",
                "result": "-",
            }
        )

    add("Raw samples of the last run: `bench/results/registry.json`.")
    table = [
        "| figure | mlstage | MLflow | ratio mlstage/MLflow | goal | result |",
        "|---|---|---|---|---|---|",
    ]
    table += [
        f"| {s['figure']} | {s['mlstage']} | {s['mlflow']} | {s['ratio']} | {s['goal']} | "
        f"{s['result']} |"
        for s in summary
    ]
    lines[summary_at:summary_at] = [*table, ""]
    return "\n".join(lines), summary


# -- main ------------------------------------------------------------------------------


def render_only() -> int:
    """The section again from the last published run's raw results, nothing measured."""
    raw = RESULTS / "registry.json"
    results = json.loads(raw.read_text(encoding="utf-8"))
    rt.NETWORK_ATTEMPTS[:] = results.get("network_attempts", [])
    first = results.get("register", {}).get("samples", {}).get("mlstage", [{}])[0]
    args = argparse.Namespace(versions=first.get("n", 100), moves=first.get("moves", 100))
    section, summary = render(results, args)
    results["summary"] = summary
    raw.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    rt.write_markdown(section, BEGIN, END)
    log(f"rewrote the registry section of {BENCHMARKS_MD.relative_to(REPO)} from {raw.name}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2", help="figures to run, e.g. 2")
    parser.add_argument("--repeats", type=int, default=5, help="processes per tool, figure 1")
    parser.add_argument("--versions", type=int, default=100, help="register_model calls")
    parser.add_argument("--moves", type=int, default=100, help="alias moves")
    parser.add_argument("--load-rounds", type=int, default=7, help="fresh processes per tool")
    parser.add_argument(
        "--quiet-budget", type=float, default=90.0, help="seconds in all to wait for quiet"
    )
    parser.add_argument(
        "--mlstage-python",
        default=None,
        help="mlstage's interpreter (default: bench/.venvs/mlstage, runtime dependencies only)",
    )
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the section from bench/results/registry.json (after editing the report)",
    )
    args = parser.parse_args()
    if args.render_only:
        return render_only()
    only = {int(x) for x in args.only.split(",") if x.strip()}
    if args.versions < 2:
        parser.error("--versions must be at least 2 (the alias moves between versions)")
    rt.QUIET["budget"] = args.quiet_budget

    started = time.perf_counter()
    mlflow_py = rt.ensure_venv(rt.VENVS / "mlflow", [rt.MLFLOW_REQUIREMENT], "import mlflow")
    mlstage_py = (
        Path(os.path.abspath(args.mlstage_python))  # not resolve(): keep the venv's symlink
        if args.mlstage_python
        else mlstage_runtime_venv(mlflow_py)
    )
    fd, net_name = tempfile.mkstemp(prefix="mlstage-bench-net-", suffix=".log")
    os.close(fd)
    net_log = Path(net_name)
    tools = [
        RegistryTool("mlstage", mlstage_py, net_log),
        RegistryTool("mlflow", mlflow_py, net_log),
    ]
    by_name = {t.name: t for t in tools}

    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run_registry.py"
        + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "machine": rt.machine(),
        "commit": rt.git_commit(),
        "mlstage_python": os.path.relpath(mlstage_py, REPO),
        "mlflow_python": os.path.relpath(mlflow_py, REPO),
    }
    shared = rt.fresh_folder("model")
    try:
        results["info"] = {t.name: t.run("info", shared) for t in tools}
        log(
            f"mlstage {results['info']['mlstage']['mlstage']} ({mlstage_py}); "
            f"MLflow {results['info']['mlflow']['mlflow']} ({mlflow_py})"
        )
        for key in ("sklearn", "skops", "numpy"):
            if results["info"]["mlstage"][key] != results["info"]["mlflow"][key]:
                raise SystemExit(f"the venvs differ in {key}: {results['info']}")
        results["trained"] = by_name["mlstage"].run("train", shared)
        log(
            f"model: random forest, 100 trees, 20 features, {results['trained']['nodes']:,} "
            f"nodes; skops file {results['trained']['model_bytes']:,} B (not timed)"
        )
        if 1 in only:
            log(f"figure 1: {args.versions} versions, {args.moves} alias moves")
            results["register"] = figure_register(tools, shared, args)
        if 2 in only:
            log("figure 2: load by alias in a fresh process")
            dbs = populate(tools, shared)
            results["populated"] = {k: v[1] for k, v in dbs.items()}
            try:
                results["load"] = figure_load(
                    by_name, dbs, shared, results["trained"], args.load_rounds
                )
            finally:
                for folder, _ in dbs.values():
                    shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
        logged = net_log.read_text(encoding="utf-8").splitlines() if net_log.exists() else []
        rt.NETWORK_ATTEMPTS.extend(f"(at exit) {line}" for line in logged)
        net_log.unlink(missing_ok=True)

    rt.stamp_end(results, started)
    section, summary = render(results, args)
    results["summary"] = summary
    rt.save_results(results, section, "registry", no_write=args.no_write, begin=BEGIN, end=END)
    return rt.print_summary(summary, rt.COLUMNS, results["elapsed"])


if __name__ == "__main__":
    sys.exit(main())
