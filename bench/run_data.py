#!/usr/bin/env python3
"""Data benchmark: drift reports, mlstage vs Evidently 0.7, and statistics throughput.

    python bench/run_data.py                   # everything, ~10 minutes; updates BENCHMARKS.md
    python bench/run_data.py --only drift --sizes 100000 --no-write

Standard library only. It reuses the tracking benchmark's harness
(``bench/run_tracking.py``: venvs, quiet-machine wait, machine report,
``write_markdown``; ``bench/tracking/_common.py``: network guard, result
line). Evidently is installed on first use into ``bench/.venvs/evidently``
(``pip install "evidently==0.7.23" "pandas<3" pyarrow``: Evidently 0.7 does
not import with pandas 3); mlstage runs from the dev venv ``.venv``.

The data (``bench/data/_spec.py``) is generated once by the mlstage worker
into ``bench/.work/data/`` (gitignored): Parquet files of a reference and a
current dataset, 25 columns (20 numeric, 5 categorical), and one file of
10,000,000 rows x 20 columns for statistics.

Figures (goals of the data issue; Evidently as measured earlier on this
machine kind in brackets):
  1. drift report over 1,000,000 rows x 25 columns, and 100,000: wall time of
     the report (computing it and its dict/JSON form) and the peak memory
     (``ru_maxrss``) of the fresh worker process, both tools starting from the
     same pandas frames, categorical columns as ``category``; goals: mlstage
     >= 20x faster and under a third of Evidently's peak memory [90 s, 1.9 GB;
     100k: 5.4 s]. mlstage reading the Parquet files itself is reported too.
  2. statistics of 10,000,000 rows x 20 columns read from Parquet: rows/s.

Every measurement is a fresh process; each side first runs once on a tiny
input (untimed), so first-use costs such as DuckDB's start-up are outside
the clock for both, like their imports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import run_tracking as rt  # the tracking harness, next to this file

BENCH = rt.BENCH
REPO = rt.REPO
WORKERS = BENCH / "data"
DATA = rt.WORK / "data"
RESULTS = rt.RESULTS
BEGIN, END = "<!-- data:begin -->", "<!-- data:end -->"
EVIDENTLY_REQUIREMENT = ["evidently==0.7.23", "pandas<3", "pyarrow"]
EVIDENTLY_PROBE = "import evidently, pandas; assert evidently.__version__ == '0.7.23'"
GOALS = {"speedup": 20.0, "memory_ratio": 1 / 3}

log = rt.log
median = rt.median
fmt_time = rt.fmt_time


class DataTool(rt.Tool):
    """A worker of ``bench/data/`` run in a fresh process; the last line is its result."""

    def __init__(self, name: str, python: Path) -> None:
        super().__init__(name, python)
        self.worker = WORKERS / f"{name}_worker.py"

    def run(self, scenario: str, folder: Path, *args: str, timeout: float = 1800) -> dict[str, Any]:
        cmd = [str(self.python), str(self.worker), scenario, "--dir", str(folder), *args]
        if not scenario.startswith("gen"):
            rt.wait_for_quiet()
        done = subprocess.run(
            cmd, cwd=folder, env=self.env(folder), capture_output=True, text=True, timeout=timeout
        )
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
        if done.returncode != 0 or not lines:
            tail = "\n".join(done.stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"{self.name} {scenario} failed (exit {done.returncode}):\n{tail}")
        result = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
        if result.get("network_attempts"):
            rt.NETWORK_ATTEMPTS.append(f"{self.name} {scenario}: {result['network_attempts']}")
        return result


def ensure_data(tool: DataTool, kind: str, rows: int) -> Path:
    folder = DATA / f"{kind}-{rows}"
    marker = folder / ("current.parquet" if kind == "drift" else "stats.parquet")
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    log(f"generating {kind} data, {rows:,} rows, into {folder.relative_to(REPO)} (one-off)")
    tool.run(f"gen-{kind}", folder, "--rows", str(rows))
    return folder


def figure_drift(tools: dict[str, DataTool], rows: int, args: argparse.Namespace) -> dict:
    folder = ensure_data(tools["mlstage"], "drift", rows)
    big = rows >= 1_000_000
    plan = [
        ("mlstage", tools["mlstage"], [], args.repeats),
        ("mlstage-files", tools["mlstage"], ["--from-files"], args.repeats),
        ("evidently", tools["evidently"], [], args.evidently_runs if big else args.evidently_small),
    ]
    samples: dict[str, list[dict]] = {label: [] for label, *_ in plan}
    rounds = max(n for *_, n in plan)
    for i in range(rounds):
        order = plan if i % 2 == 0 else list(reversed(plan))
        for label, tool, extra, n in order:
            if len(samples[label]) >= n:
                continue
            html = ["--html"] if i == 0 else []
            r = tool.run("drift", folder, *extra, *html)
            samples[label].append(r)
            log(
                f"  drift {rows:>9,} {label:14s} #{len(samples[label])}: {r['seconds']:8.2f} s, "
                f"peak {r['peak_rss_kb'] / 1024:7.0f} MiB (data loaded: "
                f"{r['loaded_rss_kb'] / 1024:.0f} MiB), drifted {r['drifted']}"
            )
    return {
        "rows": rows,
        "samples": samples,
        "seconds": {k: median([s["seconds"] for s in v]) for k, v in samples.items()},
        "peak_kb": {k: median([s["peak_rss_kb"] for s in v]) for k, v in samples.items()},
        "loaded_kb": {k: median([s["loaded_rss_kb"] for s in v]) for k, v in samples.items()},
        "html": {
            k: next((s["html_seconds"] for s in v if s.get("html_seconds") is not None), None)
            for k, v in samples.items()
        },
        "runs": {k: len(v) for k, v in samples.items()},
    }


def figure_stats(tool: DataTool, rows: int, repeats: int) -> dict:
    folder = ensure_data(tool, "stats", rows)
    samples = []
    for i in range(repeats):
        r = tool.run("stats", folder)
        samples.append(r)
        log(
            f"  stats {rows:,} rows #{i + 1}: {r['seconds']:.2f} s = "
            f"{r['rows_per_second']:,.0f} rows/s, peak {r['peak_rss_kb'] / 1024:.0f} MiB"
        )
    return {
        "rows": rows,
        "columns": samples[0]["columns"],
        "samples": samples,
        "seconds": median([s["seconds"] for s in samples]),
        "rows_per_second": median([s["rows_per_second"] for s in samples]),
        "peak_kb": median([s["peak_rss_kb"] for s in samples]),
        "duckdb": samples[0]["duckdb"],
    }


def versions(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    probe = (
        "import importlib.metadata as m, json, platform\n"
        f"out = {{p: m.version(p) for p in {packages!r}}}\n"
        "out['python'] = platform.python_version()\nprint(json.dumps(out))"
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def mib(kb: float) -> str:
    return f"{kb / 1024:,.0f} MiB"


def render(results: dict) -> str:
    m = results["machine"]
    v_ml, v_ev = results["versions"]["mlstage"], results["versions"]["evidently"]
    out: list[str] = []
    add = out.append
    add("## Data: drift reports (mlstage vs Evidently 0.7) and statistics")
    add("")
    add(
        f"Measured {results['date']} by `{results['command']}` ({results['elapsed']:.0f} s in "
        "all). Generated by `bench/run_data.py`; edit it, not this section."
    )
    add("")
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
        over = sum(1 for b in busy if b > rt.QUIET["threshold"])
        add(
            f"| other processes' CPU use just before each measurement | median {median(busy):.0%}, "
            f"max {max(busy):.0%}; {over} of {len(busy)} started above "
            f"{rt.QUIET['threshold']:.0%} (the machine is shared) |"
        )
    add("")
    add("| versions | mlstage side | Evidently side |")
    add("|---|---|---|")
    add(
        f"| tool | mlstage (commit {results['commit']}), DuckDB {v_ml.get('duckdb')} | "
        f"Evidently {v_ev.get('evidently')} |"
    )
    for key in ("python", "pandas", "numpy", "pyarrow", "scipy"):
        add(f"| {key} | {v_ml.get(key, '-')} | {v_ev.get(key, '-')} |")
    add("")
    add("### Drift report, 25 columns (20 numeric, 5 categorical)")
    add("")
    add(
        "| rows | tool | report (median) | runs | peak memory (ru_maxrss) | resident with the "
        "data loaded | peak above that | HTML page | vs Evidently: faster | vs Evidently: peak "
        "memory | goal |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    for fig in results["drift"]:
        ev_s, ev_m = fig["seconds"]["evidently"], fig["peak_kb"]["evidently"]
        for label in ("mlstage", "mlstage-files", "evidently"):
            s, peak = fig["seconds"][label], fig["peak_kb"][label]
            html = fig["html"].get(label)
            name = {
                "mlstage": "mlstage `compare(df, df)`",
                "mlstage-files": "mlstage `compare(path, path)`",
                "evidently": "Evidently `DataDriftPreset`",
            }[label]
            if label == "evidently":
                speed = mem = goal = "-"
            else:
                speedup, ratio = ev_s / s, peak / ev_m
                speed, mem = f"{speedup:,.0f}x", f"{ratio:.2f}"
                ok = speedup >= GOALS["speedup"] and ratio < GOALS["memory_ratio"]
                goal = ("met" if ok else "**not met**") + " (>= 20x, < 0.33)"
                if fig["rows"] != 1_000_000:
                    goal = "(the goals are set at 1,000,000 rows)"
            add(
                f"| {fig['rows']:,} | {name} | {fmt_time(s)} | {fig['runs'][label]} | "
                f"{mib(peak)} | {mib(fig['loaded_kb'][label])} | "
                f"{mib(max(0.0, peak - fig['loaded_kb'][label]))} | "
                f"{fmt_time(html) if html else '-'} | {speed} | "
                f"{mem} | {goal} |"
            )
    add("")
    for fig in results["drift"]:
        found = {k: v[0]["drifted"] for k, v in fig["samples"].items()}
        methods = {k: v[0].get("methods") for k, v in fig["samples"].items()}
        add(
            f"- {fig['rows']:,} rows: features over their threshold: mlstage {found['mlstage']} "
            f"(methods {methods['mlstage']}); Evidently {found['evidently']} (methods "
            f"{methods['evidently']}). The current data has 4 numeric columns shifted "
            "(num_00, num_05, num_10, num_15) and cat_1 re-weighted."
        )
    big = next((f for f in results["drift"] if f["rows"] == 1_000_000), None)
    if big is not None:
        s, p, ld = big["seconds"], big["peak_kb"], big["loaded_kb"]
        add(
            f"- Goals at 1,000,000 rows (>= 20x faster, under a third of Evidently's peak): "
            f"mlstage reading the Parquet files is {s['evidently'] / s['mlstage-files']:,.0f}x "
            f"faster at {p['mlstage-files'] / p['evidently']:.2f} of the peak; from the same "
            f"pandas frames it is {s['evidently'] / s['mlstage']:,.0f}x faster at "
            f"{p['mlstage'] / p['evidently']:.2f} of the peak, because holding the two frames "
            f"(pandas {results['versions']['mlstage'].get('pandas')}) already takes "
            f"{mib(ld['mlstage'])} of its {mib(p['mlstage'])}: the report itself adds "
            f"{mib(p['mlstage'] - ld['mlstage'])}, Evidently's adds "
            f"{mib(p['evidently'] - ld['evidently'])} to its {mib(ld['evidently'])}."
        )
    add(
        "- Timed: the report and its dict form (`compare(...)` + `to_dict()`; "
        "`Report([DataDriftPreset()]).run(...)` + `.dict()`), after both frames are loaded and "
        "after one untimed run on a tiny input. Peak memory is the worker's `ru_maxrss`, so it "
        'includes the interpreter, the imports and both frames (the column "with the data '
        'loaded" is the resident size just before the report). The HTML column is writing the '
        "self-contained page (first run only)."
    )
    add(
        "- The comparators differ: mlstage uses TFDV's (Jensen-Shannon divergence over 20 "
        "equal-width bins for numeric columns, L-infinity for categorical ones); Evidently "
        "picks its own per column (normed Wasserstein for numeric and Jensen-Shannon for "
        "categorical columns at this size)."
    )
    add(
        "- `compare(path, path)`: mlstage reading the two Parquet files itself (Arrow for the "
        "numeric columns, DuckDB for the categorical ones), no pandas; its time includes the "
        "reading."
    )
    st = results.get("stats")
    if st:
        add("")
        add("### Statistics")
        add("")
        add("| data | time (median) | runs | rows/s | peak memory |")
        add("|---|---|---|---|---|")
        add(
            f"| {st['rows']:,} rows x {st['columns']} columns, one Parquet file (12 float64 with "
            f"1% missing, 3 int64, 5 strings) | {fmt_time(st['seconds'])} | {len(st['samples'])} | "
            f"**{st['rows_per_second']:,.0f}** | {mib(st['peak_kb'])} |"
        )
        add("")
        add(
            "- `compute_statistics(path)`: count, missing, min, max, mean, std, quantiles (from "
            "a uniform sample of 200,000 values per feature), distinct counts (HyperLogLog above "
            "100,000 rows), 20-bin histograms and top values. DuckDB scans the file twice "
            "(counts and distinct counts; categorical frequencies), Arrow reads the numeric "
            "columns twice, one column chunk at a time (moments and sample; histograms by NumPy)."
        )
    if rt.NETWORK_ATTEMPTS:
        add("")
        add("Network attempts: " + "; ".join(rt.NETWORK_ATTEMPTS))
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="drift,stats", help="drift, stats or both")
    parser.add_argument("--sizes", default="100000,1000000", help="drift sizes in rows")
    parser.add_argument("--repeats", type=int, default=5, help="runs per mlstage figure")
    parser.add_argument(
        "--evidently-runs",
        type=int,
        default=2,
        help="Evidently runs at 1,000,000 rows (~90 s each)",
    )
    parser.add_argument(
        "--evidently-small", type=int, default=3, help="Evidently runs below 1,000,000 rows"
    )
    parser.add_argument("--stats-rows", type=int, default=10_000_000)
    parser.add_argument("--stats-repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite the section from bench/results/data.json; nothing measured",
    )
    args = parser.parse_args()
    if args.render_only:
        results = json.loads((RESULTS / "data.json").read_text(encoding="utf-8"))
        rt.NETWORK_ATTEMPTS.extend(results.get("network_attempts", []))
        rt.write_markdown(render(results), BEGIN, END)
        print(render(results))
        return 0
    started = time.monotonic()
    only = set(args.only.split(","))
    machine = rt.machine()
    ml_python = rt.mlstage_python(None)
    tools = {"mlstage": DataTool("mlstage", ml_python)}
    if "drift" in only:
        ev_python = rt.ensure_venv(rt.VENVS / "evidently", EVIDENTLY_REQUIREMENT, EVIDENTLY_PROBE)
        tools["evidently"] = DataTool("evidently", ev_python)
    packages = ("pandas", "numpy", "pyarrow", "scipy")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python bench/run_data.py " + " ".join(sys.argv[1:]),
        "machine": machine,
        "commit": rt.git_commit(),
        "versions": {
            "mlstage": versions(ml_python, (*packages, "duckdb")),
            "evidently": versions(tools["evidently"].python, (*packages, "evidently"))
            if "evidently" in tools
            else {},
        },
        "drift": [],
    }
    if "drift" in only:
        for rows in (int(s) for s in args.sizes.split(",")):
            log(f"figure 1: drift report, {rows:,} rows x 25 columns")
            results["drift"].append(figure_drift(tools, rows, args))
    if "stats" in only:
        log(f"figure 2: statistics, {args.stats_rows:,} rows x 20 columns")
        results["stats"] = figure_stats(tools["mlstage"], args.stats_rows, args.stats_repeats)
    load = os.getloadavg()
    results["load_end"] = f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    results["busy_seen"] = rt.BUSY_SEEN
    results["network_attempts"] = rt.NETWORK_ATTEMPTS
    results["elapsed"] = time.monotonic() - started
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "data.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    if not args.no_write and results["drift"]:
        rt.write_markdown(render(results), BEGIN, END)
        log("wrote the data section of BENCHMARKS.md")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
