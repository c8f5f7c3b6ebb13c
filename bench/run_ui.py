#!/usr/bin/env python3
"""Runs page and runs API at 10,000 runs x 50 metrics: mlstage side by side with MLflow.

    python bench/run_ui.py            # everything; updates BENCHMARKS.md (20+ min, MLflow is slow)
    python bench/run_ui.py --only page,api --rounds 1 --no-write

Standard library only. It reuses the tracking harness (``bench/run_tracking.py``:
venvs, quiet-machine wait, machine report, ``write_markdown``), the serving
harness (``bench/run_serving.py``: a server as a process group, free ports,
the loopback-only network guard ``bench/serving/netguard``) and the MLflow
venv (``bench/.venvs/mlflow``, ``pip install "mlflow<3.18"`` on first use);
mlstage runs from the dev venv ``.venv`` (installed editable: the working
tree is what is measured). Helpers: ``bench/ui/``.

Data (``bench/ui/_ui.py``): one experiment of 10,000 runs, each with 50
metrics (one value each), 10 params and 3 tags, the same seeded values for
both tools, each loaded by its own bulk path (``create_run`` + one
``log_batch`` + end per run; ``bench/ui/*_worker.py populate``) into its own
SQLite file. Loading takes minutes (MLflow's ``log_batch`` ~10-20 runs/s
here), so the loaded files are kept in ``bench/.work/ui-data/`` and copied
into a fresh temp folder for every run of this script (``--reload`` loads
again); the load times reported are those of the kept files.

Servers, each one process on 127.0.0.1, on its copy of the data:
``mlstage server --workers 1`` (auth off: the default local mode) and
``mlflow server --workers 1`` (uvicorn; MLflow's default is 4 workers), plus,
for one figure, a second ``mlstage server --workers 1`` with
``MLSTAGE_AUTH_REQUIRED=true`` on the same file and a signed-in session.

Figures (one keep-alive ``http.client`` connection per server from this
process; each figure: --rounds rounds, the tools alternating, a quiet-machine
wait and one untimed request before each; p50 and p95 of the round's
--requests requests, then the median over the rounds):

  page    the runs page, first page (100 rows) sorted by metric m3 descending:
          mlstage's server-rendered ``/experiments/<id>`` with 50 metric and
          10 param columns; MLflow's React UI: its static ``index.html`` plus
          the ``POST /ajax-api/2.0/mlflow/runs/search`` the UI sends for the
          same view (the body is the one the UI sends, captured in Chromium:
          max_results 100, ``metrics.`m3` DESC``); then the same under sorting
          by m42, filtering (``metrics.m7 > 0.5``) and on page 50
  api     the REST search: a page of 100 ordered by m3, and all 10,000 runs
          in one request (both servers take up to 50,000 a page)
  client  ``search_runs`` of each Python client against its server (all runs
          as a DataFrame), in fresh worker processes of each venv
  browser headless Chromium (Playwright, Debian's ``/usr/bin/chromium``), from
          navigation to the first table row showing the expected run: cold
          (fresh context) and warm (the page opened again)
  auth    mlstage's page and API page with auth on, as a signed-in session
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import run_serving as rs  # the serving harness: servers as process groups, ports, netguard
import run_tracking as rt  # the tracking harness, next to this file

sys.path.insert(0, str(rt.BENCH / "ui"))
import _ui as u

BENCH = rt.BENCH
REPO = rt.REPO
HELPERS = BENCH / "ui"
DATA = rt.WORK / "ui-data"
RESULTS = rt.RESULTS
BEGIN, END = "<!-- ui:begin -->", "<!-- ui:end -->"
COLUMNS = [("figure", "figure"), ("mlstage p50", "mlstage"), ("MLflow p50", "mlflow"),
           ("ratio", "ratio"), ("goal p50 < 1 s", "result")]  # fmt: skip
"""The summary table printed at the end: (title, key of a summary row)."""
GOAL = 1.0  # the issue: mlstage's runs page and runs API, p50 under 1 s
FIGURES = ("page", "api", "client", "browser", "auth")
AUTH_USER, AUTH_PASSWORD = "bench-viewer", "bench-password-0123"

log = rt.log
median = rt.median
fmt_time = rt.fmt_time


# -- data and servers -------------------------------------------------------------------


def worker_env(tool: str, python: Path, folder: Path, net_log: Path) -> dict[str, str]:
    env = rs.tool_env(tool, python, folder, net_log)  # netguard, telemetry off, the store
    env["PYTHONPATH"] = f"{rs.NETGUARD}{os.pathsep}{HELPERS}"
    return env


def run_worker(
    tool: str, python: Path, folder: Path, net_log: Path, scenario: str, *args: str, env=None
) -> dict[str, Any]:
    cmd = [str(python), str(HELPERS / f"{tool}_worker.py"), scenario, "--dir", str(folder), *args]
    env = env or worker_env(tool, python, folder, net_log)
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=7200)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{tool} {scenario} failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1].removeprefix("BENCH_RESULT "))


def ensure_data(
    tool: str, python: Path, args: argparse.Namespace, net_log: Path, version: str
) -> tuple[Path, dict[str, Any]]:
    """The loaded SQLite file of ``tool`` (loading it first if missing), and how it was loaded."""
    folder = DATA / f"{args.runs}x{args.metrics}" / tool
    marker = folder / "populate.json"
    if marker.exists() and not args.reload:
        loaded = json.loads(marker.read_text(encoding="utf-8"))
        log(
            f"data: {tool} file kept from {loaded['date']} (loaded in {loaded['seconds']:.0f} s, "
            f"{loaded['runs'] / loaded['seconds']:.1f} runs/s); --reload loads again"
        )
        return folder, loaded
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"data: loading {args.runs:,} runs x {args.metrics} metrics into {tool} (minutes)")
    loaded = run_worker(
        tool, python, folder, net_log, "populate", "--runs", str(args.runs),
        "--metrics", str(args.metrics),
    )  # fmt: skip
    loaded["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    loaded["version"] = version
    loaded["commit"] = rt.git_commit()
    loaded["load_average"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    marker.write_text(json.dumps(loaded) + "\n", encoding="utf-8")
    log(
        f"data: {tool} loaded in {loaded['seconds']:.0f} s ({args.runs / loaded['seconds']:.1f} "
        f"runs/s; load average at the end {loaded['load_average']})"
    )
    return folder, loaded


def copy_data(tool: str, source: Path) -> Path:
    """A fresh temp folder with a copy of the tool's database: the servers write to theirs."""
    folder = rt.fresh_folder(f"ui-{tool}")
    name = f"{tool}.db"
    shutil.copy2(source / name, folder / name)
    return folder


