"""When a newsletter goes out: its weekday and local time, in its own timezone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from digest.models import Edition, EditionState
from digest.wording import datetime_text


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


def send_words(edition: Edition) -> str:
    """When an edition goes, or went, out, on its newsletter's clock: "Goes out Tue 1 Dec 2026,
    09:00 GMT" until sending starts, then "Sending since …", then "Sent …"."""
    timezone = edition.newsletter.timezone
    if edition.state is EditionState.SENT and edition.sent_at:
        return f"Sent {datetime_text(edition.sent_at, timezone)}"
    if edition.state is EditionState.SENDING and edition.sending_started_at:
        return f"Sending since {datetime_text(edition.sending_started_at, timezone)}"
    if edition.state is EditionState.CANCELLED:
        return "Cancelled"
    if edition.send_at:
        return f"Goes out {datetime_text(edition.send_at, timezone)}"
    return "Goes out once approved"
