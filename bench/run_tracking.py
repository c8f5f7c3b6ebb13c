#!/usr/bin/env python3
"""Tracking benchmark: mlstage side by side with MLflow 3.x, on SQLite, in one run.

    python bench/run_tracking.py            # everything, ~5 minutes; updates BENCHMARKS.md
    python bench/run_tracking.py --only 1,3 --no-write

Standard library only. It installs MLflow into its own venv
(bench/.venvs/mlflow, ``pip install "mlflow<3.18"``) on first use, runs
mlstage from the repository's dev venv (.venv, mlstage installed editable)
or, without one, from bench/.venvs/mlstage (``pip install -e .``), and runs
every measurement in a fresh subprocess of the tool, in a fresh temp folder,
on its own SQLite file. Set-up (database creation and migration, creating
the experiment, a first small run) happens before the clock starts.

Figures (the goals are those of the tracking issue):
  1. 10,000 ``log_metric`` calls in one run, durable at ``end_run``: points/s
  2. runs with 5 params and 5 metrics each: runs/s
  3. ``search_runs`` over 10,000 runs, metric filter, ordered by a metric:
     (a) first page of 100, (b) all ~5,000 matches as a DataFrame
  4. ``get_metric_history`` of 10,000 points
  5. ``import`` and ``--help`` wall time
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKERS = BENCH / "tracking"
VENVS = BENCH / ".venvs"
WORK = BENCH / ".work"
RESULTS = BENCH / "results"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
MLFLOW_REQUIREMENT = "mlflow<3.18"  # 3.18.0 does not install here (mlflow-skinny 3.18.0 missing)
BEGIN, END = "<!-- tracking:begin -->", "<!-- tracking:end -->"
COLUMNS = [("figure", "figure"), ("mlstage", "mlstage"), ("MLflow", "mlflow"),
           ("ratio", "ratio"), ("goal", "goal"), ("result", "result")]  # fmt: skip
"""The summary table's columns: (title, key of a summary row)."""

