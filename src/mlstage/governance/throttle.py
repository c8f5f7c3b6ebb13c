"""Login throttling: after too many failures for a user name or from an address, wait (S13).

Failures are counted per key (``user:<name>`` and ``ip:<address>``) in a
sliding window. Past the limit the caller gets 429 with ``Retry-After``:
the wait doubles with every further failure, up to the window. Per
process and in memory: with N workers an attacker gets at most N times the
limit, which scrypt's cost keeps small.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from mlstage.errors import MlstageError


class TooManyAttempts(MlstageError):
    """Too many failed sign-ins; ``retry_after`` seconds must pass first."""

    code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginThrottle:
    """Counts failures per key; ``check`` raises ``TooManyAttempts`` while a key is locked."""

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 900.0,
        *,
        ip_factor: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.ip_factor = ip_factor
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.max_failures * (self.ip_factor if key.startswith("ip:") else 1)

    def check(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                over = len(times) - self._limit(key) + 1
                if over > 0:
                    wait = min(self.window, 2.0 ** min(over, 16))
                    remaining = times[-1] + wait - now
                    if remaining > 0:
                        raise TooManyAttempts(
                            f"too many failed sign-ins; try again in {int(remaining) + 1} seconds",
                            int(remaining) + 1,
                        )

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, user_key: str) -> None:
        with self._lock:
            self._failures.pop(user_key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(self._failures) > 100_000:  # bound memory under a spray of names
            self._failures = {k: v for k, v in self._failures.items() if v}
        return times
