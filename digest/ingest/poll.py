"""Polling: fetch every due feed concurrently, parse what changed, store it, record health.

Fetching is asynchronous. A fetched feed is parsed and stored (the CPU-heavy part) in worker
processes when there are many, each feed in one transaction under the writers' lock; feeds that
failed or did not change only need their health recorded, which is done in batches.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from multiprocessing.synchronize import Lock

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from digest.db import make_engine, session_factory, write_transaction
from digest.ingest import health
from digest.ingest.errors import ErrorKind, FeedProblem
from digest.ingest.fetch import Fetcher, FetchRequest, FetchResult, FetchSettings, FetchStatus
from digest.ingest.parse import ParsedFeed, parse_feed
from digest.ingest.store import EntryCounts, feed_entries, store_entries
from digest.models import Feed, FeedKind
from digest.timeutil import utcnow

PARALLEL_PARSE_MIN_FEEDS = 8
WRITE_BATCH_FEEDS = 50


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


ProgressCallback = Callable[[int, int], None]


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
            raise LookupError(f"no feed named {', '.join(sorted(missing))}")
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
) -> PollReport:
    """Poll the due feeds (or the named ones); one failing feed never stops the others."""
    with factory() as session:
        feeds, not_due = feeds_to_poll(session, names, include_not_due)
        plans = [
            _Plan(
                f.name,
                FetchRequest(f.id, f.url, f.etag, f.last_modified, f.allow_private_network),
                f.body_hash,
            )
            for f in feeds
        ]
    report = PollReport(not_due=not_due)
    if plans:
        report.outcomes = asyncio.run(_poll(factory, plans, settings or FetchSettings(), progress))
    report.outcomes.sort(key=lambda o: o.name.casefold())
    return report


def _parse_pool(database_url: str, lock: Lock) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["digest.ingest.poll"])
    return ProcessPoolExecutor(
        max_workers=os.cpu_count() or 2,
        mp_context=context,
        initializer=_init_worker,
        initargs=(database_url, lock),
    )


# In a parse worker process, set up once by `_init_worker`: sessions on the poll's database, and
# the lock the poll's processes take in turn to store (waking at once when it is released, where
# SQLite's busy handler would poll for its own lock with growing sleeps).
_worker_sessions: sessionmaker[Session] | None = None
_worker_lock: Lock | None = None


def _init_worker(database_url: str, lock: Lock) -> None:
    global _worker_sessions, _worker_lock
    _worker_sessions = session_factory(make_engine(database_url))
    _worker_lock = lock


def _parse_and_store_in_worker(plan: _Plan, result: FetchResult) -> FeedOutcome:
    assert _worker_sessions is not None and _worker_lock is not None
    return parse_and_store(_worker_sessions, plan, result, _worker_lock)


def _shareable_url(factory: sessionmaker[Session]) -> str | None:
    """The database URL, when other processes can open the same database."""
    url = factory.kw["bind"].url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return None
    return url.render_as_string(hide_password=False)


async def _poll(
    factory: sessionmaker[Session],
    plans: list[_Plan],
    settings: FetchSettings,
    progress: ProgressCallback | None,
) -> list[FeedOutcome]:
    loop = asyncio.get_running_loop()
    unparsed: asyncio.Queue[tuple[_Plan, FetchResult] | None] = asyncio.Queue()
    database_url = _shareable_url(factory)
    lock = multiprocessing.get_context("forkserver").Lock()
    pool = (
        _parse_pool(database_url, lock)
        if database_url and len(plans) >= PARALLEL_PARSE_MIN_FEEDS
        else None
    )
    outcomes: list[FeedOutcome] = []

    def done(new: list[FeedOutcome]) -> None:
        outcomes.extend(new)
        if progress:
            progress(len(outcomes), len(plans))

    async def poll_one(plan: _Plan) -> None:
        result = await fetcher.fetch(plan.request)
        if result.status is not FetchStatus.FETCHED or result.body_hash == plan.body_hash:
            result.body = b""
            await unparsed.put((plan, result))
        elif pool is not None:
            done([await loop.run_in_executor(pool, _parse_and_store_in_worker, plan, result)])
        else:
            done([await asyncio.to_thread(parse_and_store, factory, plan, result, lock)])

    async def record_unparsed_results() -> None:
        """Failures and unchanged feeds need only their health recorded: do it in batches."""
        while True:
            first = await unparsed.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < WRITE_BATCH_FEEDS and not unparsed.empty():
                following = unparsed.get_nowait()
                if following is None:
                    unparsed.put_nowait(None)
                    break
                batch.append(following)
            done(await asyncio.to_thread(record_unparsed, factory, batch, lock))

    try:
        async with Fetcher(settings) as fetcher:
            recorder = asyncio.create_task(record_unparsed_results())
            await asyncio.gather(*(poll_one(plan) for plan in plans))
            await unparsed.put(None)
            await recorder
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return outcomes


def parse_and_store(
    factory: sessionmaker[Session], plan: _Plan, result: FetchResult, lock: Lock
) -> FeedOutcome:
    """Parse a fetched feed, then store its entries and its health in one transaction."""
    parsed = parse_feed(result.body, result.headers, result.final_url)
    now = utcnow()
    with lock, write_transaction(factory) as session:
        feed = session.get_one(Feed, plan.request.feed_id, options=[selectinload(Feed.topics)])
        outcome = _record(feed, result, parsed, now)
        if outcome.status is PollStatus.UPDATED:
            counts = store_entries(session, [feed_entries(feed, parsed.entries)], now)
            outcome.counts = counts[feed.id]
    return outcome


def record_unparsed(
    factory: sessionmaker[Session], batch: list[tuple[_Plan, FetchResult]], lock: Lock
) -> list[FeedOutcome]:
    now = utcnow()
    with lock, write_transaction(factory) as session:
        ids = [plan.request.feed_id for plan, _ in batch]
        feeds = {f.id: f for f in session.scalars(select(Feed).where(Feed.id.in_(ids)))}
        return [_record(feeds[plan.request.feed_id], result, None, now) for plan, result in batch]


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
