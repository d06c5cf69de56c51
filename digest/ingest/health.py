"""Feed health: what one poll means for a feed's failure count, pause state and next poll."""

from __future__ import annotations

from datetime import datetime, timedelta

from digest.ingest.errors import ErrorKind, FeedProblem
from digest.models import Feed, FeedKind
from digest.wording import datetime_text

MAX_CONSECUTIVE_FAILURES = 5
MAX_BACKOFF = timedelta(hours=24)
MAX_CACHE_DELAY = timedelta(hours=24)


def record_success(
    feed: Feed,
    now: datetime,
    warning: FeedProblem | None = None,
    max_age_seconds: int | None = None,
) -> None:
    """Any success resets the failure count; a warning is kept so people can see it."""
    feed.last_fetched_at = feed.last_success_at = now
    feed.consecutive_failures = 0
    feed.last_error_kind = warning.kind.value if warning else None
    feed.last_error = warning.message if warning else None
    delay = timedelta(minutes=feed.poll_interval_minutes)
    if max_age_seconds:
        delay = max(delay, min(timedelta(seconds=max_age_seconds), MAX_CACHE_DELAY))
    feed.next_poll_at = now + delay


def record_failure(
    feed: Feed, problem: FeedProblem, now: datetime, retry_after_seconds: int | None = None
) -> None:
    """Count the failure, back off, and pause the feed when it needs a person to look."""
    feed.last_fetched_at = now
    feed.consecutive_failures += 1
    feed.last_error_kind = problem.kind.value
    feed.last_error = problem.message
    backoff = min(
        timedelta(minutes=feed.poll_interval_minutes) * 2 ** (feed.consecutive_failures - 1),
        MAX_BACKOFF,
    )
    if retry_after_seconds is not None:
        backoff = timedelta(seconds=max(retry_after_seconds, 60))
        feed.last_error = (
            f"{problem.message} Digest will try again after {feed_time(now + backoff)}."
        )
    feed.next_poll_at = now + backoff
    if problem.kind is ErrorKind.HTTP_STATUS and problem.http_status == 410:
        pause(feed, problem.message)
    elif feed.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
        pause(
            feed,
            f"Paused after {feed.consecutive_failures} failed polls in a row. "
            f"Last error: {problem.message}",
        )


def pause(feed: Feed, reason: str) -> None:
    feed.paused = True
    feed.paused_reason = reason


def resume(feed: Feed, now: datetime) -> None:
    feed.paused = False
    feed.paused_reason = None
    feed.consecutive_failures = 0
    feed.next_poll_at = now


def feed_time(moment: datetime) -> str:
    """In the one style; in UTC, named, since the sentence is stored for any reader."""
    return datetime_text(moment, "UTC")


def describe_health(feed: Feed) -> str:
    """The feed's state in one plain sentence."""
    if feed.kind is FeedKind.CATALOGUE:
        return "Catalogue records, added with `digest items import`."
    if feed.paused:
        return feed.paused_reason or "Paused."
    if not feed.enabled:
        return "Disabled in the configuration."
    if feed.last_fetched_at is None:
        return "Not polled yet."
    if feed.consecutive_failures:
        times = "once" if feed.consecutive_failures == 1 else f"{feed.consecutive_failures} times"
        return f"Failing ({times} in a row): {feed.last_error}"
    if feed.last_error:
        return f"Working, with a warning: {feed.last_error}"
    return "Working."


def needs_attention(feed: Feed) -> bool:
    return feed.paused or feed.consecutive_failures > 0
