#!/usr/bin/env python3
"""Pipelines benchmark: mlstage side by side with ZenML 0.98 and Metaflow 2.19, in one run.

    python bench/run_pipelines.py              # everything, ~5-10 minutes; updates BENCHMARKS.md
    python bench/run_pipelines.py --only 3 --no-write

Standard library only. It reuses the tracking benchmark's harness
(``bench/run_tracking.py``: venvs, quiet-machine wait, machine report, the
BENCHMARKS.md writer). Peers are installed on first use into their own venvs:
``bench/.venvs/zenml`` (``zenml[local]==0.98.0``, ``ZENML_ANALYTICS_OPT_IN=false``)
and ``bench/.venvs/metaflow`` (``metaflow==2.19.39``, local metadata and
datastore). mlstage runs its working tree (an editable install): figures 1-2
from ``bench/.venvs/mlstage`` when it is there (runtime dependencies only, as
a user's environment; made by ``bench/run_registry.py``), else from the dev
venv ``.venv``, whose ~150 packages make pydantic's plugin look-up at start-up
slower; figure 3 from the dev venv (Dask is there). Every Python process runs
with a network guard that allows the loopback interface only
(``bench/pipelines/netguard/sitecustomize.py``); a peer that fails to install
or run is recorded with its error, and the benchmark goes on.

Figures (goals from the pipelines issue; the peers as measured before on
this machine kind in brackets):
  1. Overhead per step of trivial steps (``x + 1``), every step recorded and
     its output stored, cache off: the slope between a 20-step and a 2-step
     linear pipeline, each run in a fresh process (median of --repeats);
     also in-process (the same pipeline run again in one process). Goal
     mlstage < 10 ms [ZenML 60 ms plus 3.9 s a run, Metaflow 200 ms].
  2. The 20-step pipeline in a fresh process, start-up included (process
     spawn to exit): goal mlstage < 1 s [ZenML 4.9 s, Metaflow 4.7 s].
  3. An embarrassingly parallel pipeline of 8 steps of 0.5 s of CPU each, on
     mlstage's local, processes and dask executors (executor start-up
     included), and on a Dask cluster already running (``tcp://``): speed-up
     over local. The machine has ``nproc`` cores.

Each tool's store is created by one untimed run in the measurement folder
(mlstage's SQLite migrations, ZenML's store), as in a project used before.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import run_tracking as rt  # the tracking harness, next to this file

BENCH = rt.BENCH
REPO = rt.REPO
WORKERS = BENCH / "pipelines"
NETGUARD = WORKERS / "netguard"
BEGIN, END = "<!-- pipelines:begin -->", "<!-- pipelines:end -->"
ZENML_REQUIREMENT = "zenml[local]==0.98.0"
METAFLOW_REQUIREMENT = "metaflow==2.19.39"
GOALS = {"per_step": 0.010, "fresh_run": 1.0}
BRACKETS = {"zenml": "60 ms a step + 3.9 s a run; 4.9 s", "metaflow": "200 ms a step; 4.7 s"}
LABEL = {"mlstage": "mlstage", "zenml": "ZenML 0.98", "metaflow": "Metaflow 2.19"}

log = rt.log
median = rt.median


class Tool:
    def __init__(self, name: str, python: Path, net_log: Path) -> None:
        self.name, self.python, self.net_log = name, python, net_log

    def env(self, folder: Path, steps: int) -> dict[str, str]:
        env = rt.base_env()
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(NETGUARD)
        env["BENCH_NET_LOG"] = str(self.net_log)
        env["BENCH_STEPS"] = str(steps)
        # As in an ordinary environment: bytecode is written on first use (this workspace
        # sets PYTHONDONTWRITEBYTECODE; left set, every process compiles its imports again).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if self.name == "mlstage":
            env["MLSTAGE_TRACKING_URI"] = f"sqlite:///{folder / 'mlstage.db'}"
            env["MLSTAGE_ARTIFACT_ROOT"] = str(folder / "artifacts")
        elif self.name == "zenml":
            env["ZENML_ANALYTICS_OPT_IN"] = "false"
            env["ZENML_CONFIG_PATH"] = str(folder / "zenml-config")
            env["ZENML_LOGGING_VERBOSITY"] = "WARN"
            env["AUTO_OPEN_DASHBOARD"] = "false"
        elif self.name == "metaflow":
            env["METAFLOW_DEFAULT_METADATA"] = "local"
            env["METAFLOW_DEFAULT_DATASTORE"] = "local"
            env["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(folder)
            env["METAFLOW_USER"] = "bench"
            env["USERNAME"] = "bench"
        return env

    def command(self, scenario: str, folder: Path, steps: int, extra: list[str]) -> list[str]:
        if self.name == "metaflow":
            flow = folder / f"chain{steps}.py"
            if not flow.exists():
                flow.write_text(metaflow_flow(steps), encoding="utf-8")
            return [str(self.python), str(flow), "--quiet", "run", "--n", "0"]
        worker = WORKERS / f"{self.name}_worker.py"
        return [str(self.python), str(worker), scenario, "--dir", str(folder), *extra]

    def run(
        self, scenario: str, folder: Path, steps: int, *extra: str, timed: bool = True
    ) -> dict[str, Any]:
        if timed:
            rt.wait_for_quiet()
        cmd = self.command(scenario, folder, steps, list(extra))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t_spawn = time.monotonic()
        done = subprocess.run(
            cmd,
            cwd=folder,
            env=self.env(folder, steps),
            capture_output=True,
            text=True,
            timeout=900,
        )
        t_exit = time.monotonic()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-12:])
            raise RuntimeError(f"{self.name} {scenario} failed (exit {done.returncode}):\n{tail}")
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
        result: dict[str, Any] = (
            json.loads(lines[-1].removeprefix("BENCH_RESULT ")) if lines else {}
        )
        result["wall_s"] = t_exit - t_spawn
        # CPU time of the process and the children it waited for (Metaflow's step processes):
        # on a shared machine, wall time also holds the time spent waiting for a CPU.
        result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return result


def metaflow_flow(steps: int) -> str:
    template = (WORKERS / "metaflow_flow.py.tmpl").read_text(encoding="utf-8")
    middle = []
    for i in range(1, steps - 1):
        following = f"s{i + 1}" if i + 1 < steps - 1 else "end"
        middle.append(
            f"\n    @step\n    def s{i}(self):\n        self.x = self.x + 1\n"
            f"        self.next(self.{following})\n"
        )
    return template.format(
        steps=steps, first_next="s1" if steps > 2 else "end", middle="".join(middle)
    )


def runtime_python(explicit: str | None) -> Path:
    """The mlstage interpreter for figures 1-2 (see the module docstring)."""
    if explicit:
        return Path(explicit)
    python = rt.venv_python(rt.VENVS / "mlstage")
    probe = (
        "import mlstage.pipelines, sys; "
        "sys.exit(0 if mlstage.pipelines.__file__.startswith(sys.argv[1]) else 1)"
    )
    if python.exists():
        done = subprocess.run([str(python), "-c", probe, str(REPO / "src")], capture_output=True)
        if done.returncode == 0:
            return python
    return rt.mlstage_python(None)


def tool_versions(tool: Tool) -> str:
    package = {"mlstage": "mlstage", "zenml": "zenml", "metaflow": "metaflow"}[tool.name]
    probe = f"import importlib.metadata as m; print(m.version({package!r}))"
    done = subprocess.run([str(tool.python), "-c", probe], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def install_peer(name: str, requirement: str, probe: str) -> Path | str:
    """The peer's python, or the error that kept it from installing."""
    try:
        return rt.ensure_venv(rt.VENVS / name, [requirement], probe)
    except SystemExit as exc:
        return f"pip install {requirement!r} failed: {exc}"