# MLflow as measured earlier on this kind of machine (the brackets), and the goals.
GOALS = {
    "log_metric": {"ratio": 100.0},
    "runs": {"ratio": 10.0},
    "search_page": {"abs": 0.050, "bracket": 1.7},
    "search_all": {"abs": 0.300, "bracket": 4.1},
    "history": {"abs": 0.030, "bracket": 0.27},
    "import": {"abs": 0.300, "bracket": 1.3},
    "help": {"abs": 0.500},
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- environments --------------------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path, requirement: list[str], probe: str) -> Path:
    python = venv_python(venv)
    if python.exists():
        ok = subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0
        if ok:
            return python
    log(f"creating {venv.relative_to(REPO)} and installing {' '.join(requirement)} (one-off)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *requirement]
    done = subprocess.run(pip, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"could not install {' '.join(requirement)} into {venv}")
    return python


def mlstage_python(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    dev = venv_python(REPO / ".venv")
    if dev.exists():
        return dev
    return ensure_venv(VENVS / "mlstage", ["-e", str(REPO)], "import mlstage")


def base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLSTAGE_", "MLFLOW_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    # Telemetry off for every process (it matters to MLflow; harmless elsewhere).
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    return env


class Tool:
    def __init__(self, name: str, python: Path) -> None:
        self.name = name
        self.python = python
        self.worker = WORKERS / f"{name}_worker.py"
        self.bin = python.parent

    def env(self, folder: Path) -> dict[str, str]:
        env = base_env()
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        if self.name == "mlstage":
            env["MLSTAGE_TRACKING_URI"] = f"sqlite:///{folder / 'mlstage.db'}"
            env["MLSTAGE_ARTIFACT_ROOT"] = str(folder / "artifacts")
        return env

    def run(self, scenario: str, folder: Path, *args: str, timeout: float = 600) -> dict[str, Any]:
        cmd = [str(self.python), str(self.worker), scenario, "--dir", str(folder), *args]
        if scenario not in ("info", "populate"):
            wait_for_quiet()
        done = subprocess.run(
            cmd, cwd=folder, env=self.env(folder), capture_output=True, text=True, timeout=timeout
        )
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
        if done.returncode != 0 or not lines:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{self.name} {scenario} failed (exit {done.returncode}):\n{tail}")
        result = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
        if result.get("network_attempts"):
            NETWORK_ATTEMPTS.append(f"{self.name} {scenario}: {result['network_attempts']}")
        return result


NETWORK_ATTEMPTS: list[str] = []
# CPU use of other processes (fraction of the whole machine) seen just before each measurement.
BUSY_SEEN: list[float] = []
# Wait at most max_wait s per measurement and budget s in all, so the run stays under ~6 minutes.
QUIET = {"threshold": 0.25, "max_wait": 20.0, "budget": 150.0, "waited": 0.0}


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat", encoding="utf-8") as fh:
        values = [int(x) for x in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values), idle


def busy_fraction(interval: float = 0.5) -> float:
    total0, idle0 = _cpu_times()
    time.sleep(interval)
    total1, idle1 = _cpu_times()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet() -> None:
    """Wait (a while) until other processes leave the CPUs mostly idle.

    The machine may be shared; a measurement that starts while something
    else is busy is slower for reasons that have nothing to do with the tool.
    """
    start = time.monotonic()
    deadline = start + min(QUIET["max_wait"], max(QUIET["budget"] - QUIET["waited"], 0.0))
    busy = busy_fraction()
    waited = False
    while busy > QUIET["threshold"] and time.monotonic() < deadline:
        if not waited:
            log(f"  (other processes use {busy:.0%} of the CPUs; waiting for quiet)")
            waited = True
        time.sleep(1)
        busy = busy_fraction()
    QUIET["waited"] += time.monotonic() - start
    BUSY_SEEN.append(busy)


TOOL_LABEL = {"mlstage": "mlstage", "mlflow": "MLflow"}


def fresh_folder(label: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"mlstage-bench-{label}-"))


def median(values: list[float]) -> float:
    return statistics.median(values)


def pairs(tools: list[Tool], repeats: int):
    """(repeat, tool) with the order alternating, so a noisy moment hits both tools alike."""
    for i in range(repeats):
        for tool in tools if i % 2 == 0 else list(reversed(tools)):
            yield i, tool


# -- figures -------------------------------------------------------------------------


def figure_log_metric(tools: list[Tool], repeats: int, n: dict[str, int]) -> dict:
    samples: dict[str, list[dict]] = {t.name: [] for t in tools}
    for i, tool in pairs(tools, repeats):
        folder = fresh_folder("metric")
        try:
            r = tool.run("log_metric", folder, "--n", str(n[tool.name]))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        r["rate"] = r["n"] / r["seconds"]
        samples[tool.name].append(r)
        log(
            f"  1. log_metric  {tool.name:8s} #{i + 1}: {r['n']:>6} points in {r['seconds']:.3f} s"
            f" = {r['rate']:,.0f} points/s"
        )
    return {
        "samples": samples,
        "median": {k: median([s["rate"] for s in v]) for k, v in samples.items()},
        "n": n,
    }


def figure_runs(tools: list[Tool], repeats: int, n: dict[str, int]) -> dict:
    samples: dict[str, list[dict]] = {t.name: [] for t in tools}
    for i, tool in pairs(tools, repeats):
        folder = fresh_folder("runs")
        try:
            r = tool.run("runs", folder, "--n", str(n[tool.name]))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        r["rate"] = r["n"] / r["seconds"]
        samples[tool.name].append(r)
        log(
            f"  2. runs        {tool.name:8s} #{i + 1}: {r['n']:>6} runs in {r['seconds']:.3f} s"
            f" = {r['rate']:,.0f} runs/s"
        )
    return {
        "samples": samples,
        "median": {k: median([s["rate"] for s in v]) for k, v in samples.items()},
        "n": n,
    }


def populate(tools: list[Tool], runs: int, points: int) -> dict[str, tuple[Path, str]]:
    out = {}
    for tool in tools:
        folder = fresh_folder(f"search-{tool.name}")
        r = tool.run("populate", folder, "--n", str(runs), "--history", str(points), timeout=1200)
        log(
            f"  populated {tool.name}: {runs:,} runs + a {points:,}-point history in "
            f"{r['seconds']:.1f} s (not timed)"
        )
        out[tool.name] = (folder, r["history_run_id"])
    return out


def figure_search(tools: list[Tool], dbs: dict, repeat: int, processes: int) -> dict:
    result: dict[str, Any] = {}
    for mode in ("page", "all"):
        samples: dict[str, list[float]] = {t.name: [] for t in tools}
        info: dict[str, dict] = {}
        for _, tool in pairs(tools, processes):
            folder, _ = dbs[tool.name]
            r = tool.run("search", folder, "--mode", mode, "--repeat", str(repeat))
            samples[tool.name].extend(r["times"])
            info[tool.name] = {k: r[k] for k in ("rows", "columns", "first_names")}
            log(
                f"  3. search {mode:4s}  {tool.name:8s}: {r['rows']} rows, median "
                f"{median(r['times']) * 1000:,.1f} ms of {[round(t * 1000, 1) for t in r['times']]}"
            )
        names = {tuple(v["first_names"]) for v in info.values()}
        rows = {v["rows"] for v in info.values()}
        if len(names) != 1 or len(rows) != 1:
            raise RuntimeError(f"search results differ between the tools: {info}")
        result[mode] = {
            "samples": samples,
            "median": {k: median(v) for k, v in samples.items()},
            "info": info,
        }
    return result


def figure_history(tools: list[Tool], dbs: dict, repeat: int, processes: int) -> dict:
    samples: dict[str, list[float]] = {t.name: [] for t in tools}
    for _, tool in pairs(tools, processes):
        folder, run_id = dbs[tool.name]
        r = tool.run("history", folder, "--run-id", run_id, "--repeat", str(repeat))
        if r["points"] != 10_000:
            raise RuntimeError(f"{tool.name} returned {r['points']} points")
        samples[tool.name].extend(r["times"])
        log(
            f"  4. history     {tool.name:8s}: median {median(r['times']) * 1000:,.1f} ms of "
            f"{[round(t * 1000, 1) for t in r['times']]}"
        )
    return {"samples": samples, "median": {k: median(v) for k, v in samples.items()}}


def figure_startup(tools: dict[str, Tool], rounds: int) -> dict:
    """Wall time of whole subprocesses, one untimed round first, the commands interleaved."""
    ml, mf = tools["mlstage"], tools["mlflow"]
    commands = {
        "python -c pass (mlstage venv)": (ml, [str(ml.python), "-c", "pass"]),
        "import mlstage": (ml, [str(ml.python), "-c", "import mlstage"]),
        "mlstage --help": (ml, [str(ml.bin / "mlstage"), "--help"]),
        "import mlflow": (mf, [str(mf.python), "-c", "import mlflow"]),
        "mlflow --help": (mf, [str(mf.bin / "mlflow"), "--help"]),
    }
    folder = fresh_folder("startup")
    samples: dict[str, list[float]] = {k: [] for k in commands}
    errors: dict[str, str] = {}
    try:
        for r in range(rounds + 1):
            for label, (tool, cmd) in commands.items():
                if label in errors:
                    continue
                if r > 0:
                    wait_for_quiet()
                t0 = time.perf_counter()
                done = subprocess.run(
                    cmd, cwd=folder, env=tool.env(folder), capture_output=True, text=True
                )
                seconds = time.perf_counter() - t0
                if done.returncode != 0:
                    last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                    errors[label] = f"exit {done.returncode}: {last}"
                    log(f"  5. {label}: fails ({errors[label]})")
                    continue
                if r > 0:  # round 0 warms the file cache
                    samples[label].append(seconds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    medians = {k: median(v) for k, v in samples.items() if v}
    for label, value in medians.items():
        log(f"  5. {label:30s} median {value * 1000:,.0f} ms")
    return {"samples": samples, "median": medians, "errors": errors}


# -- report ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    os_name = platform.platform()
    try:
        with open("/etc/os-release", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    tmp = tempfile.gettempdir()
    df = subprocess.run(
        ["df", "--output=fstype", tmp], capture_output=True, text=True
    ).stdout.split()
    fs = df[-1] if len(df) > 1 else "unknown file system"
    load = os.getloadavg()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": f"{os_name}, Linux {platform.release()}",
        "tmp": f"{tmp} ({fs})",
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    }


def git_commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "src"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return done.stdout.strip() + (" + uncommitted changes in src/" if dirty else "")


def fmt_rate(value: float, unit: str = "") -> str:
    return f"{value:,.0f} {unit}".rstrip()


def fmt_time(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def processes(n: int) -> str:
    return "one warm process" if n == 1 else f"{n} warm processes"


def verdict(ok_abs: bool | None, ok_ratio: bool | None) -> str:
    checks = [c for c in (ok_abs, ok_ratio) if c is not None]
    if all(checks):
        return "**pass**"
    missed = []
    if ok_abs is False:
        missed.append("absolute goal")
    if ok_ratio is False:
        missed.append("ratio goal")
    return "**FAIL** (" + ", ".join(missed) + ")"


def render(results: dict, args: argparse.Namespace) -> tuple[str, list[dict]]:
    info = results["info"]
    m = results["machine"]
    lines: list[str] = []
    summary: list[dict] = []
    add = lines.append
    add("## Tracking: mlstage vs MLflow (SQLite)")
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
    add(f"| temp folders (the databases) | {m['tmp']} |")
    add(
        f"| load average (1, 5, 15 min) at the start; at the end | {m['load']}; "
        f"{results.get('load_end', '?')} |"
    )
    busy = results.get("busy_seen") or []
    if busy:
        over = sum(1 for b in busy if b > QUIET["threshold"])
        add(
            f"| other processes' CPU use just before each measurement | median {median(busy):.0%}, "
            f"max {max(busy):.0%}; {over} of {len(busy)} measurements started above "
            f"{QUIET['threshold']:.0%}; {results.get('waited', 0):.0f} s spent waiting for quiet |"
        )
    add("")
    ms, mf = info["mlstage"], info["mlflow"]
    add("| versions | mlstage side | MLflow side |")
    add("|---|---|---|")
    add(f"| tool | mlstage {ms['mlstage']} (commit {results['commit']}) | MLflow {mf['mlflow']} |")
    add(f"| Python | {ms['python']} | {mf['python']} |")
    add(f"| SQLAlchemy | {ms['sqlalchemy']} | {mf['sqlalchemy']} |")
    add(f"| SQLite library | {ms['sqlite']} | {mf['sqlite']} |")
    add(f"| pandas | {ms['pandas']} | {mf['pandas']} |")
    add(f"| venv | `{results['mlstage_python']}` | `{results['mlflow_python']}` |")
    add("")
    add(
        "Reproduce from the repository root: `python bench/run_tracking.py` (any Python 3.11+; it "
        'creates `bench/.venvs/mlflow` with `pip install "mlflow<3.18"` on first use, since '
        "3.18.0 does not install here, and runs mlstage from `.venv`, the dev venv with mlstage "
        "installed editable, or else from `bench/.venvs/mlstage`, made with `pip install -e .`)."
    )
    add("")
    add("How it measures:")
    add("")
    add(
        "- Every measurement is a fresh subprocess of the tool in a fresh temp folder with its own "
        "SQLite file (mlstage: `MLSTAGE_TRACKING_URI=sqlite:///<tmp>/mlstage.db`, "
        "`MLSTAGE_ARTIFACT_ROOT=<tmp>/artifacts`; MLflow: "
        '`mlflow.set_tracking_uri("sqlite:///<tmp>/mlflow.db")`). Before the clock starts each '
        "process creates and migrates its database, creates the experiment and logs one small "
        "run; that set-up is not timed. The two tools alternate (A B, B A, ...). The machine "
        "may be shared with other work: before each measurement the script waits (up to "
        f"{QUIET['max_wait']:.0f} s, {QUIET['budget']:.0f} s in all) until other processes use "
        f"less than {QUIET['threshold']:.0%} of the CPUs, and reports what it saw."
    )
    lm = results.get("log_metric", {}).get("samples", {})
    sync = {k: (v[0].get("journal_mode"), v[0].get("synchronous")) for k, v in lm.items() if v}
    sync_names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    if sync:
        parts = [
            f"{TOOL_LABEL[k]}: journal_mode={j}, synchronous={sync_names.get(s, s)}"
            for k, (j, s) in sync.items()
        ]
        add(
            "- SQLite settings read back from each tool's own connection: "
            + "; ".join(parts)
            + ". mlstage sets WAL and synchronous=NORMAL (durable against a process crash, "
            "not against power loss for the last commits); MLflow keeps SQLite's defaults "
            "(rollback journal, synchronous=FULL). MLflow logs synchronously (its default; "
            "`MLFLOW_ENABLE_ASYNC_LOGGING` unset), one transaction per `log_metric`; mlstage "
            "buffers points and writes them in batches, all written when `end_run` returns."
        )
    add(
        "- Telemetry off for every process (`MLFLOW_DISABLE_TELEMETRY=true`, `DO_NOT_TRACK=true`); "
        "each worker also refuses every network connection and name look-up and reports any "
        "attempt: "
        + (
            "none was made."
            if not NETWORK_ATTEMPTS
            else "**attempts: " + "; ".join(NETWORK_ATTEMPTS) + "**"
        )
    )
    add(
        "- Figures are medians. The ratio is mlstage / MLflow: for a rate, how many times more "
        "mlstage does; for a time, the fraction of MLflow's time mlstage takes (the speed-up is "
        "its inverse). Goals given as a time also have a ratio goal, from the MLflow figure "
        "measured earlier on this machine kind (e.g. 50 ms against 1.7 s: 1/34). A figure passes "
        "when both hold."
    )
    add("")

    if "log_metric" in results:
        r = results["log_metric"]
        a, b = r["median"]["mlstage"], r["median"]["mlflow"]
        ratio = a / b
        goal = GOALS["log_metric"]["ratio"]
        v = verdict(None, ratio >= goal)
        add("### 1. `log_metric` in a loop, durable at `end_run`")
        add("")
        add(
            f'One run, `log_metric("loss", value, step=i)` called n times, timed from the first '
            f"call to `end_run` returning; every point is then read back and counted. mlstage: "
            f"n = {r['n']['mlstage']:,}; MLflow: n = {r['n']['mlflow']:,} (capped: its rate is "
            f"flat, one transaction per call, so the rate is the figure; 10,000 calls would take "
            f"MLflow ~{10_000 / b:.0f} s). {len(r['samples']['mlstage'])} processes each."
        )
        add("")
        add("| | mlstage | MLflow | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        add(f"| points/s | {fmt_rate(a)} | {fmt_rate(b)} | {ratio:,.0f}x | >= {goal:.0f}x | {v} |")
        add("")
        summary.append(
            {
                "figure": "1. log_metric (points/s)",
                "mlstage": fmt_rate(a, "/s"),
                "mlflow": fmt_rate(b, "/s"),
                "ratio": f"{ratio:,.0f}x",
                "goal": f">= {goal:.0f}x",
                "result": v,
            }
        )

    if "runs" in results:
        r = results["runs"]
        a, b = r["median"]["mlstage"], r["median"]["mlflow"]
        ratio = a / b
        goal = GOALS["runs"]["ratio"]
        v = verdict(None, ratio >= goal)
        add("### 2. Runs with 5 params and 5 metrics")
        add("")
        add(
            f"Each run: `start_run(run_name=...)`, `log_params` (5), `log_metrics` (5), `end_run`; "
            f"all runs read back and checked. mlstage: {r['n']['mlstage']:,} runs; MLflow: "
            f"{r['n']['mlflow']:,} runs (capped; its rate is flat). "
            f"{len(r['samples']['mlstage'])} processes each."
        )
        add("")
        add("| | mlstage | MLflow | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        add(f"| runs/s | {fmt_rate(a)} | {fmt_rate(b)} | {ratio:,.1f}x | >= {goal:.0f}x | {v} |")
        add("")
        summary.append(
            {
                "figure": "2. runs with 5 params + 5 metrics (runs/s)",
                "mlstage": fmt_rate(a, "/s"),
                "mlflow": fmt_rate(b, "/s"),
                "ratio": f"{ratio:,.1f}x",
                "goal": f">= {goal:.0f}x",
                "result": v,
            }
        )

    def time_row(key: str, label: str, a: float, b: float, name: str) -> str:
        g = GOALS[key]
        ratio = a / b
        ratio_goal = g["abs"] / g["bracket"] if "bracket" in g else None
        v = verdict(a < g["abs"], None if ratio_goal is None else ratio <= ratio_goal)
        goal = f"< {fmt_time(g['abs'])}" + (f" and <= 1/{1 / ratio_goal:.0f}" if ratio_goal else "")
        summary.append(
            {
                "figure": name,
                "mlstage": fmt_time(a),
                "mlflow": fmt_time(b),
                "ratio": f"1/{1 / ratio:,.0f}",
                "goal": goal,
                "result": v,
            }
        )
        return f"| {label} | {fmt_time(a)} | {fmt_time(b)} | 1/{1 / ratio:,.0f} | {goal} | {v} |"

    if "search" in results:
        r = results["search"]
        add("### 3. `search_runs` over 10,000 runs")
        add("")
        add(
            f"One experiment of {args.search_runs:,} runs, each with 5 params and 5 metrics "
            f"(uniform random values, the same seeded data for both tools). Filter "
            f"`metrics.m0 > 0.5` ({r['all']['info']['mlstage']['rows']:,} matches), ordered by "
            f'`metrics.m1 DESC`. mlstage: `mlstage.search_runs("search", filter=..., order_by=..., '
            f'max_results=100)`; MLflow: `mlflow.search_runs(experiment_names=["search"], '
            f"filter_string=..., order_by=..., max_results=100)`; (b) the same without "
            f"`max_results` (both default to 100,000). Both return a pandas DataFrame "
            f"(mlstage {r['all']['info']['mlstage']['columns']} columns, MLflow "
            f"{r['all']['info']['mlflow']['columns']}); both return the same runs in the same "
            f"order (checked). The databases are populated once, untimed, by each tool's fastest "
            f"bulk path (mlstage: its store's `create_run` + `log_batch` + `end_run`; MLflow: "
            f"one bulk insert through its own SQLAlchemy models, since its `log_batch` would take "
            f"minutes). Each figure: {processes(args.search_processes)} per tool, one "
            f"untimed call then {args.search_repeat} timed; the median of the timed calls."
        )
        add("")
        add("| | mlstage | MLflow | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        matches = r["all"]["info"]["mlstage"]["rows"]
        add(
            time_row(
                "search_page",
                "(a) first page of 100",
                r["page"]["median"]["mlstage"],
                r["page"]["median"]["mlflow"],
                "3a. search_runs, first page of 100",
            )
        )
        add(
            time_row(
                "search_all",
                f"(b) all {matches:,} matches as a DataFrame",
                r["all"]["median"]["mlstage"],
                r["all"]["median"]["mlflow"],
                f"3b. search_runs, all {matches:,} matches as a DataFrame",
            )
        )
        add("")

    if "history" in results:
        r = results["history"]
        add("### 4. Metric history of 10,000 points")
        add("")
        add(
            "One run with 10,000 points of one key (in the same database as figure 3). mlstage: "
            '`mlstage.get_metric_history(run_id, "loss")`; MLflow: '
            '`MlflowClient().get_metric_history(run_id, "loss")`; both return a list of 10,000 '
            f"metric objects. {processes(args.search_processes).capitalize()} per tool, one "
            f"untimed call then {args.search_repeat} timed; the median."
        )
        add("")
        add("| | mlstage | MLflow | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        add(
            time_row(
                "history",
                "get_metric_history, 10,000 points",
                r["median"]["mlstage"],
                r["median"]["mlflow"],
                "4. get_metric_history, 10,000 points",
            )
        )
        add("")

    if "startup" in results:
        r = results["startup"]
        med = r["median"]
        add("### 5. Start-up")
        add("")
        add(
            f"Wall time of the whole subprocess, from the temp folder; one untimed round first, "
            f"then {args.startup_rounds} rounds with the commands interleaved; the median."
        )
        add("")
        add("| command | mlstage | MLflow | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        if "import mlstage" in med and "import mlflow" in med:
            add(
                time_row(
                    "import",
                    '`python -c "import <tool>"`',
                    med["import mlstage"],
                    med["import mlflow"],
                    '5. python -c "import <tool>"',
                )
            )
        if "mlstage --help" in med:
            a = med["mlstage --help"]
            b = med.get("mlflow --help")
            v = verdict(a < GOALS["help"]["abs"], None)
            ratio = f"1/{b / a:,.0f}" if b else "-"
            add(
                f"| `<tool> --help` | {fmt_time(a)} | {fmt_time(b) if b else '-'} | {ratio} | "
                f"< {fmt_time(GOALS['help']['abs'])} | {v} |"
            )
            summary.append(
                {
                    "figure": "5. <tool> --help",
                    "mlstage": fmt_time(a),
                    "mlflow": fmt_time(b) if b else "-",
                    "ratio": ratio,
                    "goal": "< 500.0 ms",
                    "result": v,
                }
            )
        else:
            why = r["errors"].get("mlstage --help", "not run")
            add(f"| `mlstage --help` | pending: {why} | - | - | < 500 ms | pending |")
            summary.append(
                {
                    "figure": "5. mlstage --help",
                    "mlstage": "pending",
                    "mlflow": "-",
                    "ratio": "-",
                    "goal": "< 500.0 ms",
                    "result": f"pending ({why})",
                }
            )
        if "python -c pass (mlstage venv)" in med:
            add(
                f"| `python -c pass` (interpreter alone, for scale) | "
                f"{fmt_time(med['python -c pass (mlstage venv)'])} | | | | |"
            )
        add("")

    add("Raw samples of the last run: `bench/results/tracking.json`.")
    table = [
        "| figure | mlstage | MLflow | ratio mlstage/MLflow | goal | result |",
        "|---|---|---|---|---|---|",
    ]
    table += [
        f"| {r['figure']} | {r['mlstage']} | {r['mlflow']} | {r['ratio']} | {r['goal']} | "
        f"{r['result']} |"
        for r in summary
    ]
    lines[summary_at:summary_at] = [*table, ""]
    return "\n".join(lines), summary


def write_markdown(section: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the section between ``begin`` and ``end`` of BENCHMARKS.md, or append it.

    Every benchmark script writes its own section through this; the others stay.
    """
    block = f"{begin}\n{section}\n{end}"
    if BENCHMARKS_MD.exists():
        text = BENCHMARKS_MD.read_text(encoding="utf-8")
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            _, tail = rest.split(end, 1)
            text = head + block + tail
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        text = (
            "# Benchmarks\n\n"
            "mlstage side by side with its peers, both measured on the same machine in the same "
            "run. Each section is written by its script in `bench/`; run the script again to "
            "refresh it.\n\n" + block + "\n"
        )
    BENCHMARKS_MD.write_text(text, encoding="utf-8")


def stamp_end(results: dict[str, Any], started: float) -> None:
    """What every benchmark records at its end: elapsed time, load, network, quiet waits."""
    results["elapsed"] = time.perf_counter() - started
    load = os.getloadavg()
    results["load_end"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    results["network_attempts"] = NETWORK_ATTEMPTS
    results["busy_seen"] = BUSY_SEEN
    results["waited"] = QUIET["waited"]


def save_results(
    results: dict[str, Any],
    section: str,
    name: str,
    *,
    no_write: bool,
    begin: str = BEGIN,
    end: str = END,
) -> None:
    """Raw samples to ``results/NAME.json`` and the section to BENCHMARKS.md; a partial or
    trial run (``--no-write``) leaves both alone and writes ``.work/NAME-last.json`` instead."""
    raw = WORK / f"{name}-last.json" if no_write else RESULTS / f"{name}.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"raw samples: {raw.relative_to(REPO)}")
    if not no_write:
        write_markdown(section, begin, end)
        log(f"wrote {BENCHMARKS_MD.relative_to(REPO)} ({name} section)")


def print_summary(
    rows: list[dict[str, Any]], columns: list[tuple[str, str]], elapsed: float
) -> int:
    """The summary table on stdout; exit status 1 if any process tried to leave the machine."""
    print()
    print("| " + " | ".join(title for title, _ in columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[key]) for _, key in columns) + " |")
    if NETWORK_ATTEMPTS:
        print("\nNETWORK ATTEMPTS:", *NETWORK_ATTEMPTS, sep="\n  ")
        return 1
    print(f"\n{elapsed:.0f} s in all")
    return 0


# -- main ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2,3,4,5", help="figures to run, e.g. 1,3")
    parser.add_argument("--repeats", type=int, default=5, help="processes per tool, figures 1-2")
    parser.add_argument("--metric-calls", type=int, default=10_000)
    parser.add_argument(
        "--mlflow-metric-calls",
        type=int,
        default=2_000,
        help="MLflow's cap for figure 1 (the rate is extrapolated)",
    )
    parser.add_argument("--runs", type=int, default=1_000)
    parser.add_argument("--mlflow-runs", type=int, default=200, help="MLflow's cap for figure 2")
    parser.add_argument("--search-runs", type=int, default=10_000)
    parser.add_argument("--search-repeat", type=int, default=5, help="timed calls per process")
    parser.add_argument("--search-processes", type=int, default=1)
    parser.add_argument("--startup-rounds", type=int, default=7)
    parser.add_argument("--mlstage-python", default=None)
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args()
    only = {int(x) for x in args.only.split(",") if x.strip()}

    started = time.perf_counter()
    mlflow_py = ensure_venv(VENVS / "mlflow", [MLFLOW_REQUIREMENT], "import mlflow")
    mlstage_py = mlstage_python(args.mlstage_python)
    tools = [Tool("mlstage", mlstage_py), Tool("mlflow", mlflow_py)]
    by_name = {t.name: t for t in tools}

    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run_tracking.py"
        + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "machine": machine(),
        "commit": git_commit(),
        "mlstage_python": os.path.relpath(mlstage_py, REPO),
        "mlflow_python": os.path.relpath(mlflow_py, REPO),
    }
    info_dir = fresh_folder("info")
    try:
        results["info"] = {t.name: t.run("info", info_dir) for t in tools}
    finally:
        shutil.rmtree(info_dir, ignore_errors=True)
    log(
        f"mlstage {results['info']['mlstage']['mlstage']} ({mlstage_py}); "
        f"MLflow {results['info']['mlflow']['mlflow']} ({mlflow_py})"
    )

    if 1 in only:
        log("figure 1: log_metric in a loop")
        results["log_metric"] = figure_log_metric(
            tools, args.repeats, {"mlstage": args.metric_calls, "mlflow": args.mlflow_metric_calls}
        )
    if 2 in only:
        log("figure 2: runs with 5 params and 5 metrics")
        results["runs"] = figure_runs(
            tools, args.repeats, {"mlstage": args.runs, "mlflow": args.mlflow_runs}
        )
    if only & {3, 4}:
        log(f"populating {args.search_runs:,} runs per tool (not timed)")
        dbs = populate(tools, args.search_runs, 10_000)
        try:
            if 3 in only:
                log("figure 3: search_runs")
                results["search"] = figure_search(
                    tools, dbs, args.search_repeat, args.search_processes
                )
            if 4 in only:
                log("figure 4: get_metric_history")
                results["history"] = figure_history(
                    tools, dbs, args.search_repeat, args.search_processes
                )
        finally:
            for folder, _ in dbs.values():
                shutil.rmtree(folder, ignore_errors=True)
    if 5 in only:
        log("figure 5: start-up")
        results["startup"] = figure_startup(by_name, args.startup_rounds)

    stamp_end(results, started)
    section, summary = render(results, args)
    results["summary"] = summary
    save_results(results, section, "tracking", no_write=args.no_write)
    return print_summary(summary, COLUMNS, results["elapsed"])


if __name__ == "__main__":
    sys.exit(main())
