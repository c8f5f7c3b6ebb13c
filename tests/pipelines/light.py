"""Pure-Python steps and pipelines for the tests that start processes (fast imports).

Used by the killed-process, scheduler and CLI tests.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from mlstage.pipelines import pipeline, step


@step
def hang(seconds: float) -> int:
    marker = os.environ.get("PIPES_MARKER")
    if marker:
        Path(marker).write_text("started")
    time.sleep(seconds)
    return 1


@step
def after_hang(x: int) -> int:
    return x + 1


@pipeline
def slow(seconds: float = 60.0):
    return after_hang(hang(seconds))


@step
def add(a: int, b: int) -> int:
    return a + b


@step
def flaky(x: int) -> int:
    flag = os.environ.get("PIPES_FAIL_FLAG")
    if flag and Path(flag).exists():
        raise RuntimeError("the flag file says fail")
    return x * 10


@pipeline(schedule="*/5 * * * *")
def arithmetic(a: int = 1, b: int = 2):
    return flaky(add(a, b))