# -- figures -------------------------------------------------------------------------


def figure_chain(tools: list[Tool], args: argparse.Namespace, errors: dict[str, str]) -> dict:
    """Fresh-process runs of the 20-step and the 2-step pipeline (figures 1 and 2)."""
    samples: dict[str, dict[int, list[dict]]] = {t.name: {} for t in tools}
    for tool in tools:
        if tool.name in errors:
            continue
        for steps in (args.steps, 2):
            folder = rt.fresh_folder(f"pipelines-{tool.name}-{steps}")
            try:
                tool.run("setup" if tool.name == "zenml" else "chain", folder, steps, timed=False)
                runs = []
                repeats = args.repeats if tool.name == "mlstage" else args.peer_repeats
                for i in range(repeats):
                    r = tool.run("chain", folder, steps)
                    runs.append(r)
                    log(
                        f"  {LABEL[tool.name]:14s} {steps:>2} steps #{i + 1}: fresh process "
                        f"{r['wall_s']:.3f} s (CPU {r['cpu_s']:.3f} s)"
                    )
                if tool.name != "metaflow" and args.in_process:
                    # One more process runs the pipeline again and again: the in-process figures.
                    r = tool.run("chain", folder, steps, "--repeat", str(args.in_process))
                    runs[-1] = {**runs[-1], **{k: r[k] for k in ("again_s", "again_cpu_s")}}
                    log(
                        f"  {LABEL[tool.name]:14s} {steps:>2} steps, again in-process: "
                        + ", ".join(f"{t * 1000:.0f} ms" for t in r["again_s"])
                    )
                samples[tool.name][steps] = runs
            except Exception as exc:  # a peer that fails to run is recorded, not fatal
                errors[tool.name] = str(exc)
                log(f"  {tool.name} failed: {str(exc).splitlines()[0]}")
                break
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    return {"samples": samples, "summary": summarize(samples, args)}


