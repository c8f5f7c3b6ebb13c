"""Capturing what a step prints and logs, per thread, while still showing it.

``sys.stdout``/``sys.stderr`` are wrapped while at least one step runs; text
written by a thread that runs a step is copied into that step's log, and
everything still reaches the original stream. Log records at or above the
logger's level from that thread are copied too.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_lock = threading.Lock()
_buffers: dict[int, list[str]] = {}
_sizes: dict[int, int] = {}
_active = 0
_saved: tuple[TextIO, TextIO] | None = None
_LIMIT = 1_000_000  # characters kept per step


class _Tee:
    def __init__(self, original: TextIO) -> None:
        self._original = original

    def write(self, text: str) -> int:
        ident = threading.get_ident()
        buffer = _buffers.get(ident)
        if buffer is not None and _sizes.get(ident, 0) < _LIMIT:
            buffer.append(text)
            _sizes[ident] = _sizes.get(ident, 0) + len(text)
        return self._original.write(text)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buffer = _buffers.get(record.thread or 0)
        if buffer is not None:
            buffer.append(f"{record.levelname} {record.name}: {record.getMessage()}\n")


_handler = _Handler()


@contextmanager
def capture(buffer: list[str]) -> Iterator[list[str]]:
    """Copy this thread's output into ``buffer`` while the block runs."""
    global _active, _saved
    ident = threading.get_ident()
    with _lock:
        if _active == 0:
            _saved = (sys.stdout, sys.stderr)
            sys.stdout = _Tee(sys.stdout)  # type: ignore[assignment]
            sys.stderr = _Tee(sys.stderr)  # type: ignore[assignment]
            logging.getLogger().addHandler(_handler)
        _active += 1
        _buffers[ident] = buffer
    try:
        yield buffer
    finally:
        with _lock:
            _buffers.pop(ident, None)
            _sizes.pop(ident, None)
            _active -= 1
            if _active == 0 and _saved is not None:
                if isinstance(sys.stdout, _Tee):
                    sys.stdout = _saved[0]
                if isinstance(sys.stderr, _Tee):
                    sys.stderr = _saved[1]
                _saved = None
                logging.getLogger().removeHandler(_handler)
