"""The micro-batcher alone: concurrent requests share model calls, answers go back to their owner."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mlstage.errors import Unavailable
from mlstage.serving.batcher import Batcher, Scored


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2)
    yield pool
    pool.shutdown()


class SlowDouble:
    """A model that doubles numbers, takes 20 ms a call, refuses negatives, records its batches."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.batches: list[list[Any]] = []
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, rows: list[Any]) -> Scored:
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.batches.append(list(rows))
            time.sleep(self.delay)
            if any(r < 0 for r in rows):
                raise ValueError("negative input")
            return Scored([2 * r for r in rows], [[float(r)] for r in rows])
        finally:
            with self.lock:
                self.running -= 1


def test_concurrent_requests_share_model_calls_and_get_their_own_answers(
    executor: ThreadPoolExecutor,
) -> None:
    model = SlowDouble()
    seen: list[tuple[int, int, float]] = []
    batcher = Batcher(model, executor, max_rows=64, observe=lambda *a: seen.append(a))

    async def main() -> list[Scored]:
        first = asyncio.ensure_future(batcher.submit([0, 1000]))
        await asyncio.sleep(0.005)  # it runs alone; the others arrive while it runs
        rest = [batcher.submit([i, i + 1000]) for i in range(1, 40)]
        return list(await asyncio.gather(first, *rest))

    answers = asyncio.run(main())
    for i, answer in enumerate(answers):
        assert answer.predictions == [2 * i, 2 * (i + 1000)]
        assert answer.probabilities == [[float(i)], [float(i + 1000)]]
    # The other 39 gathered while the first ran, into calls of up to 64 rows.
    assert [len(b) for b in model.batches] == [2, 64, 14]
    assert model.most_at_once == 1
    assert [(rows, requests) for rows, requests, _ in seen] == [(2, 1), (64, 32), (14, 7)]
    assert batcher.queued_rows == 0


def test_one_bad_request_fails_alone(executor: ThreadPoolExecutor) -> None:
    model = SlowDouble(delay=0.01)
    batcher = Batcher(model, executor)

    async def main() -> list[Any]:
        first = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.002)  # the rest queue while the first runs
        rest = [batcher.submit([n]) for n in (2, -3, 4)]
        return await asyncio.gather(first, *rest, return_exceptions=True)

    one, two, bad, four = asyncio.run(main())
    assert (one.predictions, two.predictions, four.predictions) == ([2], [4], [8])
    assert isinstance(bad, ValueError)
    assert [2, -3, 4] in model.batches  # tried together, then one by one
    assert [-3] in model.batches


def test_a_full_queue_sheds_load_at_once(executor: ThreadPoolExecutor) -> None:
    model = SlowDouble(delay=0.05)
    batcher = Batcher(model, executor, max_rows=4, max_queued_rows=6, label="churn v3")

    async def main() -> list[Any]:
        running = asyncio.ensure_future(batcher.submit([1, 2]))
        await asyncio.sleep(0.005)
        queued = [batcher.submit([n, n]) for n in range(3)]
        tasks = [asyncio.ensure_future(q) for q in queued]
        await asyncio.sleep(0.005)
        started = time.perf_counter()
        with pytest.raises(Unavailable, match=r"churn v3 is at capacity \(6 rows waiting\)"):
            await batcher.submit([9])
        assert time.perf_counter() - started < 0.01
        return await asyncio.gather(running, *tasks)

    answers = asyncio.run(main())
    assert [a.predictions for a in answers] == [[2, 4], [0, 0], [2, 2], [4, 4]]


def test_max_wait_gathers_a_bigger_batch(executor: ThreadPoolExecutor) -> None:
    model = SlowDouble(delay=0.0)
    batcher = Batcher(model, executor, max_wait=0.03)

    async def main() -> None:
        first = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.01)
        await asyncio.gather(first, batcher.submit([2]), batcher.submit([3]))

    asyncio.run(main())
    assert model.batches == [[1, 2, 3]]


def test_a_new_event_loop_starts_afresh(executor: ThreadPoolExecutor) -> None:
    batcher = Batcher(SlowDouble(delay=0.0), executor)
    for n in range(3):
        assert asyncio.run(batcher.submit([n])).predictions == [2 * n]


class Recorder:
    """A model taking ``delay`` seconds a call that notes the thread of each call."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.threads: list[int] = []

    def __call__(self, rows: list[Any]) -> Scored:
        self.threads.append(threading.get_ident())
        time.sleep(self.delay)
        if any(r < 0 for r in rows):
            raise ValueError("negative input")
        return Scored([2 * r for r in rows], None)


def test_short_model_calls_run_on_the_event_loop_after_the_first(
    executor: ThreadPoolExecutor,
) -> None:
    model = Recorder(delay=0.0)
    batcher = Batcher(model, executor, inline_below=0.05)

    async def main() -> tuple[int, list[Scored]]:
        answers = [await batcher.submit([i]) for i in range(5)]
        return threading.get_ident(), answers

    loop_thread, answers = asyncio.run(main())
    assert [a.predictions for a in answers] == [[0], [2], [4], [6], [8]]
    assert model.threads[0] != loop_thread  # the first call's time is not known yet
    assert model.threads[1:] == [loop_thread] * 4
    assert batcher.typical is not None and batcher.typical < 0.05


def test_slow_model_calls_stay_off_the_event_loop(executor: ThreadPoolExecutor) -> None:
    model = Recorder(delay=0.02)
    batcher = Batcher(model, executor, inline_below=0.01)

    async def main() -> int:
        for i in range(3):
            await batcher.submit([i])
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert len(model.threads) == 3 and loop_thread not in model.threads


def test_a_bad_request_fails_alone_on_the_event_loop_too(executor: ThreadPoolExecutor) -> None:
    model = Recorder(delay=0.0)
    batcher = Batcher(model, executor, inline_below=0.05)

    async def main() -> list[Any]:
        await batcher.submit([0])  # learns that calls are short
        futures = [batcher.submit([i]) for i in (1, -1, 2)]
        return await asyncio.gather(*futures, return_exceptions=True)

    good, bad, other = asyncio.run(main())
    assert good.predictions == [2] and other.predictions == [4]
    assert isinstance(bad, ValueError) and "negative" in str(bad)
