"""When a newsletter goes out: its weekday and local time, in its own timezone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def next_send_time(weekday: int, at: time, timezone: str, now: datetime) -> datetime:
    """The next moment after `now` that is `weekday` (Monday 0) at `at`, local time, in UTC.

    Computed on the local calendar, so 09:00 London stays 09:00 across clock changes.
    """
    zone = ZoneInfo(timezone)
    local_now = now.astimezone(zone)
    days_ahead = (weekday - local_now.weekday()) % 7
    for extra_weeks in (0, 1):
        day = local_now.date() + timedelta(days=days_ahead + 7 * extra_weeks)
        candidate = datetime.combine(day, at, tzinfo=zone)
        if candidate > local_now:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: a week ahead is always later")
