#!/usr/bin/env python3
"""Dask benchmark: batch scoring and dataset statistics of 10,000,000 rows, Dask vs one process.

    python bench/run_dask.py            # 10-20 minutes on a shared machine; updates BENCHMARKS.md
    python bench/run_dask.py --rows 1000000 --repeats 1 --no-write     # a quick try

Standard library only. It reuses the tracking benchmark's harness
(``bench/run_tracking.py``: quiet-machine wait, machine report, the
BENCHMARKS.md writer) and the pipelines benchmark's network guard and
``dask scheduler`` / ``dask worker`` start-up (``bench/run_pipelines.py``).
mlstage runs from the dev venv ``.venv`` (Dask is there).

The data (``bench/dask/mlstage_worker.py gen``) is written once into
``bench/.work/dask/<rows>-<parts>/`` with NumPy and pyarrow: 10 float
features (two of them 1% missing), a count and a categorical segment; as ``parts/`` (``--parts``
Parquet files) and as one ``all.parquet`` with the same rows, for the
single-process paths. The model is a logistic regression on the 8 complete
features,
registered as ``bench/1`` in the measurement folder's SQLite store.

Figures (every measurement a fresh process, spawn to exit, the executor's
start-up included; medians of ``--repeats``):
  1. Batch scoring: ``mlstage predict bench/1 --input parts/ --output scored/
     --executor dask --json`` (a local cluster of one worker process per core,
     started by the command); the same on a Dask cluster already running
     (``tcp://``: a scheduler and 2 worker processes, warmed up by one run);
     and the local, single-process path ``mlstage predict bench/1 --input
     all.parquet --output scored.parquet`` in chunks of 50,000 rows, for the ratio.
  2. Dataset statistics of the same rows: ``statistics_on_dask`` over ``parts/``
     (local cluster, and the running one) vs the in-memory ``compute_statistics``
     (DuckDB + NumPy, one process) over ``all.parquet``; the exact fields of
     both results are checked equal.
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

import run_pipelines as rp  # the network guard and the running Dask cluster
import run_tracking as rt  # the tracking harness, next to this file

REPO = rt.REPO
WORKER = rt.BENCH / "dask" / "mlstage_worker.py"
DATA = rt.WORK / "dask"
BEGIN, END = "<!-- dask:begin -->", "<!-- dask:end -->"
EXACT_FIELDS = ("count", "missing", "min", "max")

log = rt.log
median = rt.median


def tree_cpu_s(roots: list[int]) -> float:
    """CPU time so far of processes ``roots`` and their descendants (a running cluster's)."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parent[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    total = 0
    for pid in ticks:
        p = pid
        while p > 1 and p not in roots:
            p = parent.get(p, 0)
        if p in roots:
            total += ticks[pid]
    return total / os.sysconf("SC_CLK_TCK")


class Runner:
    """Fresh mlstage processes against one measurement folder (its store holds the model)."""

    def __init__(self, python: Path, folder: Path, net_log: Path) -> None:
        self.python, self.folder, self.net_log = python, folder, net_log
        self.tool = rp.Tool("mlstage", python, net_log)  # for rp.start_dask_cluster
        self.cluster: list[int] = []
        """The running cluster's processes: their CPU time counts too."""

    def env(self) -> dict[str, str]:
        return self.tool.env(self.folder, 2)

    def run(self, cmd: list[str], *, timed: bool = True) -> dict[str, Any]:
        if timed:
            rt.wait_for_quiet()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cluster_before = tree_cpu_s(self.cluster) if self.cluster else 0.0
        t0 = time.monotonic()
        done = subprocess.run(
            cmd, cwd=self.folder, env=self.env(), capture_output=True, text=True, timeout=3600
        )
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cluster_cpu = tree_cpu_s(self.cluster) - cluster_before if self.cluster else 0.0
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"{' '.join(cmd[1:3])} failed (exit {done.returncode}):\n{tail}")
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
        if lines:
            result = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
        else:
            result = json.loads(done.stdout)  # mlstage predict --json
        result["wall_s"] = wall
        # CPU time of the process and the children it waited for (the local cluster's workers).
        result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result["cpu_s"] += cluster_cpu
        return result

    def worker(self, scenario: str, *args: str, timed: bool = True) -> dict[str, Any]:
        cmd = [str(self.python), str(WORKER), scenario, "--dir", str(self.folder), *args]
        return self.run(cmd, timed=timed)

    def predict(self, source: Path, target: Path, executor: str) -> dict[str, Any]:
        mlstage = str(self.python.parent / "mlstage")
        cmd = [mlstage, "predict", "bench/1", "--input", str(source), "--output", str(target)]
        try:
            return self.run([*cmd, "--executor", executor, "--json"])
        finally:
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)


