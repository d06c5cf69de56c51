"""Polling: fetch every due feed concurrently, parse what changed, store it, record health.

Fetching is asynchronous; parsing (the CPU-heavy part) runs in worker processes when there is
much of it; one writer stores results in batches from a thread, so the event loop keeps fetching.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from digest.db import write_transaction
from digest.errors import NotFound
from digest.ingest import health, sources
from digest.ingest.errors import ErrorKind, FeedProblem
from digest.ingest.fetch import Fetcher, FetchRequest, FetchResult, FetchSettings, FetchStatus
from digest.ingest.parse import ParsedFeed, parse_feed
from digest.ingest.sources import SourcePlan, source_plan
from digest.ingest.store import EntryCounts, FeedEntries, feed_entries, store_entries
from digest.models import Feed, FeedKind
from digest.timeutil import utcnow

PARALLEL_PARSE_MIN_FEEDS = 8
WRITE_BATCH_FEEDS = 50
GATHER_SECONDS = 0.05  # the longest a batch waits for more feeds to arrive


class PollStatus(StrEnum):
    UPDATED = "updated"
    NOT_MODIFIED = "not modified"
    SAME_CONTENT = "same content"
    FAILED = "failed"


@dataclass
class FeedOutcome:
    feed_id: int
    name: str
    status: PollStatus
    counts: EntryCounts = field(default_factory=EntryCounts)
    problem: FeedProblem | None = None
    paused: bool = False


@dataclass
class PollReport:
    outcomes: list[FeedOutcome] = field(default_factory=list)
    not_due: int = 0

    def total(self, attribute: str) -> int:
        return sum(getattr(o.counts, attribute) for o in self.outcomes)

    @property
    def failed(self) -> list[FeedOutcome]:
        return [o for o in self.outcomes if o.status is PollStatus.FAILED]


@dataclass(frozen=True)
class _Plan:
    """What polling one feed needs to know, detached from the database session."""

    name: str
    request: FetchRequest
    body_hash: str | None
    source: SourcePlan | None = None  # a source other than a feed (`ingest.sources`)


ProgressCallback = Callable[[int, int], None]
# Run in each batch's transaction after its entries are stored (topic suggestions, say), so
# that work goes on while later feeds are still being fetched and parsed.
StoredCallback = Callable[[Session], None]


def _is_held_back(feed: Feed, now: datetime) -> bool:
    """The server asked us to wait (429/503 Retry-After): even a forced poll respects that."""
    return (
        feed.last_error_kind == ErrorKind.RATE_LIMITED.value
        and feed.next_poll_at is not None
        and feed.next_poll_at > now
    )


def feeds_to_poll(
    session: Session,
    names: Sequence[str] = (),
    include_not_due: bool = False,
    now: datetime | None = None,
) -> tuple[list[Feed], int]:
    """The feeds a poll should fetch, and how many others are enabled but not yet due."""
    now = now or utcnow()
    query = select(Feed).where(Feed.kind == FeedKind.FEED).order_by(Feed.name)
    if names:
        feeds = list(session.scalars(query.where(Feed.name.in_(names))))
        missing = set(names) - {f.name for f in feeds}
        if missing:
            raise NotFound(f"no feed named {', '.join(sorted(missing))}")
        return feeds, 0
    active = list(session.scalars(query.where(Feed.enabled, ~Feed.paused)))
    due = [
        f
        for f in active
        if (include_not_due and not _is_held_back(f, now))
        or f.next_poll_at is None
        or f.next_poll_at <= now
    ]
    return due, len(active) - len(due)


def poll_feeds(
    factory: sessionmaker[Session],
    names: Sequence[str] = (),
    include_not_due: bool = False,
    settings: FetchSettings | None = None,
    progress: ProgressCallback | None = None,
    on_stored: StoredCallback | None = None,
    source_access: Mapping[str, str] | None = None,
) -> PollReport:
    """Poll the due feeds (or the named ones); one failing feed never stops the others.
    `on_stored` runs in the transaction of each batch that stored entries; `source_access` is
    who sources that are services are asked as (`SourcePlan.access`)."""
    with factory() as session:
        feeds, not_due = feeds_to_poll(session, names, include_not_due)
        settings = settings or FetchSettings()
        plans = [
            _Plan(
                f.name,
                FetchRequest(f.id, f.url, f.etag, f.last_modified, f.allow_private_network),
                f.body_hash,
                source_plan(f, settings, source_access or {}),
            )
            for f in feeds
        ]
    report = PollReport(not_due=not_due)
    if plans:
        with _fewer_collections():
            report.outcomes = asyncio.run(_poll(factory, plans, settings, progress, on_stored))
    report.outcomes.sort(key=lambda o: o.name.casefold())
    return report


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cycle collector less often while storing: batches make many short-lived objects
    and few cycles, and with the default thresholds collection took a third of the time."""
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _parse_pool() -> ProcessPoolExecutor:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["digest.ingest.parse", "feedparser"])
    return ProcessPoolExecutor(max_workers=os.cpu_count() or 2, mp_context=context)


