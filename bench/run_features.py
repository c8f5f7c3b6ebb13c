#!/usr/bin/env python3
"""Feature store benchmark: mlstage side by side with Feast 0.67, in one run.

    python bench/run_features.py              # everything, ~6 minutes; updates BENCHMARKS.md
    python bench/run_features.py --only 1 --no-write

Standard library only. It reuses the tracking benchmark's harness
(``bench/run_tracking.py``: venvs, quiet-machine wait, machine report,
``write_markdown``). Feast is installed on first use into
``bench/.venvs/feast`` (``pip install "feast[duckdb]==0.67.0"``); mlstage runs
from the dev venv ``.venv``. Workers: ``bench/features/*_worker.py``, each
measurement a fresh process in a fresh temp folder; every Python process
runs with the loopback-only network guard (``bench/serving/netguard``) and
Feast with ``FEAST_USAGE=False``.

Data (``bench/features/_bench.py``, written once per run): 1,000,000 feature
rows of 10,000 customers over 30 days, ten float features, and 100,000
entity rows; TTL 2 days. Figures (goals from issue 6; Feast as measured
earlier on this machine kind in brackets):

  1. point-in-time join, 100k entity rows x 1M feature rows x 10 features:
     seconds and peak memory; goal mlstage >= 5x faster than Feast's DuckDB
     offline store [1.35 s] with a lower peak.
  2. online lookups in-process from SQLite: 1 entity x 10 features, p99 no
     slower than Feast [0.25 ms]; 100 entities, p99 under 1 ms [Feast 7.8 ms].
  3. online lookup over HTTP, 1 entity, one keep-alive client: mlstage's
     prediction service (``POST /features/online``) vs ``feast serve``
     (``--max-requests`` raised); p99 under 1 ms [Feast 1.25 ms].
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import run_tracking as rt  # the tracking harness, next to this file

BENCH = rt.BENCH
REPO = rt.REPO
WORKERS = BENCH / "features"
LOOPBACK_GUARD = BENCH / "serving" / "netguard"
"""The serving benchmark's guard: its servers bind on loopback, as the feature server does."""
RESULTS = rt.RESULTS
BEGIN, END = "<!-- features:begin -->", "<!-- features:end -->"
FEAST_REQUIREMENT = "feast[duckdb]==0.67.0"
GOALS = {
    "pit": {"speedup": 5.0, "bracket": 1.35},
    "one_p99": {"bracket": 0.00025},
    "hundred_p99": {"limit": 0.001, "bracket": 0.0078},
    "http_p99": {"limit": 0.001, "bracket": 0.00125},
}
LABEL = {"mlstage": "mlstage", "feast": "Feast"}
HTTPTOOLS = "mlstage-httptools"
"""mlstage's service again, from a venv with httptools and uvloop (what uvicorn[standard] adds)."""

log = rt.log
median = rt.median
NICE = {"value": 0}


def _renice() -> None:
    """In a measuring child: run at the chosen niceness (``--nice``), the same for both tools."""
    if NICE["value"]:
        os.setpriority(os.PRIO_PROCESS, 0, NICE["value"])


class Worker:
    """One tool's interpreter and worker script, run in fresh processes."""

    def __init__(self, name: str, python: Path, net_log: Path) -> None:
        self.name = name
        self.python = python
        self.script = WORKERS / f"{name}_worker.py"
        self.net_log = net_log

    def env(self, folder: Path) -> dict[str, str]:
        env = rt.base_env()
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(LOOPBACK_GUARD)
        env["BENCH_NET_LOG"] = str(self.net_log)
        env["FEAST_USAGE"] = "False"
        if self.name == "mlstage":
            env["MLSTAGE_TRACKING_URI"] = f"sqlite:///{folder / 'mlstage.db'}"
            env["MLSTAGE_ARTIFACT_ROOT"] = str(folder / "artifacts")
            env["MLSTAGE_ONLINE_STORE"] = f"sqlite:///{folder / 'online.db'}"
        return env

    def run(self, scenario: str, folder: Path, *args: str, quiet: bool = True) -> dict[str, Any]:
        if quiet:
            rt.wait_for_quiet()
        cmd = [str(self.python), str(self.script), scenario, "--dir", str(folder), *args]
        done = subprocess.run(
            cmd,
            cwd=folder,
            env=self.env(folder),
            capture_output=True,
            text=True,
            timeout=1800,
            preexec_fn=_renice,
        )
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
        if done.returncode != 0 or not lines:
            tail = "\n".join(done.stderr.strip().splitlines()[-20:])
            raise RuntimeError(f"{self.name} {scenario} failed (exit {done.returncode}):\n{tail}")
        return dict(json.loads(lines[-1].removeprefix("BENCH_RESULT ")))


