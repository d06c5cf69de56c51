"""Rate limits per transport: at most N messages in any window of so many seconds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque


class SlidingWindow:
    """At most `count` events in any `seconds`."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a place now and return 0, or return how long to wait before asking again."""
        with self._lock:
            now = time.monotonic()
            while self._times and self._times[0] <= now - self.seconds:
                self._times.popleft()
            if len(self._times) < self.count:
                self._times.append(now)
                return 0.0
            return self._times[0] + self.seconds - now


class RateLimit:
    """A transport's limits per second and per hour (either may be absent)."""

    def __init__(self, per_second: float | None, per_hour: int | None) -> None:
        self._windows = []
        if per_second:
            # A fractional rate (0.5 a second) becomes whole messages over a longer window.
            count = max(1, round(per_second)) if per_second >= 1 else 1
            self._windows.append(SlidingWindow(count, count / per_second))
        if per_hour:
            self._windows.append(SlidingWindow(per_hour, 3600))

    def wait(self) -> None:
        for window in self._windows:
            while (pause := window.reserve()) > 0:
                time.sleep(pause)

    async def wait_async(self) -> None:
        for window in self._windows:
            while (pause := window.reserve()) > 0:
                await asyncio.sleep(pause)
