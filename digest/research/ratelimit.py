"""A per-service request pace: so many requests a second, held back for everyone at once when
the service asks for a pause (a 429 or 503 with Retry-After), and slowed when it advertises a
lower limit than ours (Crossref's X-Rate-Limit-Limit and -Interval headers)."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class Pace:
    """Spaces the starts of requests to one service evenly at `rate` a second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = time.monotonic()
        self._starts: deque[float] = deque()  # the last second's worth of starts
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next request may start.

        Starts keep to a grid an interval apart, waited for under the lock: requests whose
        sleeps all ended late (a busy event loop) would otherwise start together. A start
        late by less than an interval keeps the grid, so lateness does not add up over a
        run; and never more than a second's worth start within any second, which is how a
        service counts (Crossref's X-Rate-Limit-Interval)."""
        async with self._lock:
            interval = 1 / self.rate
            per_second = max(1, int(self.rate))
            while len(self._starts) > per_second:
                self._starts.popleft()
            earliest = self._next
            if len(self._starts) == per_second:
                earliest = max(earliest, self._starts[0] + 1.0)
            now = time.monotonic()
            if earliest > now:
                await asyncio.sleep(earliest - now)
                now = time.monotonic()
            self._starts.append(now)
            self._next = max(self._next, now - interval) + interval

    def hold(self, seconds: float) -> None:
        """No request starts for `seconds` from now (the service asked for a pause)."""
        self._next = max(self._next, time.monotonic() + seconds)

    def advertised(self, headers: dict[str, str]) -> None:
        """Slow to the limit the service advertises, if it is lower than ours."""
        limit = headers.get("x-rate-limit-limit", "").strip()
        interval = headers.get("x-rate-limit-interval", "").strip().removesuffix("s")
        if (
            (limit + interval).isascii()
            and limit.isdigit()
            and interval.isdigit()
            and int(limit) > 0
            and int(interval) > 0
        ):
            self.rate = min(self.rate, int(limit) / int(interval))