def mb(value: float) -> str:
    return f"{value / 2**20:,.0f} MB"


def ms(value: float) -> str:
    return f"{value * 1000:.3f} ms" if value < 0.01 else f"{value * 1000:.1f} ms"


def ratio(a: float, b: float) -> str:
    """mlstage over Feast: ``1/N`` when mlstage is lower, ``N (higher)`` otherwise."""
    if a <= b:
        return f"1/{b / a:,.1f}"
    return f"{a / b:,.1f} (higher)"


# -- figures -------------------------------------------------------------------------


def figure_pit(tools: dict[str, Worker], shared: Path, args: argparse.Namespace) -> dict:
    samples: dict[str, list[dict]] = {name: [] for name in tools}
    order = list(tools.values())
    for i in range(args.pit_processes):
        for tool in order if i % 2 == 0 else list(reversed(order)):
            folder = rt.fresh_folder(f"pit-{tool.name}")
            try:
                r = tool.run("pit", folder, "--shared", str(shared), "--repeat", str(args.repeat))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            samples[tool.name].append(r)
            log(
                f"  1. join {tool.name:8s} #{i + 1}: "
                + ", ".join(f"{t:.3f} s" for t in r["times"])
                + f"; peak {mb(max(r['peaks']))} (rise {mb(max(r['rises']))}); {r['checksum']}"
            )
    return {
        "samples": samples,
        "time": {k: median([t for s in v for t in s["times"]]) for k, v in samples.items()},
        "cpu": {k: median([t for s in v for t in s["cpu"]]) for k, v in samples.items()},
        "peak": {k: median([p for s in v for p in s["peaks"]]) for k, v in samples.items()},
        "rise": {k: median([p for s in v for p in s["rises"]]) for k, v in samples.items()},
        "checksum": {k: v[0]["checksum"] for k, v in samples.items()},
    }


def figure_online(tools: dict[str, Worker], shared: Path, args: argparse.Namespace) -> dict:
    samples: dict[str, list[dict]] = {name: [] for name in tools}
    order = list(tools.values())
    for i in range(args.online_processes):
        for tool in order if i % 2 == 0 else list(reversed(order)):
            folder = rt.fresh_folder(f"online-{tool.name}")
            try:
                r = tool.run("online", folder, "--shared", str(shared))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            samples[tool.name].append(r)
            log(
                f"  2. online {tool.name:8s} #{i + 1}: 1 entity p50 {ms(r['one']['p50'])} "
                f"p99 {ms(r['one']['p99'])}; 100 entities p50 {ms(r['hundred']['p50'])} "
                f"p99 {ms(r['hundred']['p99'])}; materialise {r['materialize']:.1f} s"
            )
    out: dict[str, Any] = {"samples": samples}
    for part in ("one", "hundred"):
        for q in ("p50", "p99", "cpu", "cpu_p50", "cpu_p99"):
            out[f"{part}_{q}"] = {k: median([s[part][q] for s in v]) for k, v in samples.items()}
    out["materialize"] = {k: median([s["materialize"] for s in v]) for k, v in samples.items()}
    out["sample"] = {k: v[0]["sample"] for k, v in samples.items()}
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s")