async def _poll(
    factory: sessionmaker[Session],
    plans: list[_Plan],
    settings: FetchSettings,
    progress: ProgressCallback | None,
    on_stored: StoredCallback | None,
) -> list[FeedOutcome]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[_Plan, FetchResult, ParsedFeed | None] | None] = asyncio.Queue()
    # The worker processes start when the first changed feed needs parsing: a poll where
    # every feed is unchanged (304) never pays for them.
    pool: Executor | None = None
    parallel = len(plans) >= PARALLEL_PARSE_MIN_FEEDS
    outcomes: list[FeedOutcome] = []
    # Feeds between the start of their fetch and the end of their storing: bounding them bounds
    # memory, as fetching outruns parsing and storing.
    in_flight = asyncio.Semaphore(settings.max_concurrency + 2 * WRITE_BATCH_FEEDS)

    async def poll_one(plan: _Plan) -> None:
        nonlocal pool
        await in_flight.acquire()
        if plan.source is not None:
            harvest = await sources.harvest(fetcher, plan.source)
            await queue.put((plan, harvest.result, harvest.parsed))
            return
        result = await fetcher.fetch(plan.request)
        parsed = None
        if result.status is FetchStatus.FETCHED and result.body_hash != plan.body_hash:
            if parallel and pool is None:
                pool = _parse_pool()
            if pool is not None:
                parsed = await loop.run_in_executor(
                    pool,
                    parse_feed,
                    result.body,
                    result.headers,
                    result.final_url,
                    settings.max_entries,
                )
            else:
                parsed = parse_feed(
                    result.body, result.headers, result.final_url, settings.max_entries
                )
        result.body = b""  # parsed or unchanged: the bytes are no longer needed
        await queue.put((plan, result, parsed))

    async def write() -> None:
        while True:
            first = await queue.get()
            if first is None:
                return
            batch = [first]
            # Wait a moment for a fuller batch: unchanged feeds arrive faster than one
            # transaction each is worth. When the writer is behind, the batch is full at once.
            gathered_by = loop.time() + GATHER_SECONDS
            while len(batch) < WRITE_BATCH_FEEDS:
                if not queue.empty():
                    following = queue.get_nowait()
                else:
                    try:
                        following = await asyncio.wait_for(queue.get(), gathered_by - loop.time())
                    except TimeoutError:
                        break
                if following is None:  # every fetch is done
                    queue.put_nowait(None)
                    break
                batch.append(following)
            outcomes.extend(await asyncio.to_thread(_store, factory, batch, on_stored))
            for _ in batch:
                in_flight.release()
            if progress:
                progress(len(outcomes), len(plans))

    try:
        async with Fetcher(settings) as fetcher:
            writer = asyncio.create_task(write())
            fetching = asyncio.gather(*(poll_one(plan) for plan in plans))
            await asyncio.wait((writer, fetching), return_when=asyncio.FIRST_COMPLETED)
            if writer.done():
                # The writer stops early only by failing (the database refused or went
                # away): the fetches waiting for it to free their places would wait forever.
                fetching.cancel()
                await asyncio.gather(fetching, return_exceptions=True)
                writer.result()
            await fetching
            await queue.put(None)
            await writer
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return outcomes


def _store(
    factory: sessionmaker[Session],
    batch: list[tuple[_Plan, FetchResult, ParsedFeed | None]],
    on_stored: StoredCallback | None = None,
) -> list[FeedOutcome]:
    now = utcnow()
    with write_transaction(factory) as session:
        ids = [plan.request.feed_id for plan, _, _ in batch]
        query = select(Feed).where(Feed.id.in_(ids))
        if any(parsed is not None for _, _, parsed in batch):
            # Stored entries take their feed's topics; an unchanged feed needs none.
            query = query.options(selectinload(Feed.topics))
        feeds = {f.id: f for f in session.scalars(query)}
        outcomes: list[FeedOutcome] = []
        to_store: list[FeedEntries] = []
        for plan, result, parsed in batch:
            feed = feeds[plan.request.feed_id]
            outcome = _record(feed, result, parsed, now)
            outcomes.append(outcome)
            if parsed is not None and outcome.status is PollStatus.UPDATED:
                to_store.append(feed_entries(feed, parsed.entries))
        counts = store_entries(session, to_store, now)
        for outcome in outcomes:
            outcome.counts = counts.get(outcome.feed_id, outcome.counts)
        if on_stored is not None and any(c.new or c.duplicate for c in counts.values()):
            on_stored(session)
    return outcomes


def _record(
    feed: Feed, result: FetchResult, parsed: ParsedFeed | None, now: datetime
) -> FeedOutcome:
    """Update the feed's health from one poll and say what happened."""
    outcome = FeedOutcome(feed.id, feed.name, PollStatus.UPDATED)
    problem = result.problem or (parsed.problem if parsed else None)
    if result.status is FetchStatus.FAILED or (
        problem is not None and problem.kind is not ErrorKind.WARNING
    ):
        assert problem is not None
        health.record_failure(feed, problem, now, result.retry_after_seconds)
        outcome.status, outcome.problem, outcome.paused = PollStatus.FAILED, problem, feed.paused
        return outcome
    if result.moved_to:
        feed.url = result.moved_to
    if result.status is FetchStatus.NOT_MODIFIED:
        outcome.status = PollStatus.NOT_MODIFIED
    elif parsed is None:
        outcome.status = PollStatus.SAME_CONTENT
    else:
        feed.title = parsed.title or feed.title
        feed.site_url = parsed.site_url or feed.site_url
        feed.harvested_until = parsed.harvested_until or feed.harvested_until
        outcome.problem = problem
    feed.etag, feed.last_modified = result.etag, result.last_modified
    feed.body_hash = result.body_hash or feed.body_hash
    warning = problem if parsed is not None else _kept_warning(feed)
    health.record_success(feed, now, warning, result.max_age_seconds)
    return outcome


def _kept_warning(feed: Feed) -> FeedProblem | None:
    """An unchanged feed still has the warning its content earned when last parsed."""
    if feed.last_error_kind == ErrorKind.WARNING.value and feed.last_error:
        return FeedProblem(ErrorKind.WARNING, feed.last_error)
    return None