def ensure_data(python: Path, rows: int, parts: int) -> Path:
    folder = DATA / f"{rows}-{parts}"
    if (folder / "all.parquet").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"writing {rows:,} rows into {folder.relative_to(REPO)} (one-off)")
    cmd = [str(python), str(WORKER), "gen", "--dir", str(folder), "--rows", str(rows)]
    subprocess.run([*cmd, "--parts", str(parts)], check=True, capture_output=True, timeout=3600)
    return folder


def measure(runner: Runner, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = runner.folder
    plans = {
        "score-local": lambda: runner.predict(data / "all.parquet", out / "s.parquet", "local"),
        "score-dask": lambda: runner.predict(data / "parts", out / "scored", "dask"),
        "stats-local": lambda: runner.worker("stats", "--data", str(data), "--executor", "local"),
        "stats-dask": lambda: runner.worker("stats", "--data", str(data), "--executor", "dask"),
    }
    samples: dict[str, list[dict[str, Any]]] = {}
    children: list[subprocess.Popen[bytes]] = []
    try:
        if not args.no_running:
            address, children = rp.start_dask_cluster(runner.tool, out)
            runner.cluster = [child.pid for child in children]
            plans["score-running"] = lambda: runner.predict(data / "parts", out / "scored", address)
            plans["stats-running"] = lambda: runner.worker(
                "stats", "--data", str(data), "--executor", address
            )
            log(f"  a Dask cluster is running at {address}; warming it up")
            runner.predict(data / "parts", out / "scored", address)
        names = [n for n in plans if n.split("-")[0] in args.only]
        for i in range(args.repeats):
            for name in names if i % 2 == 0 else list(reversed(names)):
                r = plans[name]()
                samples.setdefault(name, []).append(r)
                rows = r["rows"]
                log(
                    f"  {name:14s} #{i + 1}: {r['wall_s']:7.1f} s spawn to exit "
                    f"({rows / r['wall_s']:,.0f} rows/s; CPU {r['cpu_s']:.1f} s)"
                )
    finally:
        for child in children:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        runner.cluster = []
    return samples


def check_same(samples: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Exact fields that differ between the in-memory and the Dask statistics (none expected)."""
    base = samples.get("stats-local", [{}])[0].get("summary", {})
    problems = []
    for name in ("stats-dask", "stats-running"):
        for feature, fields in samples.get(name, [{}])[0].get("summary", {}).items():
            for key in EXACT_FIELDS:
                if fields.get(key) != base.get(feature, {}).get(key):
                    problems.append(f"{name} {feature}.{key}: {fields.get(key)} vs local")
    return problems


def summarize(samples: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, runs in samples.items():
        wall = median([r["wall_s"] for r in runs])
        out[name] = {
            "wall_s": wall,
            "cpu_s": median([r["cpu_s"] for r in runs]),
            "rows": runs[0]["rows"],
            "rows_per_s": runs[0]["rows"] / wall,
            "inner_s": median([r["seconds"] for r in runs]),
        }
    return out


def render(results: dict[str, Any]) -> str:
    meta, s = results["meta"], results["summary"]
    m = meta["machine"]
    rows = next(iter(s.values()))["rows"] if s else 0
    lines = [
        "## Dask: batch scoring and dataset statistics",
        "",
        f"`{meta['command']}` on {meta['date']} (commit {meta['commit']}). Machine: {m['cpu']}, "
        f"{m['cores']} cores, {m['ram']}, {m['os']}; load average at the start {m['load']}, at "
        f"the end {meta['load_end']}. Versions: {meta['versions']}. {rows:,} rows x 12 columns "
        f"(10 float features, two with 1% missing, a count, a categorical segment) in "
        f"{meta['parts']} Parquet files (`parts/`) and the same rows in one file (`all.parquet`); "
        "a logistic regression on 8 of the features. Every figure is a fresh process, spawn to "
        "exit, the executor's start-up included; medians of "
        f"{meta['repeats']} runs. Generated by `bench/run_dask.py`; edit it, not this section.",
        "",
        "| figure | path | wall | rows/s | CPU (all its processes) | vs one process |",
        "|---|---|---|---|---|---|",
    ]
    labels = {
        "score-local": (
            "1. batch scoring",
            "`mlstage predict` local: one process, 50,000-row chunks",
        ),
        "score-dask": (
            "1. batch scoring",
            "`--executor dask`: a local cluster started by the command",
        ),
        "score-running": ("1. batch scoring", "`--executor tcp://...`: a cluster already running"),
        "stats-local": ("2. statistics", "in memory: `compute_statistics` (DuckDB + NumPy)"),
        "stats-dask": (
            "2. statistics",
            "`statistics_on_dask`, a local cluster started by the call",
        ),
        "stats-running": ("2. statistics", "`statistics_on_dask`, a cluster already running"),
    }
    for name, (figure, path) in labels.items():
        if name not in s:
            continue
        e = s[name]
        base = s.get(name.split("-")[0] + "-local")
        ratio = (
            f"{base['wall_s'] / e['wall_s']:.2f}x"
            if base and name.endswith(("dask", "running"))
            else "-"
        )
        lines.append(
            f"| {figure} | {path} | {e['wall_s']:,.1f} s | {e['rows_per_s']:,.0f} | "
            f"{e['cpu_s']:,.1f} s | {ratio} |"
        )
    lines += [
        "",
        "The running cluster is a `dask scheduler` and `dask worker --nworkers 2 --nthreads 1` "
        "on 127.0.0.1, warmed up by one scoring run; its processes' CPU time during a run "
        "counts in the CPU column. Scoring on Dask writes a folder of "
        f"{meta['parts']} Parquet files; statistics on Dask read `parts/` once: partial statistics "
        "merged in a tree, the histograms counted over the range the Parquet footers give "
        "(checked against the merged min and max; a second pass where they do not tell).",
    ]
    problems = results.get("problems", [])
    if "stats-local" in s:
        lines += [
            "",
            "Exact fields (count, missing, min, max) of the Dask statistics equal the in-memory "
            "ones: " + ("yes." if not problems else "**no**: " + "; ".join(problems[:5])),
        ]
    busy = results.get("busy", [])
    if busy:
        over = sum(1 for b in busy if b > rt.QUIET["threshold"])
        lines += [
            "",
            f"The machine is shared: other processes used a median {median(busy):.0%} of the "
            f"CPUs just before each measurement (max {max(busy):.0%}; {over} of {len(busy)} "
            f"started above {rt.QUIET['threshold']:.0%} after waiting up to "
            f"{rt.QUIET['max_wait']:.0f} s). On 2 shared cores a second worker process gains "
            "little, and each Dask process pays its imports: the CPU column is the steadier "
            "figure.",
        ]
    network = results.get("network", [])
    lines += [
        "",
        "Network attempts refused: " + "; ".join(network[:5])
        if network
        else "No process tried to reach the network (loopback only).",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", default="score,stats", help="score, stats or both")
    parser.add_argument("--no-running", action="store_true", help="skip the running cluster")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    args.only = {x.strip() for x in args.only.split(",") if x.strip()}
    saved = rt.RESULTS / "dask.json"
    if args.render_only:
        section = render(json.loads(saved.read_text(encoding="utf-8")))
        print(section)
        if not args.no_write:
            rt.write_markdown(section, BEGIN, END)
        return 0
    python = rt.mlstage_python(None)
    started = time.monotonic()
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run_dask.py " + " ".join(sys.argv[1:]),
        "commit": rt.git_commit(),
        "machine": rt.machine(),
        "versions": subprocess.run(
            [
                str(python),
                "-c",
                "import importlib.metadata as m; print(', '.join(f'{p} '"
                " + m.version(p) for p in ('mlstage', 'dask', 'distributed', 'duckdb', 'pyarrow',"
                " 'pandas', 'numpy', 'scikit-learn')))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip(),
        "parts": args.parts,
        "repeats": args.repeats,
    }
    data = ensure_data(python, args.rows, args.parts)
    folder = rt.fresh_folder("dask")
    net_log = rt.WORK / "dask-network.log"
    net_log.unlink(missing_ok=True)
    runner = Runner(python, folder, net_log)
    try:
        log(f"registering the model in {folder}")
        runner.worker("setup", timed=False)
        samples = measure(runner, data, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    meta["load_end"] = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    meta["elapsed_s"] = time.monotonic() - started
    for runs in samples.values():
        for r in runs[1:]:
            r.pop("summary", None)  # the first run's is enough to compare
    results = {
        "meta": meta,
        "samples": samples,
        "summary": summarize(samples),
        "problems": check_same(samples),
        "busy": rt.BUSY_SEEN,
        "network": net_log.read_text(encoding="utf-8").splitlines() if net_log.exists() else [],
    }
    rt.RESULTS.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(results, indent=2), encoding="utf-8")
    section = render(results)
    print(section)
    if not args.no_write:
        rt.write_markdown(section, BEGIN, END)
        log(f"wrote the dask section of {rt.BENCHMARKS_MD.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
