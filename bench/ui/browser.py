"""Time to table in headless Chromium: each tool's runs page, from navigation to rows shown.

Run by bench/run_ui.py with the dev venv (Playwright is a test dependency),
Debian's ``/usr/bin/chromium`` (never a downloaded browser)::

    .venv/bin/python bench/ui/browser.py --targets targets.json --rounds 5 --out result.json

``targets.json``: a list of ``{"label", "url", "selector", "name"}``: the page,
the CSS selector of its first table row, and the run name that row must show;
with ``"rows": N``, also the time until N rows matching the selector are laid
out (visible): mlstage shows the rows below the first screen after its first
frame, so its time to the whole table is reported beside the time to the first
row. (MLflow's grid draws only the rows in view, so it has no such figure.)

For each round, tools alternating, a fresh browser context (empty cache,
no cookies) opens the URL: the *cold* time, from ``page.goto`` to the first
table row showing the expected first run name. Then the same context goes
to ``about:blank`` and back to the URL: the *warm* time (scripts, styles and
fonts cached, as when a user comes back to the page). Chromium resolves no
name but 127.0.0.1 (``--host-resolver-rules``); every request to another
host is recorded and reported.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any
from urllib.parse import urlsplit

LAUNCH_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# Any element matching the selector (an ag-grid row is split over its pinned and centre parts).
FIRST_ROW = """([selector, name]) => {
  for (const row of document.querySelectorAll(selector)) {
    if (row.textContent.includes(name)) return true;
  }
  return false;
}"""


ALL_ROWS = """([selector, n]) => {
  const rows = document.querySelectorAll(selector);
  return rows.length >= n && rows[n - 1].offsetHeight > 0;
}"""


def open_page(page: Any, target: dict[str, Any], timeout_ms: float) -> tuple[float, float]:
    """Seconds to the first row, and to all ``rows`` rows shown (the same if not asked)."""
    t0 = time.perf_counter()
    page.goto(target["url"], wait_until="commit")
    page.wait_for_function(
        FIRST_ROW, arg=[target["selector"], target["name"]], timeout=timeout_ms, polling="raf"
    )
    first = time.perf_counter() - t0
    if not target.get("rows"):
        return first, first
    page.wait_for_function(
        ALL_ROWS, arg=[target["selector"], target["rows"]], timeout=timeout_ms, polling="raf"
    )
    return first, time.perf_counter() - t0


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", required=True, help="a JSON file (see above)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per page")
    parser.add_argument("--out", required=True)
    parser.add_argument("--screenshots", default="", help="folder for one screenshot per tool")
    args = parser.parse_args()
    with open(args.targets, encoding="utf-8") as fh:
        targets: list[dict[str, Any]] = json.load(fh)
    samples: dict[str, dict[str, list[float]]] = {
        t["label"]: {"cold": [], "warm": [], "cold_all": [], "warm_all": []} for t in targets
    }
    requests: dict[str, list[int]] = {t["label"]: [] for t in targets}
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
        version = browser.version
        for rnd in range(args.rounds + 1):  # round 0: untimed, warms the servers and the OS cache
            for target in targets if rnd % 2 == 0 else list(reversed(targets)):
                context = browser.new_context(viewport={"width": 1600, "height": 1000})
                page = context.new_page()
                seen: list[str] = []
                page.on("request", lambda r, seen=seen: seen.append(r.url))
                cold, cold_all = open_page(page, target, args.timeout * 1000)
                n_cold = len(seen)
                page.goto("about:blank")
                warm, warm_all = open_page(page, target, args.timeout * 1000)
                if rnd == 0 and args.screenshots:
                    page.screenshot(path=f"{args.screenshots}/{target['label']}.png")
                context.close()
                for url in seen:
                    host = urlsplit(url).hostname
                    if host not in (None, "127.0.0.1") and not url.startswith(("data:", "about:")):
                        outside.append(f"{target['label']}: {url[:200]}")
                if rnd > 0:
                    samples[target["label"]]["cold"].append(cold)
                    samples[target["label"]]["warm"].append(warm)
                    samples[target["label"]]["cold_all"].append(cold_all)
                    samples[target["label"]]["warm_all"].append(warm_all)
                    requests[target["label"]].append(n_cold)
                print(
                    f"{target['label']} round {rnd}: cold {cold * 1000:.0f} ms "
                    f"({n_cold} requests; all rows {cold_all * 1000:.0f} ms), warm "
                    f"{warm * 1000:.0f} ms (all rows {warm_all * 1000:.0f} ms)",
                    flush=True,
                )
        browser.close()
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(
            {"chromium": version, "samples": samples, "requests": requests, "outside": outside},
            fh,
        )


if __name__ == "__main__":
    main()
