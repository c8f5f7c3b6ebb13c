"""Adaptive micro-batching: concurrent requests for one version share one model call.

A single-row request to a random forest costs nearly as much as a 64-row
one: the model walks every tree either way. So requests queue per loaded
version; a worker takes whatever is waiting (up to ``max_rows``), runs one
predict in a thread, and splits the answers. While that predict runs, new
requests gather into the next batch: under load batches grow by themselves,
and an idle service answers a lone request at once (no fixed window to
wait out, unless ``max_wait`` asks for one).

If a batch of several requests fails, each request is retried alone, so one
bad request cannot fail the others that happened to share its batch.

A model whose recent calls were short (under ``inline_below``) is called on
the event loop itself: handing a few milliseconds of work to a thread and
waking the loop when it is done costs two thread wake-ups a request, a fair
share of a short call. Slow models, and the first call of any, run on the
executor, so the loop never stalls for long.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from mlstage.errors import Unavailable


@dataclass(frozen=True)
class Scored:
    """The answers for one request's rows."""

    predictions: list[Any]
    probabilities: list[list[float]] | None


BatchPredict = Callable[[list[Any]], Scored]
"""Scores a batch of checked rows; runs in a worker thread."""
BatchObserver = Callable[[int, int, float], None]
"""Called with (rows, requests, seconds) after each model call."""


class Batcher:
    """One queue and at most one running model call per loaded version."""

    def __init__(
        self,
        predict: BatchPredict,
        executor: Executor,
        *,
        max_rows: int = 64,
        max_wait: float = 0.0,
        max_queued_rows: int = 2048,
        observe: BatchObserver | None = None,
        label: str = "model",
        inline_below: float = 0.0,
    ) -> None:
        self.predict = predict
        self.executor = executor
        self.inline_below = inline_below
        self.typical: float | None = None
        """Recent model calls' time in seconds (a moving average); None before the first."""
        self.max_rows = max_rows
        self.max_wait = max_wait
        self.max_queued_rows = max_queued_rows
        self.observe = observe
        self.label = label
        self._pending: deque[tuple[Sequence[Any], asyncio.Future[Scored]]] = deque()
        self.queued_rows = 0
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, rows: Sequence[Any]) -> Scored:
        """Score ``rows`` in the next batch; ``Unavailable`` at once if too much is waiting."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): nothing of the old one survives
            self._pending.clear()
            self.queued_rows = 0
            self._worker = None
            self._loop = loop
        if self.queued_rows and self.queued_rows + len(rows) > self.max_queued_rows:
            raise Unavailable(
                f"{self.label} is at capacity ({self.queued_rows} rows waiting); retry shortly"
            )
        future: asyncio.Future[Scored] = loop.create_future()
        self._pending.append((rows, future))
        self.queued_rows += len(rows)
        if self._worker is None:
            self._worker = loop.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Sequence[Any], asyncio.Future[Scored]]]:
        """Whatever is waiting, up to ``max_rows`` (always at least one request)."""
        batch = [self._pending.popleft()]
        rows = len(batch[0][0])
        while self._pending and rows + len(self._pending[0][0]) <= self.max_rows:
            item = self._pending.popleft()
            rows += len(item[0])
            batch.append(item)
        self.queued_rows -= rows
        return batch

    async def _drain(self) -> None:
        """Run batches until the queue is empty, then stop (the next request starts a new one)."""
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                if self.max_wait > 0 and self.queued_rows < self.max_rows:
                    await asyncio.sleep(self.max_wait)
                batch = [item for item in self._take() if not item[1].done()]
                if batch:
                    await self._run(loop, batch)
        finally:
            if self._loop is loop:
                self._worker = None

    async def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[Sequence[Any], asyncio.Future[Scored]]],
    ) -> None:
        rows = [row for block, _ in batch for row in block]
        started = time.perf_counter()
        try:
            scored = await self._call(loop, rows)
            if len(scored.predictions) != len(rows):
                raise RuntimeError(
                    f"the model returned {len(scored.predictions)} predictions for {len(rows)} rows"
                )
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            for block, future in batch:  # find the request that broke the batch
                try:
                    alone = await self._call(loop, list(block))
                except Exception as single:
                    _settle(future, error=single)
                else:
                    _settle(future, alone)
            return
        if self.observe is not None:
            self.observe(len(rows), len(batch), time.perf_counter() - started)
        start = 0
        for block, future in batch:
            end = start + len(block)
            probabilities = scored.probabilities
            _settle(
                future,
                Scored(
                    scored.predictions[start:end],
                    None if probabilities is None else probabilities[start:end],
                ),
            )
            start = end

    async def _call(self, loop: asyncio.AbstractEventLoop, rows: list[Any]) -> Scored:
        """One model call: on the loop if calls are known to be short, else on the executor."""
        typical = self.typical
        started = time.perf_counter()
        try:
            if typical is not None and typical < self.inline_below and len(rows) <= self.max_rows:
                return self.predict(rows)
            return await loop.run_in_executor(self.executor, self.predict, rows)
        finally:
            took = time.perf_counter() - started
            self.typical = took if typical is None else 0.8 * typical + 0.2 * took


def _settle(
    future: asyncio.Future[Scored], result: Scored | None = None, error: BaseException | None = None
) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)
