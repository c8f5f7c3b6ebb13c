"""Stage 2 of ``mlstage demo``: the loop that runs by itself, over simulated days.

The training pipeline (``pipeline.py``, from the template) makes ``churn``
version 1; ``churn-prod`` serves it through the real prediction service,
which logs every request. Each simulated day, customers arrive (the market
shifts on ``demo_world.SHIFT_DAY``), yesterday's outcomes come back as late
labels, the data team's extract registers them as the next version of the
dataset ``churn``, and one tick of the monitoring loop runs, as
``mlstage scheduler`` would run it: the checks, the alert webhook, the
triggers, the retraining, the gate, the canary and its promotion. Simulated
time is only the clock handed to the service and the loop; everything else
is the product as it runs.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from mlstage.cli._console import text
from mlstage.cli.demo_project import DEPLOYMENT, MODEL
from mlstage.cli.demo_world import DAY_MS, TARGET, customers

if TYPE_CHECKING:
    import pandas as pd
    from fastapi.testclient import TestClient
    from rich.console import Console

    from mlstage.monitoring.loop import TickReport

DAYS = 9
PER_DAY = 400
BATCH = 25
LABELS_AT_MS = 9 * 3_600_000
"""Yesterday's outcomes arrive at 09:00."""
TICK_AT_MS = DAY_MS - 60_000
"""The loop runs at 23:59 each simulated day."""
SEED = 100
CARD = {
    "intended_use": "Ranks customers by their risk of leaving within a month, so the retention "
    "team calls the riskiest first. Not for pricing or credit decisions.",
    "limitations": "Trained on simulated customers of the mlstage demo; retrained versions "
    "inherit this card until someone reviews them.",
}


@dataclass
class SimulatedClock:
    """Milliseconds since the epoch, moved by the demo instead of by the wall."""

    now: int

    def __call__(self) -> int:
        return self.now


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: where the demo team's alerts arrive."""

    received: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                received.append({"headers": dict(self.headers), "body": json.loads(body or b"{}")})
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}/alerts"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class LoopSummary:
    """What the loop did: for the terminal and for ``mlstage demo --json``."""

    deployment: str = DEPLOYMENT
    model: str = MODEL
    start: int = 0
    days: list[dict[str, Any]] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    champion: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "model": self.model,
            "simulated_start": _iso(self.start),
            "days": self.days,
            "transitions": self.transitions,
            "alerts": self.alerts,
            "versions": self.versions,
            "champion": {"model": self.model, "version": self.champion},
            "seconds": round(self.seconds, 1),
        }


def run_loop(out: Console, receiver: Receiver, *, days: int = DAYS) -> LoopSummary:
    """Train v1, deploy it, then live ``days`` simulated days of the loop."""
    import warnings

    with warnings.catch_warnings():  # starlette's note on httpx is for test suites, not users
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from mlstage.config import get_settings
    from mlstage.monitoring.loop import run_tick
    from mlstage.serving.app import create_serving_app
    from mlstage.serving.options import ServingOptions

    started = time.perf_counter()
    settings = get_settings()
    summary = LoopSummary(start=_first_day(settings, days))
    clock = SimulatedClock(summary.start)
    first = _train_first_version(out, clock)
    options = ServingOptions.from_settings(settings, log_requests=True)
    app = create_serving_app(f"deployment:{DEPLOYMENT}", settings, options, clock=clock)
    pending: list[tuple[str, int]] = []
    with TestClient(app) as client:
        service = app.state.service
        for day in range(days):
            start = summary.start + day * DAY_MS
            with out.status(f"Day {day}: {PER_DAY} customers, labels, the loop"):
                frame = customers(PER_DAY, day, seed=SEED + day)
                served = _replay(client, clock, frame, start, day)
                service.logger.flush()
                labelled = _labels_arrive(pending, start + LABELS_AT_MS)
                _extract(day, labelled, start + LABELS_AT_MS)
                pending = served
                clock.now = start + TICK_AT_MS
                report = run_tick(clock.now, deployment=DEPLOYMENT, settings=settings)
                service.pool.refresh()  # a new deployment revision is served from now on
            _print_day(out, summary, day, len(served), len(labelled), report, settings)
            summary.alerts = [_alert(r) for r in receiver.received]
    summary.versions = _versions(first)
    summary.champion = _champion()
    summary.seconds = time.perf_counter() - started
    return summary


