#!/usr/bin/env python3
"""Serving benchmark: ``mlstage serve`` side by side with ``mlflow models serve``, in one run.

    python bench/run_serving.py            # everything, ~4-5 minutes; updates BENCHMARKS.md
    python bench/run_serving.py --rounds 1 --no-write

Standard library only (run it with any Python 3.11+ from the repository
root), plus ``wrk`` for the load (Debian: ``apt-get install -y wrk``). It
reuses the tracking benchmark's harness (``bench/run_tracking.py``: venvs,
quiet-machine wait, tool alternation, machine report) and its MLflow venv
(``bench/.venvs/mlflow``, ``pip install "mlflow<3.18"`` on first use);
mlstage runs from the dev venv ``.venv`` (installed editable: the working
tree is what is measured). Helpers: ``bench/serving/``.

Set-up (untimed): one scikit-learn RandomForestClassifier (100 trees, 20
features) trained once and written to one skops file; each tool logs the
object read back from it, registers it as ``bench`` and points the alias
``champion`` at it, each in its own SQLite store in a temp folder. Then three
services, each bound to 127.0.0.1 on its own port:

- ``mlstage serve bench@champion --workers 1`` (ready: ``GET /ready``)
- ``mlflow models serve -m models:/bench@champion --env-manager local --workers 1``
  (ready: ``GET /ping``)
- ``mlstage serve bench@champion --workers 2`` (an extra row)

Load: ``wrk`` (C, keep-alive connections, one thread) with a Lua script
posting the same row values to both: mlstage ``POST /predict
{"records": [{...}]}``, MLflow ``POST /invocations {"dataframe_split":
{"columns": [...], "data": [[...]]}}``. Figures (medians of --rounds runs, the
services alternating A B C, C B A, ...; before each run the harness waits for
a quiet machine):

  1. single-row latency p50 and p99 at concurrency 1
  2. single-row latency p50 and p99, and requests/s, at concurrency 8
  3. 1,000-row batch latency, p50 of --batch-requests requests (sequential,
     keep-alive, from this process: wrk cannot stop after a count)
  4. service overhead for one row: mlstage's p50 at concurrency 1 minus the
     model's own predict time for one row (in-process, median of 1,000 calls)

Goals (issue 4): throughput at concurrency 8 >= 3x MLflow's; p99 at
concurrency 8 <= 1/3 of MLflow's; overhead < 1 ms p50.

Every Python process (workers, services, the uvicorn MLflow execs) runs with
a loopback-only network guard (``bench/serving/netguard/sitecustomize.py``);
telemetry is off (``MLFLOW_DISABLE_TELEMETRY=true``, ``DO_NOT_TRACK=true``).

Profiling mlstage under load (``--profile``): py-spy samples the
``--workers 1`` service during one more concurrency-8 run and writes
``bench/.work/serving-profile-*.txt`` (needs ``py-spy``; ``pip install
py-spy`` into any venv and pass ``--py-spy PATH`` or have it on PATH).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import run_tracking as rt  # the tracking harness, next to this file

BENCH = rt.BENCH
REPO = rt.REPO
HELPERS = BENCH / "serving"
NETGUARD = HELPERS / "netguard"
LUA = HELPERS / "report.lua"
RESULTS = rt.RESULTS
BENCHMARKS_MD = rt.BENCHMARKS_MD
BEGIN, END = "<!-- serving:begin -->", "<!-- serving:end -->"
COLUMNS = [("figure", "figure"), ("mlstage (1 worker)", "mlstage"), ("MLflow (1 worker)", "mlflow"),
           ("mlstage (2 workers)", "mlstage_w2"), ("ratio", "ratio"), ("goal", "goal"),
           ("result", "result")]  # fmt: skip
"""The summary table printed at the end: (title, key of a summary row)."""

GOALS = {
    "throughput_ratio": 3.0,  # mlstage req/s at concurrency 8 >= 3x MLflow's
    "p99_ratio": 1 / 3,  # mlstage p99 at concurrency 8 <= 1/3 of MLflow's
    "overhead": 0.001,  # mlstage p50 at concurrency 1 minus the model's time < 1 ms
}
# MLflow as measured earlier on this machine kind (peer notes), for the reader.
BRACKETS = {"c1_rps": 118, "c1_p50": 0.0082, "c8_rps": 124, "c8_p50": 0.059, "c8_p99": 0.205}

log = rt.log
median = rt.median
fmt_time = rt.fmt_time
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(root: int) -> list[int]:
    children = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (their live threads included)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def command_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            parts = fh.read().split(b"\0")
    except OSError:
        return "?"
    words = [p.decode(errors="replace") for p in parts if p]
    return " ".join(os.path.basename(w) if i < 2 else w for i, w in enumerate(words))[:160]


def short_name(command: str) -> str:
    """``mlstage``, ``mlflow``, ``uvicorn``, or ``worker`` for a multiprocessing child."""
    if "resource_tracker" in command:
        return "resource tracker"
    if "multiprocessing" in command:
        return "worker (spawned)"
    words = command.split(" ")
    return words[1] if len(words) > 1 and not words[1].startswith("-") else words[0]


class Service:
    """One running prediction service: its process group, its port, how to call it."""

    def __init__(
        self,
        key: str,
        label: str,
        tool: str,
        cmd: list[str],
        env: dict[str, str],
        folder: Path,
        port: int,
        ready_path: str,
        predict_path: str,
        workers: int,
    ) -> None:
        self.key = key
        self.label = label
        self.tool = tool
        self.cmd = cmd
        self.env = env
        self.folder = folder
        self.port = port
        self.ready_path = ready_path
        self.predict_path = predict_path
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = folder / f"{key}.log"
        self.startup = 0.0
        self.pids: list[int] = []
        self.tree: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.predict_path}"

    def start(self, timeout: float = 90.0) -> None:
        with open(self.log_path, "wb") as out:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                status, _ = request(self.port, "GET", self.ready_path, timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{self.label} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.05)
        self.startup = time.perf_counter() - t0
        time.sleep(0.3)  # multi-worker: let every worker finish starting before the tree is read
        self.pids = process_tree(self.proc.pid)
        self.tree = [command_name(p) for p in self.pids]

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def cpu(self) -> float:
        return cpu_seconds(self.pids)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group this script created
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass


def request(
    port: int, method: str, path: str, body: bytes | None = None, timeout: float = 30
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- environments ----------------------------------------------------------------------


def tool_env(tool: str, python: Path, folder: Path, net_log: Path) -> dict[str, str]:
    env = rt.base_env()  # no MLSTAGE_*/MLFLOW_* from outside; telemetry off
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"  # MLflow execs uvicorn
    env["PYTHONPATH"] = str(NETGUARD)
    env["BENCH_NET_LOG"] = str(net_log)
    if tool == "mlstage":
        env["MLSTAGE_TRACKING_URI"] = f"sqlite:///{folder / 'mlstage.db'}"
        env["MLSTAGE_ARTIFACT_ROOT"] = str(folder / "artifacts")
    else:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    return env


def run_worker(
    python: Path, tool: str, scenario: str, folder: Path, env: dict[str, str], *args: str
) -> dict[str, Any]:
    cmd = [str(python), str(HELPERS / f"{tool}_worker.py"), scenario, "--dir", str(folder), *args]
    env = {**env, "PYTHONPATH": f"{NETGUARD}{os.pathsep}{HELPERS}"}
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{tool} {scenario} failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1].removeprefix("BENCH_RESULT "))


# -- load ------------------------------------------------------------------------------


def run_wrk(service: Service, body: Path, connections: int, seconds: int) -> dict[str, Any]:
    """One wrk run; the result line of report.lua, plus CPU of the service and of wrk."""
    env = {**os.environ, "BENCH_BODY": str(body), "BENCH_MAX_REQUESTS": "0"}
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        service.url,
    ]
    cpu0 = service.cpu()
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    wall = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1 = service.cpu()
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("WRK_RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"wrk failed on {service.label}: {done.stdout[-800:]}{done.stderr[-800:]}"
        )
    result = json.loads(lines[-1].removeprefix("WRK_RESULT "))
    errors = {k: v for k, v in result["errors"].items() if v}
    if errors:
        raise RuntimeError(f"{service.label}: errors under load {errors}\n{service.tail()}")
    duration = result["duration_us"] / 1e6
    lat = result["latency_us"]
    return {
        "requests": result["requests"],
        "seconds": duration,
        "rps": result["requests"] / duration,
        "p50": lat["p50"] / 1e6,
        "p90": lat["p90"] / 1e6,
        "p99": lat["p99"] / 1e6,
        "p999": lat["p999"] / 1e6,
        "max": lat["max"] / 1e6,
        "mean": lat["mean"] / 1e6,
        "service_cpu": (cpu1 - cpu0) / wall,
        "wrk_cpu": (usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime) / wall,
    }


def run_batch(service: Service, body: bytes, n: int) -> dict[str, Any]:
    """``n`` sequential requests on one keep-alive connection; the latency of each."""
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
    headers = {"Content-Type": "application/json"}
    times = []
    cpu0 = service.cpu()
    t_all = time.perf_counter()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("POST", service.predict_path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            times.append(time.perf_counter() - t0)
            if response.status != 200:
                raise RuntimeError(f"{service.label}: {response.status} {payload[:300]!r}")
    finally:
        conn.close()
    wall = time.perf_counter() - t_all
    ordered = sorted(times)
    return {
        "requests": n,
        "times": times,
        "p50": median(times),
        "p90": ordered[min(n - 1, int(0.9 * n))],
        "max": ordered[-1],
        "service_cpu": (service.cpu() - cpu0) / wall,
    }


def scrape(service: Service) -> dict[str, float]:
    """Sums and counts of the mlstage service's batching series (from /metrics)."""
    status, body = request(service.port, "GET", "/metrics")
    out: dict[str, float] = {}
    if status != 200:
        return out
    wanted = {
        "mlstage_serving_batch_requests_sum": "batch_requests_sum",
        "mlstage_serving_batch_requests_count": "batches",
        "mlstage_serving_model_seconds_sum": "model_seconds_sum",
        "mlstage_serving_request_log_dropped": "log_dropped",
        "mlstage_serving_request_log_failed": "log_failed",
    }
    for line in body.decode().splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted:
            out[wanted[name]] = out.get(wanted[name], 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def batching(before: dict[str, float], after: dict[str, float]) -> dict[str, float] | None:
    batches = after.get("batches", 0) - before.get("batches", 0)
    if batches <= 0:
        return None
    return {
        "batches": batches,
        "requests_per_batch": (after["batch_requests_sum"] - before.get("batch_requests_sum", 0))
        / batches,
        "model_ms_per_batch": 1000
        * (after["model_seconds_sum"] - before.get("model_seconds_sum", 0))
        / batches,
        "log_dropped": after.get("log_dropped", 0),
    }


# -- checks ----------------------------------------------------------------------------


def check_answers(service: Service, bodies: dict[str, Path], data: dict[str, Any]) -> dict:
    """The row and the 1,000 rows scored by the service agree with the model in-process."""
    prefix = "mlstage" if service.tool == "mlstage" else "mlflow"
    status, raw = request(
        service.port, "POST", service.predict_path, bodies[f"{prefix}_row"].read_bytes()
    )
    if status != 200:
        raise RuntimeError(f"{service.label}: {status} {raw[:300]!r}")
    row = json.loads(raw)
    status, raw = request(
        service.port, "POST", service.predict_path, bodies[f"{prefix}_batch"].read_bytes()
    )
    if status != 200:
        raise RuntimeError(f"{service.label}: {status} {raw[:300]!r}")
    batch = json.loads(raw)
    expected = data["expected"]
    if row["predictions"] != expected[:1] or batch["predictions"] != expected:
        raise RuntimeError(f"{service.label} predicts otherwise than the model in-process")
    if service.tool == "mlstage":
        got = row["probabilities"][0]
        if any(abs(a - b) > 1e-9 for a, b in zip(got, data["proba_row"], strict=True)):
            raise RuntimeError(f"{service.label}: probabilities {got} != {data['proba_row']}")
    return {"row_response_bytes": len(json.dumps(row)), "keys": sorted(row)}


# -- figures ---------------------------------------------------------------------------


def measure(
    services: list[Service],
    bodies: dict[str, Path],
    args: argparse.Namespace,
    results: dict[str, Any],
) -> None:
    figures: dict[str, dict[str, list[dict]]] = {
        "c1": {s.key: [] for s in services},
        "c8": {s.key: [] for s in services},
        "batch": {s.key: [] for s in services},
    }
    results["figures"] = figures
    batch_bodies = {
        "mlstage": bodies["mlstage_batch"].read_bytes(),
        "mlflow": bodies["mlflow_batch"].read_bytes(),
    }
    for r in range(args.rounds):
        log(f"round {r + 1} of {args.rounds}")
        order = services if r % 2 == 0 else list(reversed(services))
        for figure in ("c1", "c8", "batch"):
            for service in order:
                rt.wait_for_quiet()
                busy = rt.BUSY_SEEN[-1]
                before = scrape(service) if service.tool == "mlstage" else {}
                if figure == "batch":
                    m = run_batch(service, batch_bodies[service.tool], args.batch_requests)
                    text = (
                        f"{m['requests']} x 1,000 rows: p50 {fmt_time(m['p50'])}, "
                        f"max {fmt_time(m['max'])}"
                    )
                else:
                    conns = 1 if figure == "c1" else args.concurrency
                    body = bodies[f"{service.tool}_row"]
                    m = run_wrk(service, body, conns, args.seconds)
                    text = (
                        f"{m['rps']:,.0f} req/s, p50 {fmt_time(m['p50'])}, p99 "
                        f"{fmt_time(m['p99'])} ({m['requests']:,} requests; service CPU "
                        f"{m['service_cpu']:.0%}, wrk CPU {m['wrk_cpu']:.0%})"
                    )
                if service.tool == "mlstage":
                    seen = batching(before, scrape(service))
                    if seen is not None and service.workers == 1:
                        m["batching"] = seen
                        text += (
                            f"; {seen['requests_per_batch']:.1f} requests per model call of "
                            f"{seen['model_ms_per_batch']:.1f} ms"
                        )
                m["busy_before"] = busy
                m["load1"] = os.getloadavg()[0]
                figures[figure][service.key].append(m)
                log(f"  {figure:5s} {service.label:26s} {text}")


def profile_mlstage(service: Service, body: Path, args: argparse.Namespace) -> dict[str, Any]:
    """py-spy samples the service during one more run each: only the thread holding the GIL
    (``gil``) at concurrency 1 and 8, and every thread (``all``) at concurrency 8."""
    sys.path.insert(0, str(HELPERS))
    import pyspy_summary

    py_spy = args.py_spy or shutil.which("py-spy")
    if not py_spy:
        default = rt.VENVS / "pyspy" / "bin" / "py-spy"
        py_spy = str(default) if default.exists() else None
    if not py_spy:
        return {"error": "py-spy not found (pip install py-spy; --py-spy PATH)"}
    out = rt.WORK / "serving-profile"
    out.mkdir(parents=True, exist_ok=True)
    pid = service.pids[0]
    results: dict[str, Any] = {}
    for conns, mode in ((1, "gil"), (args.concurrency, "gil"), (args.concurrency, "all")):
        extra = ["--gil"] if mode == "gil" else []
        raw = out / f"c{conns}-{mode}.txt"
        cmd = [
            py_spy, "record", "--pid", str(pid), "--duration", str(args.seconds + 1),
            "--rate", "500", "--format", "raw", "--output", str(raw), "--nonblocking",
            *extra,
        ]  # fmt: skip
        rt.wait_for_quiet()
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        time.sleep(0.5)
        load = run_wrk(service, body, conns, args.seconds)
        spy.wait(timeout=args.seconds + 30)
        summary = pyspy_summary.summarize(raw, 25) if raw.exists() else {}
        results[f"c{conns}-{mode}"] = {
            "load": load,
            "file": str(raw.relative_to(REPO)),
            "summary": summary,
        }
        top = ", ".join(f"{v:.0%} {k}" for k, v in list(summary.get("categories", {}).items())[:4])
        log(f"  py-spy c{conns} {mode}: {load['rps']:,.0f} req/s under py-spy; {top}")
    return results


def run_probe(
    python: Path,
    env: dict[str, str],
    folder: Path,
    body: Path,
    args: argparse.Namespace,
    variants: str,
    connections: int,
    seconds: int,
) -> dict[str, Any]:
    """bench/serving/overhead_probe.py: the service as shipped beside variants with one part
    swapped out; every collection of the oldest generation is logged (``BENCH_GC_LOG``)."""
    name = f"probe-c{connections}"
    output = folder / f"{name}.json"
    gc_log = folder / f"{name}-gc"
    cmd = [
        str(python), str(HELPERS / "overhead_probe.py"), "drive",
        "--variants", variants, "--body", str(body), "--connections", str(connections),
        "--rounds", str(args.rounds), "--seconds", str(seconds), "--quiet-wait", "3",
        "--output", str(output),
    ]  # fmt: skip
    rt.wait_for_quiet()
    timing = folder / f"{name}-timing"
    done = subprocess.run(
        cmd,
        cwd=folder,
        env={**env, "BENCH_GC_LOG": str(gc_log), "BENCH_TIMING_LOG": str(timing)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 or not output.exists():
        raise RuntimeError(f"overhead probe failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    for line in done.stdout.strip().splitlines():
        if " run " in line:
            log(f"  probe c{connections} {line}")
    result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    result["connections"] = connections
    for variant, key in (("timed", "timed"), ("pool4-timed", "timed_pool4")):
        timed = Path(f"{timing}.{variant}")
        if timed.exists():
            result[key] = json.loads(timed.read_text(encoding="utf-8"))
            log(
                f"  probe c{connections} inside the service ({variant}): model step "
                f"{ms2(result[key]['model_step'])}, predict_proba "
                f"{ms2(result[key]['predict_proba'])} (medians of the last "
                f"{result[key]['n']:,} calls)"
            )
    result["gc"] = {}
    for variant in variants.split(","):
        path = Path(f"{gc_log}.{variant}")
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        # "<time> gen2 <ms> ms collected <n> tracked <n>"; collections before the first
        # request (start-up, the explicit one before gc.freeze()) are left out
        since = float(result.get("measuring_from", 0))
        lines = [ln for ln in lines if float(ln.split()[0]) >= since]
        result["gc"][variant] = [
            {"ms": float(ln.split()[2]), "tracked": int(ln.split()[-1])} for ln in lines
        ]
        seen = result["gc"][variant]
        if seen:
            pauses = ", ".join(f"{g['ms']:.0f} ms" for g in seen)
            most = max(g["tracked"] for g in seen)
            log(
                f"  probe c{connections} {variant}: {len(seen)} full collections of {pauses} "
                f"over {most:,} objects at most"
            )
    return result


# -- report ----------------------------------------------------------------------------


def med(samples: list[dict], key: str) -> float:
    return median([s[key] for s in samples])


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    f = results["figures"]
    out: dict[str, Any] = {}
    for key in f["c1"]:
        out[key] = {
            "c1_p50": med(f["c1"][key], "p50"),
            "c1_p99": med(f["c1"][key], "p99"),
            "c1_rps": med(f["c1"][key], "rps"),
            "c8_p50": med(f["c8"][key], "p50"),
            "c8_p99": med(f["c8"][key], "p99"),
            "c8_rps": med(f["c8"][key], "rps"),
            "batch_p50": med(f["batch"][key], "p50"),
            "c1_cpu": med(f["c1"][key], "service_cpu"),
            "c8_cpu": med(f["c8"][key], "service_cpu"),
            "c8_wrk_cpu": med(f["c8"][key], "wrk_cpu"),
            "c1_wrk_cpu": med(f["c1"][key], "wrk_cpu"),
        }
        seen = [s["batching"] for s in f["c8"][key] if "batching" in s]
        if seen:
            out[key]["c8_requests_per_batch"] = median([b["requests_per_batch"] for b in seen])
            out[key]["c8_model_ms_per_batch"] = median([b["model_ms_per_batch"] for b in seen])
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def ms2(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms"


def render(results: dict[str, Any], args: argparse.Namespace) -> tuple[str, list[dict]]:
    info = results["info"]
    m = results["machine"]
    s = results["summary"]
    ml, mf, ml2 = s["mlstage"], s["mlflow"], s.get("mlstage_w2")
    mt = results["model_time"]["median"]
    mft = results["model_time_mlflow"]["median"]
    services = results["services"]
    lines: list[str] = []
    summary: list[dict] = []
    add = lines.append

    # goals
    tput = ml["c8_rps"] / mf["c8_rps"]
    p99 = ml["c8_p99"] / mf["c8_p99"]
    # The goal's wording: latency minus the model's own predict time (scikit-learn's
    # predict_proba). Also reported: minus the model step the service really runs.
    overhead = ml["c1_p50"] - mt["proba"]
    overhead_score = ml["c1_p50"] - mt["service_score"]
    v_tput = rt.verdict(None, tput >= GOALS["throughput_ratio"])
    v_p99 = rt.verdict(None, p99 <= GOALS["p99_ratio"])
    v_over = rt.verdict(overhead < GOALS["overhead"], None)

    def row(figure: str, a: str, b: str, c: str, ratio: str, goal: str, result: str) -> None:
        summary.append(
            {
                "figure": figure,
                "mlstage": a,
                "mlflow": b,
                "mlstage_w2": c,
                "ratio": ratio,
                "goal": goal,
                "result": result,
            }
        )

    w2 = (lambda k, f: f(ml2[k])) if ml2 else (lambda k, f: "-")
    row("1. one row, concurrency 1: p50", ms2(ml["c1_p50"]), ms2(mf["c1_p50"]),
        w2("c1_p50", ms2), f"1/{mf['c1_p50'] / ml['c1_p50']:.1f}", "-", "-")  # fmt: skip
    row("1. one row, concurrency 1: p99", ms2(ml["c1_p99"]), ms2(mf["c1_p99"]),
        w2("c1_p99", ms2), f"1/{mf['c1_p99'] / ml['c1_p99']:.1f}", "-", "-")  # fmt: skip
    row("2. one row, concurrency 8: p50", ms(ml["c8_p50"]), ms(mf["c8_p50"]),
        w2("c8_p50", ms), f"1/{mf['c8_p50'] / ml['c8_p50']:.1f}", "-", "-")  # fmt: skip
    row("2. one row, concurrency 8: p99", ms(ml["c8_p99"]), ms(mf["c8_p99"]),
        w2("c8_p99", ms), f"1/{1 / p99:.1f}", "<= 1/3", v_p99)  # fmt: skip
    row("2. one row, concurrency 8: requests/s", f"{ml['c8_rps']:,.0f} /s",
        f"{mf['c8_rps']:,.0f} /s", w2("c8_rps", lambda v: f"{v:,.0f} /s"), f"{tput:.1f}x",
        ">= 3x", v_tput)  # fmt: skip
    row("3. 1,000-row batch: p50", ms(ml["batch_p50"]), ms(mf["batch_p50"]),
        w2("batch_p50", ms), f"1/{mf['batch_p50'] / ml['batch_p50']:.1f}", "-", "-")  # fmt: skip
    row("4. service overhead, one row (p50 at concurrency 1 minus the model's predict_proba)",
        ms2(overhead), "-", w2("c1_p50", lambda v: ms2(v - mt["proba"])), "-", "< 1 ms",
        v_over)  # fmt: skip
    row("4a. the same, minus the service's own model step instead (in-process)",
        ms2(overhead_score), "-", w2("c1_p50", lambda v: ms2(v - mt["service_score"])), "-",
        "-", "-")  # fmt: skip
    gc_summary = results.get("probe_gc", {}).get("summary", {})
    if "real" in gc_summary and len(gc_summary) > 1:
        other = next(k for k in gc_summary if k != "real")
        gp = results["probe_gc"]

        def worst(key: str) -> float:
            return max(s["latency_us"]["p99"] for s in gp["samples"][key]) / 1000

        def pause(key: str) -> str:
            seen = gp.get("gc", {}).get(key, [])
            return f"{max(g['ms'] for g in seen):.0f} ms" if seen else "none"

        a, b = gc_summary["real"]["p99_ms"], gc_summary[other]["p99_ms"]
        label = {"nofreeze": "without its gc.freeze()", "gcfreeze": "with gc.freeze() added"}
        row(
            f"2b. p99 at concurrency 8, probe: as shipped / {label.get(other, other)} "
            "(median of the runs; worst run; longest full collection)",
            f"{a:.1f} / {b:.1f} ms; {worst('real'):.1f} / {worst(other):.1f} ms; "
            f"{pause('real')} / {pause(other)}", "-", "-", "-", "-", "-",
        )  # fmt: skip
    probe = results.get("probe", {}).get("summary", {})
    timed = results.get("probe", {}).get("timed")
    if timed and "timed" in probe:
        inside = probe["timed"]["p50_ms"] - timed["predict_proba"] * 1000
        row(
            "4c. overhead against the model call's time inside the service (probe `timed`)",
            f"{inside:.2f} ms", "-", "-", "-", "-", "-",
        )  # fmt: skip
    if "stub" in probe:
        stub = f"{probe['stub']['p50_ms']:.2f} ms"
        row("4b. the service alone, one row (model stubbed): p50", stub, "-", "-", "-", "-", "-")

    summary.sort(key=lambda r: r["figure"].split(" ", 1)[0])  # 1. 2. 2b. 3. 4. 4b.
    add("## Serving: `mlstage serve` vs `mlflow models serve`")
    add("")
    add(
        f"Measured {results['date']} by `{results['command']}` "
        f"({results['elapsed']:.0f} s in all). Generated by the script; edit it, not this section."
    )
    add("")
    add(
        "The same scikit-learn RandomForestClassifier (100 trees, 20 features, "
        f"{results['trained']['nodes']:,} nodes) served by each tool from its own registry "
        "(`bench@champion`), one worker process each; mlstage with `--workers 2` is an extra "
        "column. Load from `wrk` on keep-alive connections, both services on 127.0.0.1 of this "
        f"2-core machine. Medians of {args.rounds} runs per service."
    )
    add("")
    add("| figure | mlstage (1 worker) | MLflow (1 worker) | mlstage (2 workers) | "
        "ratio mlstage/MLflow (1 worker each) | goal | result |")  # fmt: skip
    add("|---|---|---|---|---|---|---|")
    for r in summary:
        add(
            f"| {r['figure']} | {r['mlstage']} | {r['mlflow']} | {r['mlstage_w2']} | {r['ratio']} "
            f"| {r['goal']} | {r['result']} |"
        )
    add("")
    call = mt.get("model_call")
    add(
        f"Overhead (figure 4): the model's own time for one row, in-process on the served object, "
        f"median of {results['model_time']['n']:,} calls each: scikit-learn's `predict_proba` "
        f"{ms2(mt['proba'])} (`predict_proba` + `predict`: {ms2(mt['proba_predict'])}). The "
        "service does not make that call for a forest it feeds matrices: it walks the trees "
        "flat (`src/mlstage/models/forest.py`: every tree at once, one NumPy step per level, "
        "checked when the version loads to give scikit-learn's answer bit for bit)"
        + (f", {ms2(call)} for the call" if call is not None else "")
        + f", {ms2(mt['service_score'])} for its whole model step (`LoadedVersion.score`: "
        "the checked row as a matrix, the call, argmax, lists). So figure 4, the goal's "
        "measure, is below zero; figure 4a, the latency minus the step the service really "
        "runs, is the service's own cost, reported beside it (HTTP, validation, JSON, ids, "
        "metrics, the request log, wrk and the loopback). MLflow's pyfunc `predict` on the "
        "same row in-process: "
        f"{ms2(mft['pyfunc_predict'])}, so its overhead at concurrency 1 is "
        f"{ms2(mf['c1_p50'] - mft['pyfunc_predict'])}."
    )
    add("")
    ps = results.get("probe", {}).get("summary", {})
    timed = results.get("probe", {}).get("timed")
    if timed and "timed" in ps:
        p50 = ps["timed"]["p50_ms"]
        step = timed["model_step"] * 1000
        inside = timed["predict_proba"] * 1000
        add(
            "Inside the service (figure 4b, variant `timed`: the service as shipped with its "
            f"model calls timed; p50 {p50:.2f} ms): the model call takes {inside:.2f} ms there, "
            f"the model step around it (the matrix, argmax, lists) {step - inside:.2f} ms more; "
            "everything outside the model step (HTTP, routing, validation, JSON, ids, metrics, "
            f"request log, wrk and the loopback) {p50 - step:.2f} ms."
        )
        add("")
    probe = results.get("probe")
    names = {
        "real": "as shipped",
        "timed": "as shipped, model calls timed inside (`timed`)",
        "nolog": "request log off",
        "inline": "model step on the event loop (no thread hand-off)",
        "stub": "model step stubbed (a precomputed answer, no model)",
        "stub-nolog": "model step stubbed, request log off",
        "stub-inline": "model step stubbed, no thread hand-off",
        "gcfreeze": "`gc.freeze()` added once the app and the model are loaded",
        "nofreeze": "mlstage's `freeze_heap` patched out (no `gc.freeze()`)",
        "threads1": "one model thread per version (the default)",
        "pool4": "as before the overhead fix: every call on a pool of four threads in turn",
        "pool4-timed": "as before the overhead fix, model calls timed (`pool4-timed`)",
        "noinline": "every model call on the version's own thread (none on the event loop)",
        "nogc": "garbage collector off (a diagnosis)",
        "nolog-nogc": "request log off, garbage collector off",
    }
    if probe:
        add(
            "4b. The service's own cost measured directly (`bench/serving/overhead_probe.py`): "
            "the app and uvicorn set-up of `mlstage serve`, one process each, with one part "
            f"swapped out; `wrk -t1 -c1`, medians of {args.rounds} runs of "
            f"{min(args.seconds, 4)} s, the variants alternating (up to 3 s wait for quiet "
            "before each run). With the model stubbed, the "
            "latency is everything but the model: HTTP, routing, validation, JSON, ids, metrics "
            "and the request log, plus wrk and the loopback."
        )
        add("")
        add("| variant | requests/s | p50 | p99 |")
        add("|---|---|---|---|")
        for key, value in probe["summary"].items():
            add(
                f"| {names.get(key, key)} | {value['rps']:,.0f} | {value['p50_ms']:.2f} ms | "
                f"{value['p99_ms']:.2f} ms |"
            )
        add("")

    gc_probe = results.get("probe_gc")
    if gc_probe:
        add(
            f"2b. Where the tail at concurrency {args.concurrency} comes from (the same probe, "
            f"`wrk -t1 -c{args.concurrency}`, medians of {args.rounds} runs of "
            f"{min(args.seconds, 5)} s, the variants alternating). Every collection of Python's "
            "oldest generation after the first request was logged (`gc.callbacks`): such a "
            "collection walks every object the collector tracks and stops both the event loop "
            "and the predict thread while it runs; without `gc.freeze()` after start-up that "
            "is the ~240,000 objects of the imports, the app and the model. mlstage freezes "
            "its heap after start-up and after each swap (`freeze_heap` in "
            "`serving/pool.py`); the `nofreeze` variant patches that out."
        )
        add("")
        add(
            "| variant | requests/s | p50 | p99 | p99 of each run "
            "| full collections during the runs |"
        )
        add("|---|---|---|---|---|---|")
        for key, value in gc_probe["summary"].items():
            each_p99 = ", ".join(
                f"{s['latency_us']['p99'] / 1000:.1f}" for s in gc_probe["samples"][key]
            )
            seen = gc_probe["gc"].get(key, [])
            pauses = "none"
            if seen:
                each = ", ".join(f"{g['ms']:.0f}" for g in seen)
                most = max(g["tracked"] for g in seen)
                pauses = f"{len(seen)}: {each} ms, over up to {most:,} objects"
            add(
                f"| {names.get(key, key)} | {value['rps']:,.0f} | {value['p50_ms']:.2f} ms | "
                f"{value['p99_ms']:.2f} ms | {each_p99} ms | {pauses} |"
            )
        add("")

    # services and load
    add("| service | command (all bound to 127.0.0.1) | processes | ready after |")
    add("|---|---|---|---|")
    for svc in services:
        add(
            f"| {svc['label']} | `{svc['command']}` | {svc['processes']} | {svc['startup']:.1f} s |"
        )
    add("")
    add("| CPU use during the runs (1 core = 100%) | mlstage (1 worker) | MLflow (1 worker) | "
        "mlstage (2 workers) |")  # fmt: skip
    add("|---|---|---|---|")
    add(f"| service, concurrency 1 | {ml['c1_cpu']:.0%} | {mf['c1_cpu']:.0%} | "
        f"{w2('c1_cpu', lambda v: f'{v:.0%}')} |")  # fmt: skip
    add(f"| service, concurrency 8 | {ml['c8_cpu']:.0%} | {mf['c8_cpu']:.0%} | "
        f"{w2('c8_cpu', lambda v: f'{v:.0%}')} |")  # fmt: skip
    add(f"| wrk (the load), concurrency 1 | {ml['c1_wrk_cpu']:.0%} | {mf['c1_wrk_cpu']:.0%} | "
        f"{w2('c1_wrk_cpu', lambda v: f'{v:.0%}')} |")  # fmt: skip
    add(f"| wrk (the load), concurrency 8 | {ml['c8_wrk_cpu']:.0%} | {mf['c8_wrk_cpu']:.0%} | "
        f"{w2('c8_wrk_cpu', lambda v: f'{v:.0%}')} |")  # fmt: skip
    if "c8_requests_per_batch" in ml:
        add(
            f"| mlstage micro-batching at concurrency 8 (from its `/metrics`) | "
            f"{ml['c8_requests_per_batch']:.1f} requests per model call, "
            f"{ml['c8_model_ms_per_batch']:.1f} ms per call | | |"
        )
    add("")

    add("| machine | |")
    add("|---|---|")
    add(f"| CPU | {m['cpu']}, {m['cores']} cores |")
    add(f"| RAM | {m['ram']} |")
    add(f"| OS | {m['os']} |")
    add(
        f"| load average (1, 5, 15 min) at the start; at the end | {m['load']}; "
        f"{results.get('load_end', '?')} |"
    )
    busy = results.get("busy_seen") or []
    if busy:
        over = sum(1 for b in busy if b > rt.QUIET["threshold"])
        add(
            f"| CPU use by all processes just before each run (the idle services included) | "
            f"median {median(busy):.0%}, max {max(busy):.0%}; {over} of {len(busy)} runs started "
            f"above {rt.QUIET['threshold']:.0%}; {results.get('waited', 0):.0f} s spent waiting "
            f"for quiet |"
        )
    add("")
    mi, fi = info["mlstage"], info["mlflow"]
    add("| versions | mlstage side | MLflow side |")
    add("|---|---|---|")
    add(f"| tool | mlstage {mi['mlstage']} (commit {results['commit']}) | MLflow {fi['mlflow']} |")
    add(f"| Python | {mi['python']} | {fi['python']} |")
    for key, name in (
        ("sklearn", "scikit-learn"),
        ("numpy", "NumPy"),
        ("pandas", "pandas"),
        ("fastapi", "FastAPI"),
        ("starlette", "Starlette"),
        ("uvicorn", "uvicorn"),
    ):
        add(f"| {name} | {mi[key]} | {fi[key]} |")
    add(f"| HTTP parser, event loop | {mi['http']}, {mi['loop']} | {fi['http']}, {fi['loop']} |")
    add(f"| venv | `{results['mlstage_python']}` | `{results['mlflow_python']}` |")
    add(f"| load generator | {results['wrk']} | |")
    add("")
    add(
        "Reproduce from the repository root: `python bench/run_serving.py` (any Python 3.11+ and "
        "`wrk`, `apt-get install -y wrk`; it creates `bench/.venvs/mlflow` with "
        '`pip install "mlflow<3.18"` on first use and runs mlstage from `.venv`, the dev venv '
        "with mlstage installed editable). `--profile` adds a py-spy profile of the mlstage "
        "service under load."
    )
    add("")
    add("How it measures:")
    add("")
    add(
        "- Set-up, untimed: the forest is trained once (`make_classification`, 2,000 rows, fixed "
        "seed, columns `f0`...`f19`) and written to one skops file; each tool logs the object read "
        "back from it with a 5-row DataFrame as input example, registers it as `bench` and "
        "points `champion` at it, in its own SQLite store in a temp folder (mlstage: "
        "`log_model`, `register_model`, `set_alias`; MLflow: `mlflow.sklearn.log_model(..., "
        'skops_trusted_types=["sklearn.tree._tree.Tree"])`, `register_model`, '
        "`set_registered_model_alias`). Before any timing, each service's answers for the row "
        "and for the 1,000 rows are checked against the model's own in-process predictions "
        "(and mlstage's probabilities against `predict_proba`)."
    )
    add(
        "- Request bodies hold the same row values (rows the model was not trained on): mlstage "
        '`POST /predict {"records": [{"f0": ..., ...}]}` '
        f"({results['trained']['body_bytes']['mlstage_row']} bytes), MLflow `POST /invocations "
        '{"dataframe_split": {"columns": [...], "data": [[...]]}}` '
        f"({results['trained']['body_bytes']['mlflow_row']} bytes). The 1,000-row batch is the "
        'same table in both: mlstage `{"columns": [...], "data": [[...] x 1000]}`, MLflow its '
        "`dataframe_split` (~391 KB each). mlstage answers with predictions, probabilities, "
        'class labels and a prediction id per row; MLflow with `{"predictions": [...]}` only. '
        "mlstage also hands every prediction to its request log (Parquet, written in batches "
        "by a background thread): its default, left on."
    )
    add(
        f"- Figures 1 and 2: `wrk -t1 -c1` and `-c{args.concurrency}`, {args.seconds} s a run, "
        "with a Lua script posting the body (`bench/serving/report.lua`); latencies from "
        "wrk's histogram (request sent to response read, as the client sees it). Figure 3: "
        f"{args.batch_requests} sequential requests on one keep-alive connection from the "
        "runner (`http.client`; wrk cannot stop after a count), the p50 of their times. Each "
        "service gets a warm-up (a 1 s run at concurrency 8 and 3 batches) before the first "
        "measured run. The services alternate (A B C, C B A, ...), all three running "
        "throughout (idle ones use no CPU). Before each run the script waits (up to "
        f"{rt.QUIET['max_wait']:.0f} s, {rt.QUIET['budget']:.0f} s in all) until the CPUs are "
        f"less than {rt.QUIET['threshold']:.0%} busy. CPU use of the service (its whole "
        "process tree) and of wrk is read from /proc and getrusage around each run: wrk uses "
        "a small part of one core, so it is not the bottleneck."
    )
    add(
        "- Worker counts: `mlstage serve --workers 1` runs uvicorn in its own process "
        "(1 process); `mlflow models serve --workers 1` (MLflow's default is also 1) execs "
        "`uvicorn --workers 1` under the `mlflow` CLI process, which only waits; "
        "`mlstage serve --workers 2` is uvicorn's supervisor and two workers, each with its "
        "own copy of the model. Both sides run the same uvicorn, h11 parser and asyncio loop."
    )
    add(
        "- Telemetry off for every process (`MLFLOW_DISABLE_TELEMETRY=true`, `DO_NOT_TRACK=true`); "
        "every Python process (set-up workers, the services, the uvicorn MLflow execs) may "
        "connect on the loopback interface only and reports any other attempt: "
        + (
            "none was made."
            if not rt.NETWORK_ATTEMPTS
            else "**attempts: " + "; ".join(rt.NETWORK_ATTEMPTS) + "**"
        )
    )
    add("")
    add("Per run (the median is the middle one):")
    add("")
    add("| figure | service | runs |")
    add("|---|---|---|")
    labels = {svc["key"]: svc["label"] for svc in services}
    for figure, name in (
        ("c1", "1. concurrency 1 (req/s, p50, p99)"),
        ("c8", f"2. concurrency {args.concurrency} (req/s, p50, p99)"),
        ("batch", "3. 1,000 rows (p50)"),
    ):
        for key, samples in results["figures"][figure].items():
            if figure == "batch":
                runs = "; ".join(ms(x["p50"]) for x in samples)
            else:
                runs = "; ".join(
                    f"{x['rps']:,.0f}/s, {ms(x['p50'])}, {ms(x['p99'])}" for x in samples
                )
            add(f"| {name} | {labels[key]} | {runs} |")
    add("")
    if results.get("profile") and "error" not in results["profile"]:
        add(
            "py-spy profile of mlstage (1 worker) under load (`--profile`: 500 samples/s during "
            "one more run each; `gil`: only the thread holding the GIL, i.e. where the CPU "
            "time of Python goes; `all`: every thread, waiting ones included, i.e. where the "
            "threads spend their time). Share of samples, each sample counted in the part of "
            "its deepest frame that belongs to one (`bench/serving/pyspy_summary.py`):"
        )
        add("")
        keys = list(results["profile"])
        add("| part of the service | " + " | ".join(keys) + " |")
        add("|---|" + "---|" * len(keys))
        names: list[str] = []
        for k in keys:
            for name in results["profile"][k]["summary"].get("categories", {}):
                if name not in names:
                    names.append(name)
        for name in names:
            cells = [
                f"{results['profile'][k]['summary'].get('categories', {}).get(name, 0):.0%}"
                for k in keys
            ]
            add(f"| {name} | " + " | ".join(cells) + " |")
        add(
            "| (req/s while sampled) | "
            + " | ".join(f"{results['profile'][k]['load']['rps']:,.0f}" for k in keys)
            + " |"
        )
        add("")
    add("Raw samples of the last run: `bench/results/serving.json`.")
    return "\n".join(lines), summary


def render_only() -> int:
    """The section again from the last published run's raw results, nothing measured."""
    raw = RESULTS / "serving.json"
    results = json.loads(raw.read_text(encoding="utf-8"))
    rt.NETWORK_ATTEMPTS[:] = results.get("network_attempts", [])
    rt.QUIET["budget"] = results.get("args", {}).get("quiet_budget", rt.QUIET["budget"])
    section, table = render(results, argparse.Namespace(**results["args"]))
    results["table"] = table
    raw.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    rt.write_markdown(section, BEGIN, END)
    log(f"rewrote the serving section of {BENCHMARKS_MD.relative_to(REPO)} from {raw.name}")
    return 0


# -- main ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per service and figure")
    parser.add_argument("--seconds", type=int, default=6, help="length of one wrk run")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-requests", type=int, default=30)
    parser.add_argument("--model-calls", type=int, default=1000, help="figure 4, in-process")
    parser.add_argument("--no-workers-2", action="store_true", help="skip mlstage --workers 2")
    parser.add_argument("--quiet-budget", type=float, default=100.0)
    parser.add_argument("--mlstage-python", default=None)
    parser.add_argument("--no-probe", action="store_true", help="skip the overhead probe")
    parser.add_argument(
        "--probe-variants",
        default="real,timed,pool4-timed,inline,stub,stub-nolog",
        help="variants of bench/serving/overhead_probe.py to run (figure 4b)",
    )
    parser.add_argument(
        "--gc-variants",
        default="real,nofreeze",
        help="variants of bench/serving/overhead_probe.py at concurrency 8 (figure 2b)",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the mlstage service")
    parser.add_argument("--py-spy", default=None, help="path to py-spy")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the section from bench/results/serving.json (after editing the report)",
    )
    args = parser.parse_args()
    if args.render_only:
        return render_only()
    rt.QUIET["budget"] = args.quiet_budget
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")

    started = time.perf_counter()
    mlflow_py = rt.ensure_venv(rt.VENVS / "mlflow", [rt.MLFLOW_REQUIREMENT], "import mlflow")
    mlstage_py = (
        Path(os.path.abspath(args.mlstage_python))
        if args.mlstage_python
        else rt.mlstage_python(None)
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run_serving.py"
        + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "machine": rt.machine(),
        "commit": rt.git_commit(),
        "mlstage_python": os.path.relpath(mlstage_py, REPO),
        "mlflow_python": os.path.relpath(mlflow_py, REPO),
        "wrk": (wrk_version.stdout + wrk_version.stderr).split("Copyright")[0].strip(),
        "args": vars(args),
    }
    root = rt.fresh_folder("serving")
    shared, ml_dir, mf_dir = root / "shared", root / "mlstage", root / "mlflow"
    for folder in (shared, ml_dir, mf_dir):
        folder.mkdir()
    net_log = root / "network.log"
    ml_env = tool_env("mlstage", mlstage_py, ml_dir, net_log)
    mf_env = tool_env("mlflow", mlflow_py, mf_dir, net_log)
    services: list[Service] = []
    try:
        results["info"] = {
            "mlstage": run_worker(mlstage_py, "mlstage", "info", shared, ml_env),
            "mlflow": run_worker(mlflow_py, "mlflow", "info", shared, mf_env),
        }
        for key in ("sklearn", "skops", "numpy", "pandas"):
            if results["info"]["mlstage"][key] != results["info"]["mlflow"][key]:
                log(f"note: the venvs differ in {key}: {results['info']}")
        log(
            f"mlstage {results['info']['mlstage']['mlstage']} ({mlstage_py}); "
            f"MLflow {results['info']['mlflow']['mlflow']} ({mlflow_py}); {results['wrk']}"
        )
        results["trained"] = run_worker(mlstage_py, "mlstage", "train", shared, ml_env)
        log(f"model: random forest, 100 trees, {results['trained']['nodes']:,} nodes (not timed)")
        results["setup"] = {
            "mlstage": run_worker(
                mlstage_py, "mlstage", "setup", ml_dir, ml_env, "--shared", str(shared)
            ),
            "mlflow": run_worker(
                mlflow_py, "mlflow", "setup", mf_dir, mf_env, "--shared", str(shared)
            ),
        }
        log("logged, registered and aliased bench@champion in each tool (not timed)")

        rt.wait_for_quiet()
        results["model_time"] = run_worker(
            mlstage_py, "mlstage", "model_time", ml_dir, ml_env,
            "--shared", str(shared), "--n", str(args.model_calls),
        )  # fmt: skip
        mt = results["model_time"]["median"]
        log(
            "4. model in-process, one row: predict_proba "
            f"{ms2(mt['proba'])}, + predict {ms2(mt['proba_predict'])}, the service's model step "
            f"{ms2(mt['service_score'])}, predict_proba on 8 rows {ms2(mt['proba_8'])}"
        )
        rt.wait_for_quiet()
        results["model_time_mlflow"] = run_worker(
            mlflow_py, "mlflow", "model_time", mf_dir, mf_env, "--shared", str(shared)
        )
        log(
            "   MLflow pyfunc predict in-process, one row: "
            f"{ms2(results['model_time_mlflow']['median']['pyfunc_predict'])}"
        )

        target = "bench@champion"
        specs = [
            ("mlstage", "mlstage (1 worker)", "mlstage", 1),
            ("mlflow", "MLflow (1 worker)", "mlflow", 1),
        ]
        if not args.no_workers_2:
            specs.append(("mlstage_w2", "mlstage (2 workers)", "mlstage", 2))
        for key, label, tool, workers in specs:
            port = free_port()
            if tool == "mlstage":
                cmd = [
                    str(mlstage_py.parent / "mlstage"), "serve", target,
                    "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                ]  # fmt: skip
                svc = Service(key, label, tool, cmd, ml_env, ml_dir, port, "/ready", "/predict",
                              workers)  # fmt: skip
            else:
                cmd = [
                    str(mlflow_py.parent / "mlflow"), "models", "serve",
                    "-m", f"models:/{target}", "--env-manager", "local",
                    "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                ]  # fmt: skip
                svc = Service(key, label, tool, cmd, mf_env, mf_dir, port, "/ping",
                              "/invocations", workers)  # fmt: skip
            rt.wait_for_quiet()
            services.append(svc)
            svc.start()
            log(f"started {label} on port {port} in {svc.startup:.1f} s: {len(svc.pids)} "
                f"process(es): {'; '.join(svc.tree)}")  # fmt: skip

        bodies = {k: shared / v for k, v in {
            "mlstage_row": "mlstage-row.json",
            "mlstage_batch": "mlstage-batch.json",
            "mlflow_row": "mlflow-row.json",
            "mlflow_batch": "mlflow-batch.json",
        }.items()}  # fmt: skip
        data = json.loads((shared / "data.json").read_text(encoding="utf-8"))
        results["checks"] = {}
        for svc in services:
            results["checks"][svc.key] = check_answers(svc, bodies, data)
            run_wrk(svc, bodies[f"{svc.tool}_row"], args.concurrency, 1)  # warm-up
            run_batch(svc, bodies[f"{svc.tool}_batch"].read_bytes(), 3)
        log("every service answers the row and the 1,000 rows as the model does in-process")

        measure(services, bodies, args, results)
        if not args.no_probe:
            log(f"4b. overhead probe ({args.probe_variants}), concurrency 1")
            results["probe"] = run_probe(
                mlstage_py, ml_env, ml_dir, bodies["mlstage_row"], args, args.probe_variants, 1,
                min(args.seconds, 4),
            )  # fmt: skip
            log(f"2b. garbage-collection probe ({args.gc_variants}), concurrency 8")
            results["probe_gc"] = run_probe(
                mlstage_py, ml_env, ml_dir, bodies["mlstage_row"], args, args.gc_variants,
                args.concurrency, min(args.seconds, 5),
            )  # fmt: skip
        if args.profile:
            log("profiling mlstage (1 worker) under load with py-spy")
            results["profile"] = profile_mlstage(services[0], bodies["mlstage_row"], args)
        results["services"] = [
            {
                "key": svc.key,
                "label": svc.label,
                "command": " ".join([os.path.basename(svc.cmd[0]), *svc.cmd[1:]]).replace(
                    f"--port {svc.port}", "--port P"
                ),
                "processes": f"{len(svc.pids)}: " + ", ".join(short_name(w) for w in svc.tree),
                "startup": svc.startup,
                "workers": svc.workers,
                "tree": svc.tree,
            }
            for svc in services
        ]
        results["service_logs"] = {svc.key: svc.tail(8) for svc in services}
    finally:
        for svc in services:
            svc.stop()
        logged = net_log.read_text(encoding="utf-8").splitlines() if net_log.exists() else []
        rt.NETWORK_ATTEMPTS.extend(logged)
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    results["summary"] = summarize(results)
    rt.stamp_end(results, started)
    section, table = render(results, args)
    results["table"] = table
    rt.save_results(results, section, "serving", no_write=args.no_write, begin=BEGIN, end=END)
    return rt.print_summary(table, COLUMNS, results["elapsed"])


if __name__ == "__main__":
    sys.exit(main())