def start_service(tool: Worker, folder: Path, setup: dict, port: int) -> subprocess.Popen:
    env = tool.env(folder)
    if tool.name == "mlstage":
        cmd = [str(tool.python.parent / "mlstage"), "serve", setup["target"], "--port", str(port)]
        health = f"http://127.0.0.1:{port}/health"
    else:
        cmd = [
            str(tool.python.parent / "feast"),
            "-c",
            setup["repo"],
            "serve",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--workers",
            "1",
            "--max-requests",
            "100000000",
            "--registry_ttl_sec",
            "3600",
            "--no-access-log",
        ]
        health = f"http://127.0.0.1:{port}/health"
    log_file = open(folder / "server.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        cmd,
        cwd=folder,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_renice,
    )
    try:
        wait_until_up(health, process)
    except BaseException:
        stop(process)
        sys.stderr.write((folder / "server.log").read_text(errors="replace")[-3000:])
        raise
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def figure_http(
    tools: dict[str, Worker], shared: Path, client_python: Path, args: argparse.Namespace
) -> dict:
    """Both services, plus (``--httptools``) mlstage again from a venv with uvicorn[standard]."""
    services = dict(tools)
    if args.httptools:
        python = rt.ensure_venv(
            rt.VENVS / "mlstage-httptools",
            ["-e", str(REPO), "httptools", "uvloop"],
            "import mlstage, httptools, uvloop",
        )
        services[HTTPTOOLS] = Worker("mlstage", python, tools["mlstage"].net_log)
    folders = {name: rt.fresh_folder(f"http-{name}") for name in tools}
    folders[HTTPTOOLS] = folders["mlstage"]  # the same project: one database, one online store
    processes: dict[str, subprocess.Popen] = {}
    samples: dict[str, list[dict]] = {name: [] for name in services}
    try:
        ports = {}
        setups = {
            name: tool.run("serve-setup", folders[name], "--shared", str(shared), quiet=False)
            for name, tool in tools.items()
        }
        setups[HTTPTOOLS] = setups["mlstage"]
        for name, tool in services.items():
            ports[name] = free_port()
            processes[name] = start_service(tool, folders[name], setups[name], ports[name])
            log(
                f"  3. {name} service up on port {ports[name]} "
                f"(materialised in {setups[name]['materialize']:.1f} s)"
            )
        paths = {
            "mlstage": "/features/online",
            HTTPTOOLS: "/features/online",
            "feast": "/get-online-features",
        }
        order = list(services)
        for i in range(args.http_rounds):
            for name in order if i % 2 == 0 else list(reversed(order)):
                rt.wait_for_quiet()
                cmd = [
                    str(client_python),
                    str(WORKERS / "http_client.py"),
                    "--url",
                    f"http://127.0.0.1:{ports[name]}{paths[name]}",
                    "--kind",
                    services[name].name,
                    "--keys",
                    str(shared / "keys.json"),
                    "--n",
                    str(args.http_requests),
                    "--server-pgid",
                    str(processes[name].pid),
                ]
                done = subprocess.run(
                    cmd,
                    capture_output=True,
                    text=True,
                    timeout=600,
                    preexec_fn=_renice,
                    env=services[name].env(folders[name]),
                )
                lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
                if done.returncode != 0 or not lines:
                    raise RuntimeError(f"http client for {name} failed:\n{done.stderr[-2000:]}")
                r = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
                samples[name].append(r)
                log(
                    f"  3. http {name:8s} #{i + 1}: p50 {ms(r['p50'])}, p99 {ms(r['p99'])} "
                    f"({r['n']} requests)"
                )
    finally:
        for process in processes.values():
            stop(process)
        for folder in set(folders.values()):
            shutil.rmtree(folder, ignore_errors=True)
    return {
        "samples": samples,
        "p50": {k: median([s["p50"] for s in v]) for k, v in samples.items()},
        "p99": {k: median([s["p99"] for s in v]) for k, v in samples.items()},
        "server_cpu": {k: median([s["server_cpu"] for s in v]) for k, v in samples.items()},
        "client_cpu": {k: median([s["client_cpu"] for s in v]) for k, v in samples.items()},
        "first": {k: v[0]["first"] for k, v in samples.items()},
    }


