"""What answers behind the endpoints: route, check, score (micro-batched), mirror, log.

``PredictionService`` holds the version pool, routes each request with the
deployment's pure routing function, checks its rows against the answering
version's signature, scores them through that version's batcher, mirrors
shadow traffic in the background (answers logged, never returned) and hands
every answer to the request log after the response is on its way.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlstage.config import Settings
from mlstage.errors import NotFound, Unavailable
from mlstage.models.signature import Signature
from mlstage.serving import codecs
from mlstage.serving.batcher import Scored
from mlstage.serving.options import ServingOptions
from mlstage.serving.pool import LoadedVersion, Snapshot, VersionPool, load_version
from mlstage.serving.routing import Route
from mlstage.serving.service_metrics import ServiceMetrics
from mlstage.serving.validation import InvalidRows, UncheckedRows


def new_ids(count: int) -> list[str]:
    """``count`` random UUID4s as hex: one ``urandom`` call instead of one per row."""
    raw = os.urandom(16 * count).hex()
    return [
        f"{raw[i : i + 12]}4{raw[i + 13 : i + 16]}{'89ab'[int(raw[i + 16], 16) & 3]}"
        f"{raw[i + 17 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


@dataclass(frozen=True)
class Answer:
    """One request's predictions, with what answered them."""

    version: LoadedVersion
    route: Route
    rows: list[Any]
    scored: Scored
    ids: list[str]
    snapshot: Snapshot

    @property
    def deployment(self) -> str | None:
        return self.snapshot.deployment.name if self.snapshot.deployment else None

    def input_names(self) -> list[str]:
        if isinstance(self.version.checker, UncheckedRows):
            return list(self.rows[0]) if self.rows else []
        return list(self.version.checker.names)

    def input_values(self) -> list[Any]:
        if isinstance(self.version.checker, UncheckedRows):
            names = self.input_names()
            return [[row.get(n) for n in names] for row in self.rows]
        return self.rows

    def body(self) -> dict[str, Any]:
        return {
            "predictions": self.scored.predictions,
            "probabilities": self.scored.probabilities,
            "classes": self.version.classes if self.scored.probabilities is not None else None,
            "prediction_ids": self.ids,
            "model": self.version.name,
            "version": self.version.version,
            "deployment": self.deployment,
            "route": self.route.arm,
        }


