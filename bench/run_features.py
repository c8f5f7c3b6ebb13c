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

Figures 2 and 3 are timed twice (``--realtime``, default priority 10; 0 skips
it): as before, and with the measuring threads of both tools at real-time
priority (``SCHED_FIFO``; needs root), because on this shared machine the
scheduler preempts a niced measurement for milliseconds a few dozen times a
second and p99 then measures the neighbours. Both are reported.
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

sys.path.insert(0, str(Path(__file__).parent / "features"))
import _bench  # the workers' helpers (standard library only)
from _report import HTTPTOOLS, RT, mb, ms, render  # the section of BENCHMARKS.md

BENCH = rt.BENCH
REPO = rt.REPO
WORKERS = BENCH / "features"
LOOPBACK_GUARD = BENCH / "serving" / "netguard"
"""The serving benchmark's guard: its servers bind on loopback, as the feature server does."""
RESULTS = rt.RESULTS
BEGIN, END = "<!-- features:begin -->", "<!-- features:end -->"
COLUMNS = [("figure", "figure"), ("mlstage", "mlstage"), ("Feast", "feast"), ("ratio", "ratio"),
           ("goal", "goal"), ("result", "result")]  # fmt: skip
"""The summary table printed at the end: (title, key of a summary row)."""
FEAST_REQUIREMENT = "feast[duckdb]==0.67.0"
log = rt.log
median = rt.median
NICE = {"value": 0}
REALTIME = {"priority": 0}


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
        if REALTIME["priority"]:
            env[_bench.REALTIME_ENV] = str(REALTIME["priority"])
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
            if "hundred_rt" in r:
                log(
                    f"     at real-time priority: 1 entity p99 {ms(r['one_rt']['p99'])}; "
                    f"100 entities p99 {ms(r['hundred_rt']['p99'])}"
                )
    out: dict[str, Any] = {"samples": samples}
    for part in ("one", "hundred", "one_rt", "hundred_rt"):
        if not all(part in s for v in samples.values() for s in v):
            continue  # no real-time pass (not asked, or refused)
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


def group_realtime(pgid: int, priority: int) -> bool:
    """Every thread of process group ``pgid`` (a service) to ``SCHED_FIFO`` at ``priority``, or
    back to normal (0); False if any thread refused."""
    ok = True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[2]) != pgid:
                    continue
            threads = os.listdir(f"/proc/{entry}/task")
        except (OSError, ValueError, IndexError):
            continue
        for tid in threads:
            ok = _bench.set_realtime(int(tid), priority) and ok
    return ok


def _client_child(priority: int) -> Any:
    def start() -> None:
        _renice()
        if priority:
            _bench.set_realtime(0, priority)

    return start


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
        modes = [0, REALTIME["priority"]] if REALTIME["priority"] else [0]
        for i in range(args.http_rounds):
            for name, priority in [
                (name, priority)
                for name in (order if i % 2 == 0 else list(reversed(order)))
                for priority in modes
            ]:
                if not priority:
                    rt.wait_for_quiet()
                elif not group_realtime(processes[name].pid, priority):
                    group_realtime(processes[name].pid, 0)
                    log(f"  3. {name}: real-time priority refused; no real-time rounds")
                    continue
                key = name + (RT if priority else "")
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
                try:
                    done = subprocess.run(
                        cmd,
                        capture_output=True,
                        text=True,
                        timeout=600,
                        preexec_fn=_client_child(priority),
                        env=services[name].env(folders[name]),
                    )
                finally:
                    if priority:
                        group_realtime(processes[name].pid, 0)
                lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
                if done.returncode != 0 or not lines:
                    raise RuntimeError(f"http client for {key} failed:\n{done.stderr[-2000:]}")
                r = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
                samples.setdefault(key, []).append(r)
                log(
                    f"  3. http {key:8s} #{i + 1}: p50 {ms(r['p50'])}, p99 {ms(r['p99'])} "
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
        "--realtime",
        type=int,
        default=10,
        help="also time figures 2 and 3 with the measuring threads (both tools alike) at this "
        "SCHED_FIFO priority, so other users' jobs cannot preempt them; 0 to skip (needs root "
        "or CAP_SYS_NICE; skipped when refused)",
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="niceness of every measuring process, both tools alike (default -10: on a shared "
        "machine other users' jobs then preempt the measurements less; 0 to leave it)",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the section from bench/results/features.json; nothing is measured",
    )
    args = parser.parse_args()
    if args.render_only:
        last = json.loads((RESULTS / "features.json").read_text(encoding="utf-8"))
        rt.write_markdown(render(last)[0], BEGIN, END)
        log("wrote BENCHMARKS.md (features section) from bench/results/features.json")
        return 0
    only = {int(x) for x in args.only.split(",") if x.strip()}
    rt.QUIET["budget"] = args.quiet_budget
    NICE["value"] = args.nice
    REALTIME["priority"] = max(0, min(99, args.realtime))

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

    rt.stamp_end(results, started)
    section, summary = render(results)
    results["summary"] = summary
    rt.save_results(results, section, "features", no_write=args.no_write, begin=BEGIN, end=END)
    return rt.print_summary(summary, COLUMNS, results["elapsed"])


if __name__ == "__main__":
    sys.exit(main())
