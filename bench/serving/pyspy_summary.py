"""Summarize a py-spy ``--format raw`` profile (collapsed stacks) of the mlstage service.

    python bench/serving/pyspy_summary.py PROFILE.txt [--top 40]

Prints the share of samples per part of the service (the model call, the rest
of the model step, the request log writer, the event loop's request handling,
the hand-off between threads) and the functions with the most samples,
inclusive and self. Standard library only.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path
from typing import Any

# (category, substrings of one frame, any of which puts it there). A sample goes to the
# category of its deepest frame that matches one (leaf first): the ASGI middlewares sit at
# the root of every request's stack, so matching the whole stack would say little.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("model: predict_proba (scikit-learn)", ("ForestClassifier.predict_proba",)),
    (
        "model step: the rest (DataFrame, argmax, lists)",
        ("LoadedVersion.score", "RowChecker.build"),
    ),
    ("request log writer (background thread)", ("RequestLogger._run", "RequestLogger._drain")),
    ("request log: queueing records", ("PredictionService._log", "RequestLogger.log")),
    (
        "hand-off between threads (waking the loop, submitting)",
        ("_write_to_self", "call_soon_threadsafe", "_chain_future", "run_in_executor", ".submit "),
    ),
    ("thread pool: waiting for work", ("concurrent/futures/thread.py",)),
    ("event loop: waiting for sockets (select)", ("EpollSelector.select",)),
    (
        "request: JSON parse and validation",
        ("parse_predict", "load_json", "RowChecker", "_check ("),
    ),
    ("request: response JSON and ids", ("dump_json", "Answer.body", "new_ids")),
    ("request: metrics (prometheus_client)", ("prometheus_client", "MetricsMiddleware")),
    ("request: micro-batcher", ("Batcher.",)),
    ("request: service (routing, other)", ("mlstage/serving/", "mlstage/server/")),
    ("request: HTTP (uvicorn, h11)", ("h11", "uvicorn/")),
    ("request: framework (Starlette, FastAPI)", ("starlette/", "fastapi/", "anyio/")),
    ("asyncio", ("asyncio/",)),
]


def category(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in CATEGORIES:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def short(frame: str) -> str:
    if " (" not in frame:
        return frame
    name, where = frame.split(" (", 1)
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})"


def summarize(path: Path, top: int = 30) -> dict[str, Any]:
    total = 0
    categories: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or " " not in line:
            continue
        stack, count = line.rsplit(" ", 1)
        try:
            n = int(count)
        except ValueError:
            continue
        total += n
        raw = stack.split(";")
        categories[category(raw)] += n
        frames = [short(f) for f in raw]
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    share = {k: v / total for k, v in categories.most_common()} if total else {}
    return {
        "samples": total,
        "categories": share,
        "inclusive": [(k, v / total) for k, v in inclusive.most_common(top)] if total else [],
        "self": [(k, v / total) for k, v in own.most_common(top)] if total else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    result = summarize(Path(args.profile), args.top)
    print(f"{result['samples']} samples")
    for name, value in result["categories"].items():
        print(f"{value:6.1%}  {name}")
    print("\n-- inclusive")
    for name, value in result["inclusive"]:
        print(f"{value:6.1%}  {name}")
    print("\n-- self")
    for name, value in result["self"]:
        print(f"{value:6.1%}  {name}")


if __name__ == "__main__":
    main()