def summarize(samples: dict[str, Any], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Medians (and bests) per tool from the raw samples of figures 1-2."""
    samples = {name: {int(k): v for k, v in by_steps.items()} for name, by_steps in samples.items()}
    summary: dict[str, dict[str, float]] = {}
    for name, by_steps in samples.items():
        if args.steps not in by_steps or 2 not in by_steps:
            continue
        big = median([r["wall_s"] for r in by_steps[args.steps]])
        small = median([r["wall_s"] for r in by_steps[2]])
        best_big = min(r["wall_s"] for r in by_steps[args.steps])
        best_small = min(r["wall_s"] for r in by_steps[2])
        big_cpu = median([r["cpu_s"] for r in by_steps[args.steps]])
        small_cpu = median([r["cpu_s"] for r in by_steps[2]])
        entry = {
            "fresh_run_s": big,
            "fresh_run_2_s": small,
            "per_step_s": (big - small) / (args.steps - 2),
            "fresh_run_cpu_s": big_cpu,
            "fresh_run_best_s": best_big,
            "per_step_best_s": (best_big - best_small) / (args.steps - 2),
            "per_step_cpu_s": (big_cpu - small_cpu) / (args.steps - 2),
        }
        again_big = [t for r in by_steps[args.steps] for t in r.get("again_s", [])]
        again_small = [t for r in by_steps[2] for t in r.get("again_s", [])]
        if again_big and again_small:
            entry["inproc_run_s"] = median(again_big)
            entry["inproc_per_step_s"] = (median(again_big) - median(again_small)) / (
                args.steps - 2
            )
            entry["inproc_fixed_s"] = median(again_small) - 2 * entry["inproc_per_step_s"]
            cpu_big = [t for r in by_steps[args.steps] for t in r.get("again_cpu_s", [])]
            cpu_small = [t for r in by_steps[2] for t in r.get("again_cpu_s", [])]
            if cpu_big and cpu_small:
                entry["inproc_per_step_cpu_s"] = (median(cpu_big) - median(cpu_small)) / (
                    args.steps - 2
                )
        firsts = [r["first_run_s"] for r in by_steps[args.steps] if "first_run_s" in r]
        if firsts:
            entry["import_s"] = median([r["import_s"] for r in by_steps[args.steps]])
            entry["first_run_s"] = median(firsts)
        summary[name] = entry
    return summary


def start_dask_cluster(tool: Tool, folder: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A scheduler and two worker processes (one thread each) on 127.0.0.1, already running."""
    dask_cli = str(tool.python.parent / "dask")
    address_file = folder / "scheduler.json"
    env = tool.env(folder, 2)
    common = {"cwd": folder, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [
            dask_cli,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(address_file),
        ],
        **common,  # type: ignore[arg-type]
    )
    deadline = time.monotonic() + 120
    while not address_file.exists():
        if time.monotonic() > deadline or scheduler.poll() is not None:
            scheduler.kill()
            raise RuntimeError("the Dask scheduler did not start")
        time.sleep(0.2)
    time.sleep(0.2)  # the file is written in one go, but give it a moment
    workers = subprocess.Popen(
        [
            dask_cli,
            "worker",
            "--scheduler-file",
            str(address_file),
            "--nworkers",
            "2",
            "--nthreads",
            "1",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
        ],
        **common,  # type: ignore[arg-type]
    )
    address = json.loads(address_file.read_text(encoding="utf-8"))["address"]
    return address, [workers, scheduler]


def figure_parallel(tool: Tool, args: argparse.Namespace) -> dict:
    samples: dict[str, list[float]] = {}
    for executor in ("local", "processes", "dask", "dask-running"):
        folder = rt.fresh_folder(f"pipelines-parallel-{executor}")
        children: list[subprocess.Popen[bytes]] = []
        try:
            tool.run("chain", folder, 2, timed=False)  # the store, created untimed
            target = executor
            if executor == "dask-running":
                target, children = start_dask_cluster(tool, folder)
                # Warm-up: the workers import mlstage and the steps' module once.
                tool.run("parallel", folder, 2, "--executor", target, "--seconds", "0", timed=False)
            for i in range(args.parallel_repeats):
                r = tool.run(
                    "parallel",
                    folder,
                    2,
                    "--executor",
                    target,
                    "--seconds",
                    str(args.work_seconds),
                )
                samples.setdefault(executor, []).append(r["run_s"])
                log(f"  parallel {executor:12s} #{i + 1}: {r['run_s']:.2f} s")
        finally:
            for child in children:
                child.terminate()
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
            shutil.rmtree(folder, ignore_errors=True)
    medians = {k: median(v) for k, v in samples.items()}
    return {
        "samples": samples,
        "median": medians,
        "speedup": {k: medians["local"] / v for k, v in medians.items()},
    }


# -- report ---------------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.1f} ms"


def secs(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:,.2f} s"


def render(results: dict, args: argparse.Namespace) -> str:
    meta = results["meta"]
    chain = results.get("chain", {}).get("summary", {})
    errors = results.get("errors", {})
    lines = [
        "## Pipelines",
        "",
        f"`python bench/run_pipelines.py` on {meta['date']} (commit {meta['commit']}). "
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
        f"{meta['machine']['ram']}, {meta['machine']['os']}; load average at the start "
        f"{meta['machine']['load']}. Versions: "
        + ", ".join(f"{LABEL[k]} {v}" for k, v in meta["versions"].items())
        + f" (mlstage from `{meta['mlstage_python']}`, figure 3 from `.venv`). Medians of "
        f"{args.repeats} fresh processes for mlstage and {args.peer_repeats} for each peer; "
        "trivial steps (`x + 1`), every step recorded and its output stored, cache off; "
        "the tools' stores created by one untimed run first.",
        "",
    ]
    chain_date = results.get("chain", {}).get("date")
    if chain and chain_date and chain_date != meta["date"]:
        lines += [f"Figures 1-2 were measured on {chain_date}.", ""]
    if chain:
        lines += [
            "| figure | mlstage | ZenML 0.98 | Metaflow 2.19 | goal |",
            "|---|---|---|---|---|",
        ]

        def cell(tool: str, key: str, fmt: Any) -> str:
            if tool in errors and tool not in chain:
                return "failed (below)"
            return fmt(chain.get(tool, {}).get(key))

        # Overhead per step: the slope between the 20-step and the 2-step pipeline run again in
        # one process (mlstage, ZenML); Metaflow runs each step in a process of its own, so its
        # slope is between fresh processes. Slopes between fresh processes of the in-process
        # tools are within the noise of a shared machine (start-up dominates), so not shown.
        for entry in chain.values():
            if "inproc_per_step_s" in entry:
                entry["step_s"] = entry["inproc_per_step_s"]
                entry["step_cpu_s"] = entry.get("inproc_per_step_cpu_s")
            else:
                entry["step_s"] = entry["per_step_s"]
                entry["step_cpu_s"] = entry["per_step_cpu_s"]
        mine = chain.get("mlstage", {})
        per_step_ok = mine.get("step_s", 1) < GOALS["per_step"]
        fresh_ok = mine.get("fresh_run_s", 9) < GOALS["fresh_run"]
        best_ok = mine.get("fresh_run_best_s", 9) < GOALS["fresh_run"]
        fresh_goal = "< 1 s: " + (
            "met"
            if fresh_ok
            else f"missed on this busy machine (best {secs(mine.get('fresh_run_best_s'))}"
            + (", under 1 s" if best_ok else "")
            + ")"
        )
        rows = [
            (
                f"1. overhead per step ({args.steps}- vs 2-step pipeline; Metaflow: fresh "
                "processes, the others: run again in one process)",
                "step_s",
                ms,
                f"< 10 ms: {'met' if per_step_ok else 'missed'}",
            ),
            ("1b. CPU time per step (same method)", "step_cpu_s", ms, ""),
            ("1c. fixed cost per run, in one process", "inproc_fixed_s", ms, ""),
            (
                f"2. {args.steps}-step run in a fresh process, start-up included (spawn to exit)",
                "fresh_run_s",
                secs,
                fresh_goal,
            ),
            (
                f"2b. the same, best of the {args.repeats} / {args.peer_repeats} processes",
                "fresh_run_best_s",
                secs,
                "",
            ),
            ("2c. CPU time of that process (and its children)", "fresh_run_cpu_s", secs, ""),
            ("2d. 2-step run in a fresh process", "fresh_run_2_s", secs, ""),
            (f"2e. {args.steps}-step run again in the same process", "inproc_run_s", secs, ""),
        ]
        for label, key, fmt, goal in rows:
            lines.append(
                f"| {label} | {cell('mlstage', key, fmt)} | {cell('zenml', key, fmt)} | "
                f"{cell('metaflow', key, fmt)} | {goal} |"
            )
        ratio_rows = []
        for peer in ("zenml", "metaflow"):
            if peer in chain and "mlstage" in chain:
                a, b = chain["mlstage"], chain[peer]
                ratio_rows.append(
                    f"{LABEL[peer]}: {b['fresh_run_s'] / a['fresh_run_s']:.1f}x slower on the "
                    f"fresh-process run, {b['step_s'] / max(a['step_s'], 1e-6):.0f}x the "
                    "overhead per step"
                )
        if ratio_rows:
            lines += ["", "Ratios (peer / mlstage): " + "; ".join(ratio_rows) + "."]
        if "mlstage" in chain and "first_run_s" in chain["mlstage"]:
            m = chain["mlstage"]
            lines += [
                "",
                f"mlstage's fresh process, split: interpreter start and imports to the "
                f"pipeline defined {secs(m['import_s'])}, the first run "
                f"{secs(m['first_run_s'])} (the rest is interpreter start-up and exit).",
            ]
        lines += [
            "",
            "Earlier measurements of the peers on this machine kind: ZenML "
            f"{BRACKETS['zenml']}; Metaflow {BRACKETS['metaflow']}.",
        ]
    parallel = results.get("parallel")
    if parallel:
        med, speed = parallel["median"], parallel["speedup"]
        lines += [
            "",
            f"3. ({parallel.get('date', meta['date'])}) An embarrassingly parallel pipeline of "
            f"8 steps of {args.work_seconds:g} s of "
            f"CPU each on {meta['machine']['cores']} cores, the executor's start-up included "
            "(pool, cluster), in a fresh process each, medians "
            f"of {args.parallel_repeats}:",
            "",
            "| executor | run | speed-up over local |",
            "|---|---|---|",
        ]
        notes = {
            "local": "`local`: in-process, one step at a time",
            "processes": "`processes`: a pool of local processes, started by the run",
            "dask": "`dask`: a local Dask cluster, started by the run",
            "dask-running": "`tcp://...`: a Dask cluster already running (a scheduler and "
            "2 worker processes on 127.0.0.1, warmed up by one run)",
        }
        for executor in ("local", "processes", "dask", "dask-running"):
            if executor in med:
                lines.append(
                    f"| {notes[executor]} | {secs(med[executor])} | {speed[executor]:.2f}x |"
                )
        if rt.BUSY_SEEN and median(rt.BUSY_SEEN) > 0.5:
            lines += [
                "",
                "Other work kept both cores busy during this run, so the parallel executors "
                "could rarely get a second core and pay their start-up for little: these "
                "speed-ups say little about an idle machine. Run the script again on a quiet "
                "one (`--only 3`).",
            ]
    if errors:
        lines += ["", "Peers that could not be measured:"]
        for name, error in errors.items():
            first = " ".join(error.strip().splitlines()[-3:])[:600]
            lines.append(f"- {LABEL.get(name, name)}: {first}")
    if results.get("network"):
        lines += ["", "Network attempts refused: " + "; ".join(results["network"][:5])]
    else:
        lines += ["", "No process of any tool tried to reach the network (loopback only)."]
    busy = rt.BUSY_SEEN
    if busy:
        lines += [
            "",
            f"Other processes used a median {median(busy):.0%} of the CPUs just before each "
            "measurement (the machine is shared); figures are noisier when that is high.",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2,3", help="figures to run, e.g. 3 or 1,2")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peer-repeats", type=int, default=3)
    parser.add_argument("--in-process", type=int, default=3, help="runs again in one process")
    parser.add_argument("--parallel-repeats", type=int, default=3)
    parser.add_argument("--work-seconds", type=float, default=0.5)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--mlstage-python", default=None)
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the section from bench/results/pipelines.json; nothing is measured",
    )
    args = parser.parse_args()
    only = {int(x) for x in args.only.split(",") if x.strip()}
    if args.render_only:
        saved = json.loads((rt.RESULTS / "pipelines.json").read_text(encoding="utf-8"))
        for key, value in saved.get("args", {}).items():
            setattr(args, key, value)
        if "chain" in saved:
            saved["chain"]["summary"] = summarize(saved["chain"]["samples"], args)
        rt.BUSY_SEEN.extend(saved.get("busy", []))
        section = render(saved, args)
        print(section)
        if not args.no_write:
            rt.write_markdown(section, BEGIN, END)
        return 0
    rt.WORK.mkdir(parents=True, exist_ok=True)
    net_log = rt.WORK / "pipelines-network.log"
    net_log.unlink(missing_ok=True)
    tools = [Tool("mlstage", runtime_python(args.mlstage_python), net_log)]
    dev = Tool("mlstage", rt.mlstage_python(None), net_log)
    errors: dict[str, str] = {}
    if not args.no_peers and only & {1, 2}:
        for name, requirement, probe in (
            ("zenml", ZENML_REQUIREMENT, "import zenml"),
            ("metaflow", METAFLOW_REQUIREMENT, "import metaflow"),
        ):
            python = install_peer(name, requirement, probe)
            if isinstance(python, str):
                errors[name] = python
                log(f"{name}: {python}")
            else:
                tools.append(Tool(name, python, net_log))
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": rt.git_commit(),
            "machine": rt.machine(),
            "versions": {t.name: tool_versions(t) for t in tools},
            "mlstage_python": str(tools[0].python.relative_to(REPO))
            if tools[0].python.is_relative_to(REPO)
            else str(tools[0].python),
        },
        "errors": errors,
    }
    if only & {1, 2}:
        log(f"figures 1-2: {args.steps}-step and 2-step pipelines in fresh processes")
        results["chain"] = figure_chain(tools, args, errors)
    if 3 in only:
        log("figure 3: 8 parallel steps on the local, processes and Dask executors")
        results["parallel"] = figure_parallel(dev, args)
    results["network"] = (
        net_log.read_text(encoding="utf-8").splitlines() if net_log.exists() else []
    )
    saved_path = rt.RESULTS / "pipelines.json"
    if saved_path.exists() and not (only >= {1, 2, 3}):
        # A partial run keeps the other figures of the last full one (each says its date).
        previous = json.loads(saved_path.read_text(encoding="utf-8"))
        for key in ("chain", "parallel"):
            if key not in results and key in previous:
                results[key] = previous[key]
                results[key].setdefault("date", previous["meta"]["date"])
    for key in ("chain", "parallel"):
        if key in results:
            results[key].setdefault("date", results["meta"]["date"])
    results["busy"] = rt.BUSY_SEEN
    results["args"] = {
        k: getattr(args, k)
        for k in ("steps", "repeats", "peer_repeats", "in_process", "parallel_repeats")
    } | {"work_seconds": args.work_seconds}
    rt.RESULTS.mkdir(parents=True, exist_ok=True)
    (rt.RESULTS / "pipelines.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    section = render(results, args)
    print(section)
    if not args.no_write:
        rt.write_markdown(section, BEGIN, END)
        log(f"wrote the pipelines section of {rt.BENCHMARKS_MD.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
