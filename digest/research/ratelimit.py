"""A per-service request pace: so many requests a second, held back for everyone at once when
the service asks for a pause (a 429 or 503 with Retry-After), and slowed when it advertises a
lower limit than ours (Crossref's X-Rate-Limit-Limit and -Interval headers)."""

from __future__ import annotations

import asyncio
import time


class Pace:
    """Spaces the starts of requests to one service evenly at `rate` a second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next request may start."""
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + 1 / self.rate
        if start > now:
            await asyncio.sleep(start - now)

    def hold(self, seconds: float) -> None:
        """No request starts for `seconds` from now (the service asked for a pause)."""
        self._next = max(self._next, time.monotonic() + seconds)

    def advertised(self, headers: dict[str, str]) -> None:
        """Slow to the limit the service advertises, if it is lower than ours."""
        limit = headers.get("x-rate-limit-limit", "").strip()
        interval = headers.get("x-rate-limit-interval", "").strip().removesuffix("s")
        if limit.isdigit() and interval.isdigit() and int(limit) > 0 and int(interval) > 0:
            self.rate = min(self.rate, int(limit) / int(interval))