# -- report ---------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def render(results: dict) -> tuple[str, list[dict]]:
    info, m = results["info"], results["machine"]
    lines: list[str] = []
    add = lines.append
    summary: list[dict] = []
    add("## Feature store: mlstage vs Feast")
    add("")
    add(
        f"Measured {results['date']} by `{results['command']}` "
        f"({results['elapsed']:.0f} s in all). "
        "Generated by the script; edit it, not this section."
    )
    add("")
    summary_at = len(lines)
    add("| machine | |")
    add("|---|---|")
    add(f"| CPU | {m['cpu']}, {m['cores']} cores |")
    add(f"| RAM | {m['ram']} |")
    add(f"| OS | {m['os']} |")
    add(
        f"| load average (1, 5, 15 min) at the start; at the end | {m['load']}; "
        f"{results['load_end']} |"
    )
    busy = results.get("busy_seen") or []
    if busy:
        over = sum(1 for x in busy if x > rt.QUIET["threshold"])
        add(
            f"| other processes' CPU use just before each measurement | median {median(busy):.0%}, "
            f"max {max(busy):.0%}; {over} of {len(busy)} started above "
            f"{rt.QUIET['threshold']:.0%}; {results.get('waited', 0):.0f} s spent waiting "
            "for quiet |"
        )
    add("")
    ms_, fe = info["mlstage"], info["feast"]
    add("| versions | mlstage side | Feast side |")
    add("|---|---|---|")
    add(f"| tool | mlstage {ms_['mlstage']} (commit {results['commit']}) | Feast {fe['feast']} |")
    for key, label in (
        ("python", "Python"),
        ("duckdb", "DuckDB"),
        ("pandas", "pandas"),
        ("pyarrow", "PyArrow"),
    ):
        add(f"| {label} | {ms_[key]} | {fe[key]} |")
    add("")
    nice = results["args"].get("nice", 0)
    if nice:
        add(
            f"Every measuring process (workers, both services, the HTTP client) ran at niceness "
            f"{nice}, both tools alike: this machine is shared, and at the default niceness "
            "other users' jobs preempt the measurements (p99 then measures them, not the tools)."
        )
        add("")
    for key, date in (results.get("kept") or {}).items():
        add(f"Figure `{key}` is from the run of {date} (this run measured the others).")
        add("")
    data = results["data"]
    add(
        f"Data: {data['feature_rows']:,} feature rows (10,000 customers, 30 days, ten float "
        f"features; one Parquet file of {data['feature_bytes'] / 2**20:,.0f} MB), "
        f"{data['entity_rows']:,} entity rows (some customers without any feature row), TTL "
        "2 days; the same files for both tools. Feast: DuckDB offline store, SQLite online "
        "store, `FEAST_USAGE=False`. mlstage: default settings, SQLite online store."
    )
    add("")
    pit = results.get("pit")
    if pit:
        a, b = pit["time"]["mlstage"], pit["time"]["feast"]
        pa_, pb = pit["peak"]["mlstage"], pit["peak"]["feast"]
        ra, rb = pit["rise"]["mlstage"], pit["rise"]["feast"]
        goal = GOALS["pit"]["speedup"]
        ok = a * goal <= b and pa_ < pb
        same = pit["checksum"]["mlstage"] == pit["checksum"]["feast"]
        add("### 1. Point-in-time join (offline)")
        add("")
        add(
            "`get_historical_features(entity_df, 10 features)` returning a pandas DataFrame, in a "
            f"fresh process per tool ({len(pit['samples']['mlstage'])} processes each, the order "
            f"alternating), one untimed call then {results['args']['repeat']} timed calls each; "
            "the median of all timed calls. Peak memory is the process's peak resident set "
            "(VmHWM, reset just before the call) during a call; the rise is that peak minus the "
            "resident set just before it (the join's own memory)."
        )
        add("")
        add("| | mlstage | Feast | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        add(
            f"| time | {a:.3f} s | {b:.3f} s | {ratio(a, b)} | <= 1/{goal:.0f} | "
            f"{verdict(a * goal <= b)} |"
        )
        add(
            f"| peak resident memory | {mb(pa_)} | {mb(pb)} | {ratio(pa_, pb)} | lower | "
            f"{verdict(pa_ < pb)} |"
        )
        add(f"| rise during the call | {mb(ra)} | {mb(rb)} | {ratio(ra, rb)} | - | - |")
        ca, cb = pit["cpu"]["mlstage"], pit["cpu"]["feast"]
        add(
            f"| CPU time of the call (all threads) | {ca:.3f} s | {cb:.3f} s | {ratio(ca, cb)} "
            "| - | - |"
        )
        add("")
        add(
            "Both tools return the same rows: "
            + ("checksums agree" if same else "**checksums differ**")
            + f" (mlstage {pit['checksum']['mlstage']}; Feast {pit['checksum']['feast']})."
        )
        add("")
        summary.append(
            {
                "figure": "1. point-in-time join, 100k x 1M x 10",
                "mlstage": f"{a:.3f} s, {mb(pa_)}",
                "feast": f"{b:.3f} s, {mb(pb)}",
                "ratio": ratio(a, b),
                "goal": f"<= 1/{goal:.0f}, lower peak",
                "result": verdict(ok),
            }
        )
    online = results.get("online")
    if online:
        add("### 2. Online lookups in-process (SQLite)")
        add("")
        add(
            "`get_online_features` of 10 features after materialising all 10,000 customers, in a "
            f"fresh process per tool ({len(online['samples']['mlstage'])} each): 5,000 calls of "
            "one "
            "random customer, then 500 calls of 100 random customers, each call timed alone "
            "(the first 100 of each untimed). Medians over the processes of each percentile. "
            "mlstage returns a dict of lists; Feast's call includes `.to_dict()`."
        )
        add("")
        add("| | mlstage | Feast | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        for part, label in (("one", "1 entity"), ("hundred", "100 entities")):
            for q in ("p50", "p99"):
                a, b = online[f"{part}_{q}"]["mlstage"], online[f"{part}_{q}"]["feast"]
                goal_text, result = "-", "-"
                if part == "one" and q == "p99":
                    goal_text, result = "<= Feast", verdict(a <= b)
                if part == "hundred" and q == "p99":
                    goal_text, result = "< 1 ms", verdict(a < GOALS["hundred_p99"]["limit"])
                add(
                    f"| {label}, {q} | {ms(a)} | {ms(b)} | {ratio(a, b)} | {goal_text} | {result} |"
                )
        for part, label in (("one", "1 entity"), ("hundred", "100 entities")):
            a, b = online[f"{part}_cpu"]["mlstage"], online[f"{part}_cpu"]["feast"]
            add(
                f"| {label}, CPU time per call (mean) | {ms(a)} | {ms(b)} | {ratio(a, b)} | - | - |"
            )
            if f"{part}_cpu_p99" in online:
                for q in ("p50", "p99"):
                    a, b = online[f"{part}_cpu_{q}"]["mlstage"], online[f"{part}_cpu_{q}"]["feast"]
                    add(
                        f"| {label}, {q} of the calling thread's CPU time per call (time "
                        f"preempted not counted) | {ms(a)} | {ms(b)} | {ratio(a, b)} | - | - |"
                    )
        ma, mb_ = online["materialize"]["mlstage"], online["materialize"]["feast"]
        add(
            f"| materialise 10,000 customers (set-up, not a goal) | {ma:.2f} s | {mb_:.2f} s | "
            f"{ratio(ma, mb_)} | - | - |"
        )
        add("")
        for part, label in (("one", "1 entity p99"), ("hundred", "100 entities p99")):
            a, b = online[f"{part}_p99"]["mlstage"], online[f"{part}_p99"]["feast"]
            ok = a <= b if part == "one" else a < GOALS["hundred_p99"]["limit"]
            summary.append(
                {
                    "figure": f"2. online in-process, {label}",
                    "mlstage": ms(a),
                    "feast": ms(b),
                    "ratio": ratio(a, b),
                    "goal": "<= Feast" if part == "one" else "< 1 ms",
                    "result": verdict(ok),
                }
            )
    http = results.get("http")
    if http:
        a, b = http["p99"]["mlstage"], http["p99"]["feast"]
        add("### 3. Online lookup over HTTP (1 entity, 10 features)")
        add("")
        add(
            "`mlstage serve scorer/1` (`POST /features/online`) and `feast serve --workers 1 "
            "--max-requests 100000000 --no-access-log` (mlstage logs no access either), both "
            "on 127.0.0.1, each asked by the same client "
            "(`bench/features/http_client.py`: one keep-alive connection, one request at a time, "
            f"{results['args']['http_requests']:,} timed requests after 300 untimed) in "
            f"{len(http['samples']['mlstage'])} rounds, the order alternating; latency includes "
            "the client's own time. Medians over the rounds. Server CPU is the user + system "
            "time of the server's process group over the timed requests, divided by their "
            "number: it moves much less than latency when other processes share the CPUs. "
            "mlstage's dev venv has plain `uvicorn` (the pure-Python h11 parser); Feast's venv "
            "has httptools and uvloop (Feast depends on `uvicorn[standard]`); the extra row "
            "runs mlstage's service from `bench/.venvs/mlstage-httptools` (the working tree "
            "plus httptools and uvloop), on the same project."
        )
        add("")
        add("| | mlstage | Feast | ratio | goal | result |")
        add("|---|---|---|---|---|---|")
        pa, pb = http["p50"]["mlstage"], http["p50"]["feast"]
        add(f"| p50 | {ms(pa)} | {ms(pb)} | {ratio(pa, pb)} | - | - |")
        add(f"| p99 | {ms(a)} | {ms(b)} | {ratio(a, b)} | < 1 ms | {verdict(a < 1e-3)} |")
        sa, sb = http["server_cpu"]["mlstage"], http["server_cpu"]["feast"]
        add(
            f"| server CPU time per request (mean) | {ms(sa)} | {ms(sb)} | {ratio(sa, sb)} "
            "| - | - |"
        )
        if HTTPTOOLS in http["p99"]:
            ha, hs = http["p99"][HTTPTOOLS], http["server_cpu"][HTTPTOOLS]
            add(
                f"| mlstage with httptools + uvloop (uvicorn[standard], an extra venv): p50 "
                f"{ms(http['p50'][HTTPTOOLS])}, p99 {ms(ha)}, server CPU {ms(hs)} | | | "
                f"{ratio(ha, b)} (p99) | < 1 ms | {verdict(ha < 1e-3)} |"
            )
        ca, cb = http["client_cpu"]["mlstage"], http["client_cpu"]["feast"]
        add(f"| client CPU time per request (mean) | {ms(ca)} | {ms(cb)} | - | - | - |")
        add("")
        summary.append(
            {
                "figure": "3. online over HTTP, 1 entity p99",
                "mlstage": ms(a),
                "feast": ms(b),
                "ratio": ratio(a, b),
                "goal": "< 1 ms",
                "result": verdict(a < 1e-3),
            }
        )
    if results.get("network_attempts"):
        add("Network attempts (refused): " + "; ".join(results["network_attempts"]))
        add("")
    add("Raw samples of the last run: `bench/results/features.json`.")
    table = [
        "| figure | mlstage | Feast | ratio mlstage/Feast | goal | result |",
        "|---|---|---|---|---|---|",
    ] + [
        f"| {s['figure']} | {s['mlstage']} | {s['feast']} | {s['ratio']} | {s['goal']} | "
        f"{s['result']} |"
        for s in summary
    ]
    lines[summary_at:summary_at] = [*table, ""]
    return "\n".join(lines), summary


def previous_figures(only: set[int]) -> dict[str, Any]:
    """Figures not run now, from the last published run, each with its date."""
    published = RESULTS / "features.json"
    if not published.exists():
        return {}
    last = json.loads(published.read_text(encoding="utf-8"))
    kept = {}
    for number, key in ((1, "pit"), (2, "online"), (3, "http")):
        if number not in only and key in last:
            kept[key] = {**last[key], "date": last.get("kept", {}).get(key, last["date"])}
    return kept


# -- main ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="1,2,3", help="figures to run, e.g. 1,3")
    parser.add_argument("--pit-processes", type=int, default=3, help="fresh processes per tool")
    parser.add_argument("--repeat", type=int, default=3, help="timed joins per process")
    parser.add_argument("--online-processes", type=int, default=2, help="fresh processes per tool")
    parser.add_argument("--http-rounds", type=int, default=3, help="client runs per service")
    parser.add_argument("--http-requests", type=int, default=3000, help="timed requests per run")
    parser.add_argument(
        "--no-httptools",
        dest="httptools",
        action="store_false",
        help="skip the extra column: mlstage's service with httptools + uvloop",
    )
    parser.add_argument(
        "--quiet-budget", type=float, default=120.0, help="seconds to wait for quiet"
    )
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="niceness of every measuring process, both tools alike (default -10: on a shared "
        "machine other users' jobs then preempt the measurements less; 0 to leave it)",
    )
    args = parser.parse_args()
    only = {int(x) for x in args.only.split(",") if x.strip()}
    rt.QUIET["budget"] = args.quiet_budget
    NICE["value"] = args.nice

    started = time.perf_counter()
    feast_py = rt.ensure_venv(rt.VENVS / "feast", [FEAST_REQUIREMENT], "import feast, duckdb")
    mlstage_py = rt.mlstage_python(None)
    fd, net_name = tempfile.mkstemp(prefix="mlstage-bench-net-", suffix=".log")
    os.close(fd)
    net_log = Path(net_name)
    tools = {
        "mlstage": Worker("mlstage", mlstage_py, net_log),
        "feast": Worker("feast", feast_py, net_log),
    }
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run_features.py"
        + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "machine": rt.machine(),
        "commit": rt.git_commit(),
        "args": vars(args),
    }
    shared = rt.fresh_folder("features-data")
    try:
        results["info"] = {name: t.run("info", shared, quiet=False) for name, t in tools.items()}
        log(
            f"mlstage {results['info']['mlstage']['mlstage']}; "
            f"Feast {results['info']['feast']['feast']}"
        )
        results["data"] = tools["mlstage"].run("data", shared, quiet=False)
        log(f"data: {results['data']}")
        if 1 in only:
            log("figure 1: point-in-time join")
            results["pit"] = figure_pit(tools, shared, args)
        if 2 in only:
            log("figure 2: online lookups in-process")
            results["online"] = figure_online(tools, shared, args)
        if 3 in only:
            log("figure 3: online lookup over HTTP")
            results["http"] = figure_http(tools, shared, mlstage_py, args)
        earlier = previous_figures(only)
        if earlier:
            results.update(earlier)
            results["kept"] = {k: v["date"] for k, v in earlier.items()}
    finally:
        shutil.rmtree(shared, ignore_errors=True)
        logged = net_log.read_text(encoding="utf-8").splitlines() if net_log.exists() else []
        rt.NETWORK_ATTEMPTS.extend(logged)
        net_log.unlink(missing_ok=True)

    results["elapsed"] = time.perf_counter() - started
    load = os.getloadavg()
    results["load_end"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    results["network_attempts"] = rt.NETWORK_ATTEMPTS
    results["busy_seen"] = rt.BUSY_SEEN
    results["waited"] = rt.QUIET["waited"]
    section, summary = render(results)
    results["summary"] = summary
    raw = rt.WORK / "features-last.json" if args.no_write else RESULTS / "features.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    log(f"raw samples: {raw.relative_to(REPO)}")
    if not args.no_write:
        rt.write_markdown(section, BEGIN, END)
        log("wrote BENCHMARKS.md (features section)")
    print()
    print("| figure | mlstage | Feast | ratio | goal | result |")
    print("|---|---|---|---|---|---|")
    for row in summary:
        print(
            f"| {row['figure']} | {row['mlstage']} | {row['feast']} | {row['ratio']} | "
            f"{row['goal']} | {row['result']} |"
        )
    if rt.NETWORK_ATTEMPTS:
        print("\nNETWORK ATTEMPTS:", *rt.NETWORK_ATTEMPTS, sep="\n  ")
        return 1
    print(f"\n{results['elapsed']:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