def start_servers(
    pythons: dict[str, Path], folders: dict[str, Path], net_log: Path, with_auth: bool
) -> dict[str, rs.Service]:
    services: dict[str, rs.Service] = {}
    ml_bin, mf_bin = pythons["mlstage"].parent, pythons["mlflow"].parent
    port = rs.free_port()
    services["mlstage"] = rs.Service(
        "mlstage", "mlstage server --workers 1", "mlstage",
        [str(ml_bin / "mlstage"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        rs.tool_env("mlstage", pythons["mlstage"], folders["mlstage"], net_log),
        folders["mlstage"], port, "/ready", "/", 1,
    )  # fmt: skip
    port = rs.free_port()
    mf_folder = folders["mlflow"]
    services["mlflow"] = rs.Service(
        "mlflow", "mlflow server --workers 1", "mlflow",
        [str(mf_bin / "mlflow"), "server", "--backend-store-uri",
         f"sqlite:///{mf_folder / 'mlflow.db'}", "--default-artifact-root",
         str(mf_folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        mlflow_env(pythons["mlflow"], mf_folder, net_log),
        mf_folder, port, "/health", "/", 1,
    )  # fmt: skip
    if with_auth:
        env = rs.tool_env("mlstage", pythons["mlstage"], folders["mlstage"], net_log)
        env["MLSTAGE_AUTH_REQUIRED"] = "true"
        create_user(ml_bin, env, folders["mlstage"])
        port = rs.free_port()
        services["auth"] = rs.Service(
            "auth", "mlstage server --workers 1 (auth on)", "mlstage",
            [str(ml_bin / "mlstage"), "server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            env, folders["mlstage"], port, "/ready", "/", 1,
        )  # fmt: skip
    for service in services.values():
        service.start(timeout=180)
        log(f"  {service.label} on port {service.port}: ready in {service.startup:.1f} s")
    for service in services.values():
        settle(service)
    return services


def mlflow_env(python: Path, folder: Path, net_log: Path) -> dict[str, str]:
    """MLflow's server environment, its job runner off.

    By default ``mlflow server`` also starts a job runner and eight huey
    consumer processes (for its GenAI jobs), which import MLflow and poll
    their queue: CPU taken from both servers on a 2-core machine, and nothing
    a runs page needs.
    """
    env = rs.tool_env("mlflow", python, folder, net_log)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    return env


def settle(service: rs.Service, idle: float = 0.03, limit: float = 90.0) -> None:
    """Wait until the server's processes use under ``idle`` of a core (start-up work done)."""
    started = time.monotonic()
    pids = rs.process_tree(service.proc.pid) if service.proc else service.pids
    before = rs.cpu_seconds(pids)
    while time.monotonic() - started < limit:
        time.sleep(2.0)
        after = rs.cpu_seconds(pids)
        if (after - before) / 2.0 < idle:
            break
        before = after
    log(f"  {service.label}: idle after {time.monotonic() - started:.0f} s")


def create_user(ml_bin: Path, env: dict[str, str], folder: Path) -> None:
    cmd = [str(ml_bin / "mlstage"), "users", "create", AUTH_USER, "--role", "viewer"]
    done = subprocess.run(
        [*cmd, "--password-stdin"],
        input=AUTH_PASSWORD + "\n",
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mlstage users create failed: {done.stdout}{done.stderr}")


# -- the HTTP client ---------------------------------------------------------------------


class Client:
    """One keep-alive connection to a server; a request is sent whole and read to the end.

    Both servers run uvicorn, which closes a connection idle for 5 s: after
    ``IDLE`` seconds without a request (a quiet-machine wait, another figure)
    the client opens a new one first. Timed requests follow each other at once.
    """

    IDLE = 3.0

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.reconnects = 0
        self.last = time.monotonic()

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes, Any]:
        if time.monotonic() - self.last > self.IDLE:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        self.last = time.monotonic()
        if response.will_close:  # keep-alive refused: count it, go on with a new connection
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
            self.reconnects += 1
        return response.status, payload, response

    def close(self) -> None:
        self.conn.close()


Step = tuple[str, str, Any]  # method, path, JSON body or None

ROW_NAME = re.compile(r'<td class="name"><a href="/runs/[^"]+">([^<]+)</a>')
METRIC_HEADER = re.compile(r'<th class="group">metric</th>')


def names_of(kind: str, payload: bytes) -> tuple[list[str], int, int]:
    """Run names in order, the number of rows and of metric columns, from an answer."""
    if kind == "html":
        text = payload.decode()
        found = ROW_NAME.findall(text)
        return found, len(found), len(METRIC_HEADER.findall(text))
    data = json.loads(payload)
    runs = data.get("runs", [])
    if kind == "mlflow":
        names = [r["info"]["run_name"] for r in runs]
        width = len(runs[0]["data"].get("metrics", [])) if runs else 0
    else:
        names = [r["name"] for r in runs]
        width = len(runs[0].get("metrics", {})) if runs else 0
    return names, len(names), width


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure(
    label: str,
    cases: dict[str, tuple[Client, list[Step], str]],
    args: argparse.Namespace,
    requests: int,
    rounds: int | None = None,
    warm: bool = True,
) -> dict[str, Any]:
    """One figure: ``cases`` maps a tool to its client, the steps of one sample, the answer kind.

    The last step's answer is checked (rows, first names) in the untimed request of each
    round; without ``warm`` (answers that take MLflow minutes) there is no untimed request
    and the first timed one is checked.
    """
    out: dict[str, Any] = {"samples": {}, "rounds": {}, "check": {}}
    order = list(cases)
    for rnd in range(rounds or args.rounds):
        for tool in order if rnd % 2 == 0 else list(reversed(order)):
            client, steps, kind = cases[tool]
            rt.wait_for_quiet()
            last = b""
            times = []
            t0 = time.perf_counter()
            for method, path, body in steps:  # warms caches (untimed when warm), checks the answer
                status, last, _ = client.call(method, path, body)
                if status != 200:
                    raise RuntimeError(
                        f"{label} {tool}: {method} {path[:80]} -> {status}: {last[:300]!r}"
                    )
            if not warm:
                times.append(time.perf_counter() - t0)
            names, rows, width = names_of(kind, last)
            out["check"][tool] = {
                "first": names[:5],
                "rows": rows,
                "metrics": width,
                "bytes": len(last),
            }
            for _ in range(requests - len(times)):
                t0 = time.perf_counter()
                for method, path, body in steps:
                    client.call(method, path, body)
                times.append(time.perf_counter() - t0)
            out["samples"].setdefault(tool, []).extend(times)
            out["rounds"].setdefault(tool, []).append(
                {"p50": percentile(times, 50), "p95": percentile(times, 95)}
            )
            log(
                f"  {label:22s} {tool:8s} round {rnd + 1}: p50 {fmt_time(percentile(times, 50))}, "
                f"p95 {fmt_time(percentile(times, 95))} ({rows} rows, {width} metrics, "
                f"{len(last):,} B)"
            )
    out["p50"] = {t: median([r["p50"] for r in v]) for t, v in out["rounds"].items()}
    out["p95"] = {t: median([r["p95"] for r in v]) for t, v in out["rounds"].items()}
    firsts = {tuple(c["first"]) for c in out["check"].values()}
    if len(firsts) != 1:
        raise RuntimeError(f"{label}: the tools answer with different runs: {out['check']}")
    return out


# -- the views ------------------------------------------------------------------------------


def mlstage_page_path(experiment_id: str, order: str, filter: str = "", offset: int = 0) -> str:
    pairs: list[tuple[str, str]] = []
    if filter:
        pairs.append(("filter", filter))
    pairs.append(("order", order))
    if offset:
        token = base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()
        pairs.append(("page", token))
    pairs += [("col", f"metrics.{k}") for k in u.metric_keys(NUM_METRICS[0])]
    pairs += [("col", f"params.{k}") for k in u.param_keys()]
    return f"/experiments/{experiment_id}?{urlencode(pairs)}"


def mlflow_ui_body(experiment_id: str, metric: str, filter: str = "", offset: int = 0) -> dict:
    """The body MLflow's runs page sends (captured in Chromium; see ``capture_mlflow_request``)."""
    body: dict[str, Any] = {
        "experiment_ids": [experiment_id],
        "run_view_type": "ACTIVE_ONLY",
        "max_results": u.PAGE_SIZE,
        "order_by": [f"metrics.`{metric}` DESC"],
    }
    if filter:
        body["filter"] = filter
    if offset:  # MLflow's own token: base64 of {"offset": n}, as its store makes them
        body["page_token"] = base64.b64encode(json.dumps({"offset": offset}).encode()).decode()
    return body


NUM_METRICS = [u.N_METRICS]  # set from --metrics in main()
MLFLOW_SEARCH = "/ajax-api/2.0/mlflow/runs/search"
MLFLOW_API = "/api/2.0/mlflow/runs/search"
MLSTAGE_API = "/api/v1/runs/search"


def figure_pages(
    clients: dict[str, Client], ids: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    ml, mf = ids["mlstage"], ids["mlflow"]
    offset = (args.page - 1) * u.PAGE_SIZE
    views = {
        "first": ("first page, sorted by m3", u.ORDER_METRIC, "", 0),
        "sort": ("sorted by m42", u.OTHER_ORDER_METRIC, "", 0),
        "filter": (f"filter {u.FILTER}", u.ORDER_METRIC, u.FILTER, 0),
        "deep": (f"page {args.page}, sorted by m3", u.ORDER_METRIC, "", offset),
    }
    out: dict[str, Any] = {}
    for key, (label, metric, filter, skip) in views.items():
        page = mlstage_page_path(ml, f"metrics.{metric} DESC", filter, skip)
        body = mlflow_ui_body(mf, metric, filter, skip)
        cases = {
            "mlstage": (clients["mlstage"], [("GET", page, None)], "html"),
            "mlflow": (
                clients["mlflow"],
                [("GET", "/", None), ("POST", MLFLOW_SEARCH, body)],
                "mlflow",
            ),
        }
        if key == "first":
            cases["mlflow-search"] = (clients["mlflow"], [("POST", MLFLOW_SEARCH, body)], "mlflow")
            cases["mlflow-html"] = (clients["mlflow"], [("GET", "/", None)], "skip")
        out[key] = measure_views(f"page {key}", cases, args)
        out[key]["label"] = label
        out[key]["mlstage_path"] = page
        out[key]["mlflow_body"] = body
    return out


def measure_views(label: str, cases: dict, args: argparse.Namespace) -> dict[str, Any]:
    """``measure``, with the static-HTML-only case checked for its status alone."""
    static = {k: v for k, v in cases.items() if v[2] == "skip"}
    checked = {k: v for k, v in cases.items() if v[2] != "skip"}
    out = measure(label, checked, args, args.requests)
    for tool, (client, steps, _) in static.items():
        times = []
        for _ in range(args.rounds):
            rt.wait_for_quiet()
            client.call(*steps[0])
            for _ in range(args.requests):
                t0 = time.perf_counter()
                status, payload, _ = client.call(*steps[0])
                times.append(time.perf_counter() - t0)
                if status != 200:
                    raise RuntimeError(f"{tool}: {steps[0]} -> {status}")
        out["samples"][tool] = times
        out["p50"][tool] = percentile(times, 50)
        out["p95"][tool] = percentile(times, 95)
        out["check"][tool] = {"bytes": len(payload)}
        log(f"  {label:22s} {tool:8s}: p50 {fmt_time(out['p50'][tool])} ({len(payload):,} B)")
    return out


def figure_api(
    clients: dict[str, Client], ids: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    ml, mf = ids["mlstage"], ids["mlflow"]
    order = f"metrics.{u.ORDER_METRIC} DESC"
    out: dict[str, Any] = {}
    for key, size, requests, rounds in (
        ("page", u.PAGE_SIZE, args.requests, args.rounds),
        ("all", args.runs, args.requests_all, args.rounds_all),
    ):
        warm = key == "page" or args.warm_all
        mine = {"experiment_ids": [ml], "order_by": [order], "max_results": size}
        theirs = {"experiment_ids": [mf], "order_by": [order], "max_results": size}
        cases = {
            "mlstage": (clients["mlstage"], [("POST", MLSTAGE_API, mine)], "mlstage"),
            "mlflow": (clients["mlflow"], [("POST", MLFLOW_API, theirs)], "mlflow"),
        }
        out[key] = measure(f"api {key}", cases, args, requests, rounds, warm)
        expected = min(size, args.runs)
        for tool, check in out[key]["check"].items():
            if check["rows"] != expected:
                raise RuntimeError(f"api {key}: {tool} answered {check['rows']} runs")
    return out


def figure_auth(
    services: dict[str, rs.Service], ids: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """mlstage with auth on: the first page and the API page as a signed-in session."""
    port = services["auth"].port
    client = Client(port)
    status, payload, response = client.call(
        "POST", "/login", {"name": AUTH_USER, "password": AUTH_PASSWORD}
    )
    if status != 200:
        raise RuntimeError(f"login failed ({status}): {payload[:300]!r}")
    cookies = [v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    client.headers["Cookie"] = "; ".join(cookies)
    anonymous = Client(port)
    status, _, _ = anonymous.call("GET", f"/experiments/{ids['mlstage']}")
    anonymous.close()
    if status not in (401, 303, 302, 307):
        raise RuntimeError(f"auth on, yet an anonymous page answered {status}")
    page = mlstage_page_path(ids["mlstage"], f"metrics.{u.ORDER_METRIC} DESC")
    body = {
        "experiment_ids": [ids["mlstage"]],
        "order_by": [f"metrics.{u.ORDER_METRIC} DESC"],
        "max_results": u.PAGE_SIZE,
    }
    csrf = json.loads(payload).get("csrf_token", "")
    api_client = Client(port, {"Cookie": client.headers["Cookie"], "X-CSRF-Token": csrf})
    out = measure(
        "auth",
        {
            "page": (client, [("GET", page, None)], "html"),
            "api": (api_client, [("POST", MLSTAGE_API, body)], "mlstage"),
        },
        args,
        args.requests,
    )
    out["anonymous_status"] = status
    client.close()
    api_client.close()
    return out


def figure_client(
    pythons: dict[str, Path],
    services: dict[str, rs.Service],
    folders: dict[str, Path],
    net_log: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """``search_runs`` of each Python client against its server, all runs as a DataFrame."""
    out: dict[str, Any] = {"samples": {}, "check": {}}
    tools = ["mlstage", "mlflow"]
    for i in range(args.client_processes):
        for tool in tools if i % 2 == 0 else list(reversed(tools)):
            folder = rt.fresh_folder(f"ui-client-{tool}")
            try:
                env = worker_env(tool, pythons[tool], folder, net_log)
                url = f"http://127.0.0.1:{services[tool].port}"
                env.pop("MLFLOW_TRACKING_URI", None)
                if tool == "mlstage":
                    env["MLSTAGE_TRACKING_URI"] = url
                rt.wait_for_quiet()
                warm = [] if args.warm_all else ["--no-warm"]
                r = run_worker(
                    tool, pythons[tool], folder, net_log, "search", "--url", url,
                    "--repeat", str(args.client_repeat), "--mode", "all", *warm, env=env,
                )  # fmt: skip
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            out["samples"].setdefault(tool, []).extend(r["times"])
            out["check"][tool] = {k: r[k] for k in ("rows", "columns", "first_names")}
            log(
                f"  client search_runs     {tool:8s} process {i + 1}: {r['rows']:,} rows x "
                f"{r['columns']} columns, {[round(t, 2) for t in r['times']]} s"
            )
    out["p50"] = {t: median(v) for t, v in out["samples"].items()}
    out["p95"] = {t: percentile(v, 95) for t, v in out["samples"].items()}
    firsts = {tuple(c["first_names"]) for c in out["check"].values()}
    if len(firsts) != 1:
        raise RuntimeError(f"search_runs: the tools answer with different runs: {out['check']}")
    return out


def figure_browser(
    services: dict[str, rs.Service],
    ids: dict[str, str],
    expected_first: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mlstage-bench-ui-browser-"))
    shots = rt.WORK / "ui-screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    ml, mf = services["mlstage"], services["mlflow"]
    sort_key = quote(f"metrics.`{u.ORDER_METRIC}`", safe="")
    targets = [
        {
            "label": "mlstage",
            "url": f"http://127.0.0.1:{ml.port}"
            + mlstage_page_path(ids["mlstage"], f"metrics.{u.ORDER_METRIC} DESC"),
            "selector": "#runs tbody tr",
            "name": expected_first,
            "rows": u.PAGE_SIZE,
        },
        {
            "label": "mlflow",
            "url": f"http://127.0.0.1:{mf.port}/#/experiments/{ids['mlflow']}/runs"
            f"?orderByKey={sort_key}&orderByAsc=false",
            "selector": '.ag-row[row-index="0"]',
            "name": expected_first,
        },
    ]
    (work / "targets.json").write_text(json.dumps(targets), encoding="utf-8")
    out_file = work / "result.json"
    cmd = [
        str(rt.venv_python(REPO / ".venv")), str(HELPERS / "browser.py"),
        "--targets", str(work / "targets.json"), "--rounds", str(args.browser_rounds),
        "--out", str(out_file), "--screenshots", str(shots), "--timeout", "300",
    ]  # fmt: skip
    rt.wait_for_quiet()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=rt.base_env())
    for line in done.stdout.splitlines():
        log(f"  browser {line}")
    if done.returncode != 0:
        raise RuntimeError(f"browser failed:\n{done.stderr[-3000:]}")
    result = json.loads(out_file.read_text(encoding="utf-8"))
    shutil.rmtree(work, ignore_errors=True)
    for url in result["outside"]:
        rt.NETWORK_ATTEMPTS.append(f"chromium: {url}")
    result["urls"] = {t["label"]: t["url"] for t in targets}
    result["p50"] = {t: {k: median(v) for k, v in s.items()} for t, s in result["samples"].items()}
    result["p95"] = {
        t: {k: percentile(v, 95) for k, v in s.items()} for t, s in result["samples"].items()
    }
    return result


# -- report -----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:,.2f} s"
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:,.1f} ms"


def time_ratio(a: float, b: float) -> str:
    """mlstage's time over MLflow's: ``1/N`` when mlstage is faster."""
    if a <= b:
        return f"1/{b / a:,.1f}" if b / a < 100 else f"1/{b / a:,.0f}"
    return f"{a / b:,.1f} (slower)"


def verdict(p50: float) -> str:
    return "**pass**" if p50 < GOAL else "**FAIL**"


def interpretation(results: dict[str, Any]) -> list[str]:
    """What the reader needs to weigh the figures: the machine's load, what a miss is made of."""
    out = []
    busy = results.get("busy_seen") or []
    if busy and median(busy) > rt.QUIET["threshold"]:
        out.append(
            f"The machine was shared and busy (other processes used a median {median(busy):.0%} "
            "of its CPUs just before each measurement): every time here, both tools', is longer "
            "than on a quiet machine, MLflow's long requests most."
        )
    api = results.get("api", {}).get("all")
    if api:
        out.append(
            "How mlstage answers all 10,000 runs at once (500,000 metric values, 100,000 params "
            "and 30,000 tags): the database aggregates each run's metrics, params and tags into "
            "one text each (metrics from `latest_metrics.json_member`, each metric's "
            '`"key":value` written with it; params and tags through SQLite\'s '
            "`json_group_object`), and writes each run's head with `json_object`, so 10,000 rows "
            "reach Python, not 650,000; the run ids go in as one JSON-array parameter "
            "(`json_each`). The REST answer is those texts joined (21 MB of JSON; MLflow's: "
            "95 MB). The Python client asks for the same page as an Arrow table (`Accept: "
            "application/vnd.apache.arrow.stream`, 5.9 MB), parsed by Arrow's C++ and turned "
            "into the DataFrame without a `Run` object per run."
        )
        if api["p50"]["mlstage"] >= GOAL:
            out.append(
                "mlstage misses the 1 s goal for all 10,000 runs in one answer here; the page of "
                "100 that the UI and a paging client ask for passes."
            )
    browser = results.get("browser")
    if browser and browser["p50"]["mlstage"]["cold"] >= GOAL:
        out.append(
            "The cold browser time includes a fresh browser context (a new renderer process) "
            "and the first fetch of the page's CSS and JavaScript (3 requests in all for "
            "mlstage, 46 for MLflow); the warm time is the page alone."
        )
    return out


def render(results: dict[str, Any], args: argparse.Namespace) -> tuple[str, list[dict]]:
    info = results["info"]
    m = results["machine"]
    lines: list[str] = []
    summary: list[dict] = []
    add = lines.append
    scale = f"{args.runs:,} runs x {args.metrics} metrics"
    add(f"## Runs page and runs API at {scale}: mlstage vs MLflow")
    add("")
    add(
        f"Measured {results['date']} by `{results['command']}` ({results['elapsed']:.0f} s in "
        "all). Generated by the script; edit it, not this section. Goal (issue 5): mlstage's "
        "runs page and runs API answer with p50 under 1 s on this machine."
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
        over = sum(1 for b in busy if b > rt.QUIET["threshold"])
        add(
            f"| other processes' CPU use just before each measurement | median {median(busy):.0%},"
            f" max {max(busy):.0%}; {over} of {len(busy)} measurements started above "
            f"{rt.QUIET['threshold']:.0%}; {results.get('waited', 0):.0f} s spent waiting for "
            "quiet |"
        )
    add("")
    ms_, mf = info["mlstage"], info["mlflow"]
    add("| versions | mlstage side | MLflow side |")
    add("|---|---|---|")
    add(f"| tool | mlstage {ms_['mlstage']} (commit {results['commit']}) | MLflow {mf['mlflow']} |")
    for key, label in (
        ("python", "Python"),
        ("sqlalchemy", "SQLAlchemy"),
        ("sqlite", "SQLite library"),
        ("fastapi", "FastAPI"),
        ("uvicorn", "uvicorn"),
        ("pandas", "pandas (the `search_runs` DataFrame)"),
    ):
        add(f"| {label} | {ms_.get(key, '-')} | {mf.get(key, '-')} |")
    if "browser" in results:
        add(f"| Chromium (both) | {results['browser']['chromium']} | |")
    add(
        "| server | `mlstage server --workers 1` (one uvicorn process), auth off (the default "
        "local mode) | `mlflow server --workers 1` (uvicorn; MLflow's default is 4), "
        "`--backend-store-uri sqlite:///...`, its job runner off "
        "(`MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false`: by default it starts nine more processes "
        "for GenAI jobs) |"
    )
    add("")
    loaded = results["loaded"]
    add(
        f"Data: one experiment, {args.runs:,} runs, each with {args.metrics} metrics (one value "
        f"each, uniform random, the same seeded values for both), {u.N_PARAMS} params and 3 tags. "
        "Loaded by each tool's bulk path, one run at a time: `create_run` with the tags, one "
        "`log_batch` with every metric and param, then the end of the run (mlstage: its SQL "
        "store; MLflow: `MlflowClient` on the SQLite file). Loading is not a figure: "
        + "; ".join(
            f"{rt.TOOL_LABEL[t]} took {x['seconds']:.0f} s ({args.runs / x['seconds']:,.1f} "
            f"runs/s; loaded {x['date']}, load average {x.get('load_average', '?')} at the end)"
            for t, x in loaded.items()
        )
        + ". Each run of the script works on fresh copies of the two files."
    )
    add("")
    add(
        f"Client: this script, one keep-alive `http.client` connection per server. Each figure: "
        f"{args.rounds} rounds, the tools alternating, a quiet-machine wait and one untimed "
        f"request before each round, then {args.requests} requests in a row (the "
        f"{args.runs:,}-run answers: {args.rounds_all} rounds of {args.requests_all}"
        + ("" if args.warm_all else ", no untimed request first")
        + ", MLflow taking long); p50 and p95 of each round (interpolated), the median over "
        "the rounds."
    )
    add("")

    def row(figure: str, a50: float, a95: float, b50: float | None, b95: float | None, goal: bool):
        ratio = time_ratio(a50, b50) if b50 else "-"
        other = f"{ms(b50)} / {ms(b95)}" if b50 is not None and b95 is not None else "-"
        result = verdict(a50) if goal else "-"
        add(f"| {figure} | {ms(a50)} / {ms(a95)} | {other} | {ratio} | {result} |")
        summary.append(
            {"figure": figure, "mlstage": ms(a50), "mlflow": ms(b50) if b50 else "-",
             "ratio": ratio, "result": result}
        )  # fmt: skip

    if "page" in results:
        p = results["page"]
        add("### Runs page")
        add("")
        add(
            "mlstage: `GET /experiments/<id>?order=metrics.m3+DESC&col=metrics.m0&...` (the "
            f"server-rendered page: 100 rows, {args.metrics} metric and {u.N_PARAMS} param "
            "columns chosen in the column picker). MLflow: its UI is a React app; what its runs "
            "page fetches to show the same table is the static `GET /` (index.html) and "
            "`POST /ajax-api/2.0/mlflow/runs/search` with the body the UI sends for this view, "
            'captured in Chromium: `{"experiment_ids": [...], "run_view_type": '
            '"ACTIVE_ONLY", "max_results": 100, "order_by": ["metrics.`m3` DESC"]}` (the '
            "UI's page size is 100; its JavaScript bundles are cached by the browser after the "
            "first visit and not counted here; the browser figure below counts everything). "
            "Both answers checked: the same first run names."
        )
        add("")
        add("| view | mlstage p50 / p95 | MLflow p50 / p95 | ratio (p50) | goal p50 < 1 s |")
        add("|---|---|---|---|---|")
        first = p["first"]
        for key in ("first", "sort", "filter", "deep"):
            v = p[key]
            row(
                f"page: {v['label']}",
                v["p50"]["mlstage"], v["p95"]["mlstage"],
                v["p50"]["mlflow"], v["p95"]["mlflow"], True,
            )  # fmt: skip
        add(
            f"| of which MLflow's `runs/search` alone (first page) | | "
            f"{ms(first['p50']['mlflow-search'])} / {ms(first['p95']['mlflow-search'])} | "
            f"{time_ratio(first['p50']['mlstage'], first['p50']['mlflow-search'])} | |"
        )
        add(
            f"| of which MLflow's static `index.html` | | {ms(first['p50']['mlflow-html'])} / "
            f"{ms(first['p95']['mlflow-html'])} | | |"
        )
        c = first["check"]
        add("")
        add(
            f"Answer sizes, first page: mlstage's HTML {c['mlstage']['bytes']:,} B; MLflow's "
            f"search JSON {c['mlflow']['bytes']:,} B plus index.html "
            f"{c['mlflow-html']['bytes']:,} B. Page {args.page} is offset "
            f"{(args.page - 1) * u.PAGE_SIZE:,} (mlstage's page token; MLflow's own token for the "
            f"same offset, as its UI would hold after {args.page - 1} *Load more* clicks)."
        )
        add("")
    if "auth" in results:
        a = results["auth"]
        add(
            "With auth on (a second `mlstage server --workers 1` with `MLSTAGE_AUTH_REQUIRED=true` "
            "on the same file, a viewer signed in through `POST /login`, its session cookie on "
            f"every request; an anonymous request gets {a['anonymous_status']}):"
        )
        add("")
        add("| view | mlstage p50 / p95 | MLflow p50 / p95 | ratio (p50) | goal p50 < 1 s |")
        add("|---|---|---|---|---|")
        row(
            "auth on: page, first page sorted by m3",
            a["p50"]["page"],
            a["p95"]["page"],
            None,
            None,
            True,
        )
        row("auth on: REST search, page of 100", a["p50"]["api"], a["p95"]["api"], None, None, True)
        add("")
    if "api" in results:
        r = results["api"]
        add("### Runs API")
        add("")
        add(
            "REST search ordered by `metrics.m3 DESC`. mlstage: `POST /api/v1/runs/search`; "
            "MLflow: `POST /api/2.0/mlflow/runs/search` (the REST API of `search_runs`). A page "
            f"of 100, and all {args.runs:,} runs in one request (`max_results` {args.runs}; "
            "both servers take up to 50,000 a page). Client-side: `search_runs` of each Python "
            "client against its server, all runs as a pandas DataFrame (fresh worker processes "
            "of each venv, pandas imported before the timed calls on both sides: `import mlflow` "
            "imports it, the mlstage worker imports it and pyarrow (with its compute module) itself"
            + (", one untimed call first)." if args.warm_all else ", no untimed call first).")
        )
        add("")
        add("| call | mlstage p50 / p95 | MLflow p50 / p95 | ratio (p50) | goal p50 < 1 s |")
        add("|---|---|---|---|---|")
        row(
            "REST search, page of 100",
            r["page"]["p50"]["mlstage"], r["page"]["p95"]["mlstage"],
            r["page"]["p50"]["mlflow"], r["page"]["p95"]["mlflow"], True,
        )  # fmt: skip
        row(
            f"REST search, all {args.runs:,} runs",
            r["all"]["p50"]["mlstage"], r["all"]["p95"]["mlstage"],
            r["all"]["p50"]["mlflow"], r["all"]["p95"]["mlflow"], True,
        )  # fmt: skip
        if "client" in results:
            c = results["client"]
            row(
                f"`search_runs()` Python client, all {args.runs:,} runs as a DataFrame",
                c["p50"]["mlstage"], c["p95"]["mlstage"],
                c["p50"]["mlflow"], c["p95"]["mlflow"], True,
            )  # fmt: skip
        sizes = r["all"]["check"]
        add("")
        add(
            f"The {args.runs:,}-run answers: mlstage {sizes['mlstage']['bytes']:,} B of JSON, "
            f"MLflow {sizes['mlflow']['bytes']:,} B."
        )
        add("")
    if "browser" in results:
        b = results["browser"]
        n = len(b["samples"]["mlstage"]["cold"])
        add("### In a browser: time to table")
        add("")
        add(
            f"Headless Chromium {b['chromium']} (Playwright, Debian's `/usr/bin/chromium`, "
            "viewport 1600 x 1000), from `page.goto` to the first table row showing the expected "
            f"first run; {n} rounds after an untimed one, the tools alternating. *Cold*: a fresh "
            "browser context (empty cache); *warm*: the same page opened again in that context "
            "(scripts and styles cached). mlstage: the page URL above; MLflow: "
            "`/#/experiments/<id>/runs?orderByKey=metrics.%60m3%60&orderByAsc=false` (its "
            "runs table, sorted by m3). Chromium resolves 127.0.0.1 only. mlstage sends the "
            "rows below the first screen (25 of 100) hidden and shows them after its first "
            "frame; *all rows shown* is the time until the 100th row is laid out."
        )
        add("")
        add("| | mlstage p50 / p95 | MLflow p50 / p95 | ratio (p50) | goal p50 < 1 s |")
        add("|---|---|---|---|---|")
        for key, label in (("cold", "cold (fresh context)"), ("warm", "warm (opened again)")):
            row(
                f"browser: {label}",
                b["p50"]["mlstage"][key], b["p95"]["mlstage"][key],
                b["p50"]["mlflow"][key], b["p95"]["mlflow"][key], True,
            )  # fmt: skip
        for key, label in (("cold_all", "cold"), ("warm_all", "warm")):
            if b["samples"]["mlstage"].get(key):
                add(
                    f"| browser: {label}, all {u.PAGE_SIZE} rows shown (mlstage; MLflow's grid "
                    f"draws the rows in view only) | {ms(b['p50']['mlstage'][key])} / "
                    f"{ms(b['p95']['mlstage'][key])} | | | "
                    f"{verdict(b['p50']['mlstage'][key])} |"
                )
        reqs = b["requests"]
        add(
            f"| requests made by a cold load | {median(reqs['mlstage']):.0f} | "
            f"{median(reqs['mlflow']):.0f} | | |"
        )
        add("")
    notes = [*(results.get("notes") or []), *interpretation(results)]
    if notes:
        add("Notes:")
        add("")
        for note in notes:
            add(f"- {note}")
        add("")
    net = "none" if not rt.NETWORK_ATTEMPTS else "; ".join(rt.NETWORK_ATTEMPTS)
    add(
        "Network: every Python process (workers and both servers) runs with the loopback-only "
        f"guard of `bench/serving/netguard`; telemetry off. Attempts to leave the machine: {net}."
    )
    add("")
    add("Raw samples of the last run: `bench/results/ui.json`.")
    table = [
        "| figure | mlstage p50 | MLflow p50 | ratio mlstage/MLflow | goal p50 < 1 s |",
        "|---|---|---|---|---|",
    ]
    table += [
        f"| {s['figure']} | {s['mlstage']} | {s['mlflow']} | {s['ratio']} | {s['result']} |"
        for s in summary
    ]
    lines[summary_at:summary_at] = [*table, ""]
    return "\n".join(lines), summary


def render_only() -> int:
    """The section again from the raw samples of the last run, with that run's options."""
    results = json.loads((RESULTS / "ui.json").read_text(encoding="utf-8"))
    args = argparse.Namespace(**results["options"])
    rt.NETWORK_ATTEMPTS[:] = results.get("network_attempts", [])
    section, _ = render(results, args)
    rt.write_markdown(section, BEGIN, END)
    log(f"wrote {rt.BENCHMARKS_MD.relative_to(REPO)} (ui section) from bench/results/ui.json")
    return 0


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(FIGURES), help="figures: " + ",".join(FIGURES))
    parser.add_argument("--runs", type=int, default=u.N_RUNS)
    parser.add_argument("--metrics", type=int, default=u.N_METRICS)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure and tool")
    parser.add_argument("--requests", type=int, default=6, help="timed requests per round")
    parser.add_argument("--rounds-all", type=int, default=2, help="rounds, all runs at once")
    parser.add_argument("--requests-all", type=int, default=2, help="requests, all runs at once")
    parser.add_argument(
        "--no-warm-all",
        dest="warm_all",
        action="store_false",
        help="no untimed request before the all-runs answers (MLflow takes minutes a request)",
    )
    parser.add_argument("--client-processes", type=int, default=1, help="per tool")
    parser.add_argument("--client-repeat", type=int, default=2, help="timed calls per process")
    parser.add_argument("--browser-rounds", type=int, default=3)
    parser.add_argument("--page", type=int, default=u.PAGE, help="the deep page shown")
    parser.add_argument("--reload", action="store_true", help="load the data again")
    parser.add_argument(
        "--quiet-budget", type=float, default=300.0, help="seconds in all to wait for quiet"
    )
    parser.add_argument("--mlstage-python", default=None, help="default: the dev venv .venv")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the temp folders")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the section from bench/results/ui.json; nothing measured",
    )
    args = parser.parse_args()
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    if only - set(FIGURES):
        parser.error(f"--only takes {', '.join(FIGURES)}")
    if not 1 < args.page <= args.runs // u.PAGE_SIZE:
        parser.error(f"--page must be between 2 and {args.runs // u.PAGE_SIZE} (--runs / 100)")
    NUM_METRICS[0] = args.metrics
    rt.QUIET["budget"] = args.quiet_budget
    if args.render_only:
        return render_only()

    started = time.perf_counter()
    pythons = {
        "mlflow": rt.ensure_venv(rt.VENVS / "mlflow", [rt.MLFLOW_REQUIREMENT], "import mlflow"),
        "mlstage": rt.mlstage_python(args.mlstage_python),
    }
    fd, net_name = tempfile.mkstemp(prefix="mlstage-bench-net-", suffix=".log")
    os.close(fd)
    net_log = Path(net_name)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run_ui.py"
        + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "machine": rt.machine(),
        "commit": rt.git_commit(),
        "notes": [],
        "options": {k: v for k, v in vars(args).items() if k != "render_only"},
    }
    scratch = rt.fresh_folder("ui-info")
    try:
        results["info"] = {
            tool: run_worker(tool, python, scratch, net_log, "info")
            for tool, python in pythons.items()
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log(
        f"mlstage {results['info']['mlstage']['mlstage']} ({pythons['mlstage']}); "
        f"MLflow {results['info']['mlflow']['mlflow']} ({pythons['mlflow']})"
    )
    sources, loaded = {}, {}
    for tool in ("mlstage", "mlflow"):
        sources[tool], loaded[tool] = ensure_data(
            tool, pythons[tool], args, net_log, results["info"][tool][tool]
        )
    results["loaded"] = loaded
    ids = {tool: str(loaded[tool]["experiment_id"]) for tool in loaded}
    folders = {tool: copy_data(tool, sources[tool]) for tool in sources}
    services: dict[str, rs.Service] = {}
    clients: dict[str, Client] = {}
    try:
        log("starting the servers")
        services = start_servers(pythons, folders, net_log, "auth" in only)
        clients = {tool: Client(services[tool].port) for tool in ("mlstage", "mlflow")}
        if "page" in only:
            log("figure: the runs page")
            results["page"] = figure_pages(clients, ids, args)
        if "api" in only:
            log("figure: the runs API")
            results["api"] = figure_api(clients, ids, args)
        if "client" in only:
            log("figure: search_runs of the Python clients")
            results["client"] = figure_client(pythons, services, folders, net_log, args)
        if "auth" in only:
            log("figure: mlstage with auth on")
            results["auth"] = figure_auth(services, ids, args)
        if "browser" in only:
            log("figure: time to table in Chromium")
            body = mlflow_ui_body(ids["mlflow"], u.ORDER_METRIC)
            _, payload, _ = clients["mlflow"].call("POST", MLFLOW_SEARCH, body)
            first = names_of("mlflow", payload)[0][0]
            results["browser"] = figure_browser(services, ids, first, args)
        reconnects = {t: c.reconnects for t, c in clients.items()}
        if any(reconnects.values()):
            results["notes"].append(f"connections closed by the server (reopened): {reconnects}")
        results["servers"] = {
            k: {"label": s.label, "startup": s.startup, "processes": s.tree}
            for k, s in services.items()
        }
    finally:
        for client in clients.values():
            client.close()
        for key, service in services.items():
            service.stop()
            if service.log_path.exists():  # kept for a look after the run
                shutil.copy(service.log_path, rt.WORK / f"ui-server-{key}.log")
        if not args.keep:
            for folder in folders.values():
                shutil.rmtree(folder, ignore_errors=True)
        logged = net_log.read_text(encoding="utf-8").splitlines() if net_log.exists() else []
        rt.NETWORK_ATTEMPTS.extend(logged)
        net_log.unlink(missing_ok=True)

    rt.stamp_end(results, started)
    section, summary = render(results, args)
    results["summary"] = summary
    rt.save_results(results, section, "ui", no_write=args.no_write, begin=BEGIN, end=END)
    return rt.print_summary(summary, COLUMNS, results["elapsed"])


if __name__ == "__main__":
    sys.exit(main())
