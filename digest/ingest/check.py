"""Checking feeds without storing anything: can each one be fetched and read, right now?"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.ingest import sources
from digest.ingest.fetch import Fetcher, FetchRequest, FetchSettings, FetchStatus
from digest.ingest.parse import ParsedFeed, parse_feed
from digest.ingest.sources import SourcePlan, source_plan
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


@dataclass(frozen=True)
class CheckPlan:
    name: str
    request: FetchRequest
    source: SourcePlan | None  # a source that is not a feed, asked by its own protocol


def feeds_to_check(
    session: Session,
    names: Sequence[str] = (),
    settings: FetchSettings | None = None,
    source_access: Mapping[str, str] | None = None,
) -> list[CheckPlan]:
    """Every feed and source (or those named), by name: read before fetching, so that no
    database transaction waits on the network. A source is asked what its next poll would
    ask (from where its last harvest got to)."""
    settings = settings or FetchSettings()
    query = select(Feed).where(Feed.kind == FeedKind.FEED).order_by(Feed.name)
    if names:
        query = query.where(Feed.name.in_(names))
    return [
        CheckPlan(
            f.name,
            FetchRequest(f.id, f.url, allow_private_network=f.allow_private_network),
            source_plan(f, settings, source_access or {}),
        )
        for f in session.scalars(query)
    ]


def check_feeds(
    to_check: list[CheckPlan], settings: FetchSettings | None = None
) -> list[FeedCheck]:
    """Fetch and parse the feeds (harvest the sources), all at once, storing nothing."""
    return asyncio.run(_check_all(to_check, settings or FetchSettings()))


async def _check_all(to_check: list[CheckPlan], settings: FetchSettings) -> list[FeedCheck]:
    async with Fetcher(settings) as fetcher:
        return list(await asyncio.gather(*(_check(fetcher, one, settings) for one in to_check)))


async def _check(fetcher: Fetcher, one: CheckPlan, settings: FetchSettings) -> FeedCheck:
    parsed: ParsedFeed | None
    if one.source is not None:
        harvest = await sources.harvest(fetcher, one.source)
        result, parsed = harvest.result, harvest.parsed
    else:
        result, parsed = await fetcher.fetch(one.request), None
    if result.status is FetchStatus.FAILED:
        assert result.problem is not None
        return FeedCheck(one.name, None, result.problem.message)
    if parsed is None:
        parsed = parse_feed(result.body, result.headers, result.final_url, settings.max_entries)
    if parsed.problem and not parsed.entries and one.source is None:
        return FeedCheck(one.name, None, parsed.problem.message)
    note = parsed.problem.message if parsed.problem else ""
    if result.moved_to:
        note = f"Moved permanently to {result.moved_to}. {note}"
    return FeedCheck(one.name, len(parsed.entries), note)
