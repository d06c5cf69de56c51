"""Checking feeds without storing anything: can each one be fetched and read, right now?"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.ingest.fetch import Fetcher, FetchRequest, FetchSettings, FetchStatus
from digest.ingest.parse import parse_feed
from digest.models import Feed, FeedKind


@dataclass(frozen=True)
class FeedCheck:
    """One feed's answer: how many entries it reads as (None: it failed), and a note in words
    (why it failed; a problem it was read despite; where it moved to)."""

    name: str
    entries: int | None
    note: str

    @property
    def failed(self) -> bool:
        return self.entries is None


def feeds_to_check(session: Session, names: Sequence[str] = ()) -> list[tuple[str, FetchRequest]]:
    """Every feed (or those named), by name: read before fetching, so that no database
    transaction waits on the network."""
    query = select(Feed).where(Feed.kind == FeedKind.FEED).order_by(Feed.name)
    if names:
        query = query.where(Feed.name.in_(names))
    return [
        (f.name, FetchRequest(f.id, f.url, allow_private_network=f.allow_private_network))
        for f in session.scalars(query)
    ]


def check_feeds(
    requests: list[tuple[str, FetchRequest]], settings: FetchSettings | None = None
) -> list[FeedCheck]:
    """Fetch and parse the feeds, all at once."""
    return asyncio.run(_check_all(requests, settings or FetchSettings()))


async def _check_all(
    requests: list[tuple[str, FetchRequest]], settings: FetchSettings
) -> list[FeedCheck]:
    async with Fetcher(settings) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(r) for _, r in requests))
    checks = []
    for (name, _), result in zip(requests, results, strict=True):
        if result.status is FetchStatus.FAILED:
            assert result.problem is not None
            checks.append(FeedCheck(name, None, result.problem.message))
            continue
        parsed = parse_feed(result.body, result.headers, result.final_url, settings.max_entries)
        if parsed.problem and not parsed.entries:
            checks.append(FeedCheck(name, None, parsed.problem.message))
            continue
        note = parsed.problem.message if parsed.problem else ""
        if result.moved_to:
            note = f"Moved permanently to {result.moved_to}. {note}"
        checks.append(FeedCheck(name, len(parsed.entries), note))
    return checks