def _request_logger(settings: Settings, model: str) -> Any:
    try:
        from mlstage.serving.request_log import RequestLogger
    except ModuleNotFoundError as exc:  # the request log is optional until it lands
        if exc.name != "mlstage.serving.request_log":
            raise
        return None
    return RequestLogger(settings, model=model)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class PredictionService:
    """Everything behind the endpoints; ``app.state.service``."""

    def __init__(
        self,
        target: str,
        settings: Settings,
        options: ServingOptions,
        *,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.target = target
        self.clock = clock or wall_clock_ms
        """Milliseconds since the epoch for the request log; the demo and tests simulate days."""
        self.settings = settings
        self.options = options
        self.metrics = ServiceMetrics()
        loader = load_version(options, self.metrics.batch_observer)
        from mlstage.governance.policy import guard_loader  # issue 9: data classification

        loader = guard_loader(loader, target, settings)
        self.pool = VersionPool(target, options, loader, on_swap=self._swapped)
        self.logger = (
            _request_logger(settings, self.pool.current.model) if options.log_requests else None
        )
        self.metrics.log_dropped.set_function(lambda: getattr(self.logger, "dropped", 0))
        self.metrics.log_failed.set_function(lambda: getattr(self.logger, "failed_records", 0))
        self._background: set[asyncio.Future[Any]] = set()
        self.closed = False
        self.pool.start()

    def _swapped(self, snapshot: Snapshot) -> None:
        self.metrics.revision.set(snapshot.revision)
        self.metrics.set_loaded(snapshot.model, sorted(snapshot.versions))

    def signature(self) -> Signature | None:
        current = self.pool.current
        return current.versions[current.primary].signature

    def title(self) -> str:
        current = self.pool.current
        name = f"{current.model} v{current.primary}"
        return f"{name} ({current.deployment.name})" if current.deployment else name

    def version_for(self, name: str, version: str | None = None) -> tuple[Snapshot, int | None]:
        """The snapshot serving model ``name`` (or the deployment's name), and a pinned version."""
        current = self.pool.current
        names = {current.model}
        if current.deployment is not None:
            names.add(current.deployment.name)
        if name not in names:
            raise NotFound(
                f"model {name[:100]!r} is not served here; this service serves {current.model!r}"
            )
        if version is None:
            return current, None
        if not version.isdigit() or int(version) not in current.versions:
            served = ", ".join(str(v) for v in sorted(current.versions))
            raise NotFound(f"version {version[:20]!r} of {name!r} is not loaded; loaded: {served}")
        return current, int(version)

    async def predict(
        self,
        table: codecs.Table,
        key: str | None,
        pinned: tuple[Snapshot, int | None] | None = None,
    ) -> Answer:
        started = time.perf_counter()
        snapshot, version_number = pinned or (self.pool.current, None)
        ids = new_ids(table.size)
        if version_number is None:
            chosen = snapshot.route(key or ids[0])
        else:
            arm = "primary" if version_number == snapshot.primary else "candidate"
            chosen = Route(version_number, arm)
        version = snapshot.versions[chosen.version]
        rows = _check(version, table)
        try:
            scored = await version.batcher.submit(rows)
        except (ValueError, TypeError) as exc:
            if isinstance(version.checker, UncheckedRows):  # no signature: the input's fault
                raise InvalidRows(f"the model could not score the input: {exc}") from None
            self._log_failure(Answer(version, chosen, rows, _failed(rows), ids, snapshot), key,
                              started, exc)  # fmt: skip
            raise
        except Exception as exc:
            self._log_failure(Answer(version, chosen, rows, _failed(rows), ids, snapshot), key,
                              started, exc)  # fmt: skip
            raise
        answer = Answer(version, chosen, rows, scored, ids, snapshot)
        self.metrics.predictions.labels(version.name, str(version.version), chosen.arm).inc(
            len(rows)
        )
        latency_ms = (time.perf_counter() - started) * 1000
        if chosen.shadow is not None and chosen.shadow in snapshot.versions:
            shadow = snapshot.versions[chosen.shadow]
            self._spawn(self._shadow(shadow, table, answer, key, started))
        if self.logger is not None:
            asyncio.get_running_loop().call_soon(
                self._log, answer, answer.route.arm, key, latency_ms
            )
        return answer

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shadow(
        self,
        version: LoadedVersion,
        table: codecs.Table,
        primary: Answer,
        key: str | None,
        started: float,
    ) -> None:
        """Score a copy for the shadow version; its answer is logged, never returned."""
        try:
            rows = _check(version, table)
        except Exception:
            self.metrics.shadow_errors.labels(version.name, str(version.version)).inc()
            return
        try:
            scored = await version.batcher.submit(rows)
        except Exception as exc:
            self.metrics.shadow_errors.labels(version.name, str(version.version)).inc()
            route = Route(version.version, "shadow")
            failed = Answer(version, route, rows, _failed(rows), primary.ids, primary.snapshot)
            self._log_failure(failed, key, started, exc)
            return
        answer = Answer(
            version, Route(version.version, "shadow"), rows, scored, primary.ids, primary.snapshot
        )
        self.metrics.predictions.labels(version.name, str(version.version), "shadow").inc(len(rows))
        if self.logger is not None:
            self._log(answer, "shadow", key, (time.perf_counter() - started) * 1000)

    def _log_failure(self, answer: Answer, key: str | None, started: float, exc: Exception) -> None:
        """Log rows the model failed to score, with the error: canaries are judged on them."""
        if self.logger is None:
            return
        error = f"{type(exc).__name__}: {exc}"[:500]
        latency_ms = (time.perf_counter() - started) * 1000
        self._log(answer, answer.route.arm, key, latency_ms, error=error)

    def _log(
        self,
        answer: Answer,
        arm: str,
        key: str | None,
        latency_ms: float,
        *,
        error: str | None = None,
    ) -> None:
        from mlstage.serving.request_log import PredictionRecord

        logger = self.logger
        if logger is None:
            return
        now = self.clock()
        names = answer.input_names()
        probabilities = answer.scored.probabilities
        unchecked = isinstance(answer.version.checker, UncheckedRows)
        for i, row in enumerate(answer.rows):
            logger.log(
                PredictionRecord(
                    prediction_id=answer.ids[i],
                    timestamp_ms=now,
                    model=answer.version.name,
                    version=answer.version.version,
                    deployment=answer.deployment,
                    route=arm,
                    request_key=key,
                    inputs=dict(row) if unchecked else dict(zip(names, row, strict=True)),
                    output=answer.scored.predictions[i],
                    probabilities=None if probabilities is None else probabilities[i],
                    latency_ms=latency_ms,
                    error=error,
                )
            )

    def check_ready(self) -> Snapshot:
        if self.closed:
            raise Unavailable("the prediction service is shutting down")
        return self.pool.current

    def close(self) -> None:
        """Stop polling, flush the request log, stop the model threads."""
        if self.closed:
            return
        self.closed = True
        self.pool.close()
        if self.logger is not None:
            self.logger.close()
        for version in self.pool.current.versions.values():
            version.close()


def _failed(rows: list[Any]) -> Scored:
    """No answer for any row: what a failed model call logs."""
    return Scored([None] * len(rows), None)


def _check(version: LoadedVersion, table: codecs.Table) -> list[Any]:
    checker = version.checker
    if table.records is not None:
        return checker.records(table.records)
    data = table.data or []
    if table.text:
        return checker.text_table(table.columns or [], data)
    return checker.table(table.columns, data)