def _first_day(settings: Any, days: int) -> int:
    """Midnight ``days`` ago; or, when an earlier demo run went past that, the day after it:
    a second run goes on where the first stopped, so its checks and triggers are due."""
    from mlstage.monitoring.check import database_of
    from mlstage.monitoring.results import SqlMonitorResults

    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    newest = SqlMonitorResults(database_of(settings)).list(DEPLOYMENT, limit=1)
    if newest and newest[0].window_end >= today - days * DAY_MS:
        return (newest[0].window_end // DAY_MS + 1) * DAY_MS
    return today - days * DAY_MS


def _train_first_version(out: Console, clock: SimulatedClock) -> int:
    """Run the training pipeline once, by hand, and put its version into production."""
    from mlstage.models.api import get_registry_store
    from mlstage.pipelines.entities import PipelineStatus
    from mlstage.pipelines.loading import load_target
    from mlstage.pipelines.runner import run_pipeline
    from mlstage.serving.deployments import get_deployment_store

    # On the processes executor: the retrainings run the same definition on the local one.
    with out.status("Training pipeline: pipeline.py:training (executor: processes)"):
        run = run_pipeline(load_target("pipeline.py:training"), {}, "processes")
    if run.status != PipelineStatus.SUCCEEDED:
        raise RuntimeError(f"the training pipeline failed: {run.error}")
    registry = get_registry_store()
    version = int(registry.get_registered_model(MODEL).aliases["champion"])
    registry.update_model_version(MODEL, version, card=CARD)
    get_deployment_store().deploy(
        DEPLOYMENT, MODEL, "prod", version, actor="demo", reason="v1 passed the gate; approved"
    )
    out.print(
        text(
            f"Pipeline run {run.run_id}: {MODEL}/{version} trained, validated and champion; "
            f"{DEPLOYMENT} serves it (environment prod).",
            "green",
        )
    )
    return version


def _replay(
    client: TestClient, clock: SimulatedClock, frame: pd.DataFrame, start: int, day: int
) -> list[tuple[str, int]]:
    """The day's requests, 08:00 to 20:00; (prediction id, the truth to come) per customer.

    Each request carries a routing key, so a canary's share of the day is the same in every
    run of the demo (a random share left it too few predictions to judge in about one run in 16).
    """
    inputs = frame.drop(columns=[TARGET])
    truth = frame[TARGET].tolist()
    served: list[tuple[str, int]] = []
    batches = range(0, len(frame), BATCH)
    step = 12 * 3_600_000 // max(1, len(batches))
    for i, first in enumerate(batches):
        clock.now = start + 8 * 3_600_000 + i * step
        records = inputs.iloc[first : first + BATCH].to_dict(orient="records")
        key = f"demo-day{day}-batch{i}"
        answer = client.post("/predict", json={"records": records, "key": key})
        if answer.status_code != 200:
            raise RuntimeError(f"the service answered {answer.status_code}: {answer.text}")
        ids = answer.json()["prediction_ids"]
        served += zip(ids, truth[first : first + BATCH], strict=True)
    return served


def _labels_arrive(pending: list[tuple[str, int]], at: int) -> list[tuple[str, int]]:
    """Yesterday's outcomes, joined to its predictions by prediction id."""
    if not pending:
        return []
    from mlstage.monitoring.feedback import get_feedback_store, make_label

    items = [make_label(pid, label, at) for pid, label in pending]
    result = get_feedback_store().add_labels(items, source="demo")
    if result.unknown:
        raise RuntimeError(f"{len(result.unknown)} labels matched no logged prediction")
    return pending


def _extract(day: int, labelled: list[tuple[str, int]], at: int) -> None:
    """The data team's daily extract: yesterday's customers with their outcome."""
    if not labelled:
        return
    from mlstage.data.datasets import register

    frame = customers(PER_DAY, day - 1, seed=SEED + day - 1)
    register(MODEL, frame, description=f"customers of simulated day {day - 1}")


# -- what the terminal shows ---------------------------------------------------------------


def _print_day(
    out: Console,
    summary: LoopSummary,
    day: int,
    served: int,
    labelled: int,
    report: TickReport,
    settings: Any,
) -> None:
    figures = _figures(report, settings)
    shown = ", ".join(f"{k} {v}" for k, v in figures.items())
    stamp = datetime.fromtimestamp(report.now_ms / 1000, tz=UTC).strftime("%a %d %b")
    line = f"Day {day} ({stamp}): {served} predictions, {labelled} labels"
    out.print(text(f"{line}; {shown}" if shown else line))
    summary.days.append(
        {
            "day": day,
            "date": _iso(report.now_ms),
            "predictions": served,
            "labels": labelled,
            "figures": figures,
        }
    )
    for problem in report.errors:
        out.print(text(f"  ! {problem}", "red"))
    for move in report.transitions:
        entry = _transition(day, move)
        summary.transitions.append(entry)
        out.print(text(f"  → {entry['summary']}", "cyan"))


def _figures(report: TickReport, settings: Any) -> dict[str, str]:
    """The headline figures of the check this tick ran, with their status."""
    if not report.checks:
        return {}
    from mlstage.monitoring.check import database_of
    from mlstage.monitoring.results import SqlMonitorResults

    results = SqlMonitorResults(database_of(settings))
    found: dict[str, str] = {}
    for monitor, metric in (("feature_drift", "drift_share"), ("performance", "roc_auc")):
        latest = results.latest(DEPLOYMENT, monitor, metric)
        if latest is None or latest.window_end != report.now_ms or latest.value is None:
            continue
        mark = "" if latest.status == "ok" else f" {latest.status.upper()}"
        found[metric] = f"{latest.value:.2f}{mark}"
    return found


def _transition(day: int, move: Any) -> dict[str, Any]:
    data: dict[str, Any] = move.model_dump(mode="json")
    cause = ""
    if move.observed is not None and move.threshold is not None:
        cause = f" ({move.trigger}: {move.observed:.2f} vs {move.threshold:.2f})"
    reason = f": {move.reason}" if move.reason else ""
    data.update(day=day, time=_iso(move.at))
    data["summary"] = f"retraining {move.retraining_id}: {move.state}{cause}{reason}"
    return data


def _alert(received: dict[str, Any]) -> dict[str, Any]:
    body = received["body"]
    headers = {k.lower(): v for k, v in received["headers"].items()}
    signed = any("signature" in k for k in headers)
    return {"rule": body.get("rule"), "subject": body.get("subject"), "signed": signed}


def _versions(first: int) -> list[dict[str, Any]]:
    from mlstage.models.api import get_registry_store

    found = []
    for version in get_registry_store().list_model_versions(MODEL):
        if version.version >= first:
            found.append(
                {
                    "version": version.version,
                    "status": str(version.status),
                    "aliases": version.aliases,
                    "source": version.source,
                }
            )
    return sorted(found, key=lambda v: int(v["version"]))


def _champion() -> int | None:
    from mlstage.models.api import get_registry_store

    alias = get_registry_store().get_registered_model(MODEL).aliases.get("champion")
    return None if alias is None else int(alias)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
