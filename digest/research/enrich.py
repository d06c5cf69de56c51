"""The enrichment job: items with a DOI or PMID are queued, each due one is answered from the
cache or asked at its service, and the record is written beside the item.

The database is read, then the services are asked with no transaction open, then the answers
are written in short transactions: a slow service never holds a lock a poll or a librarian
waits on. One item's failure is recorded on it, in plain words, and retried with growing
pauses; it never stops the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from digest.db import insert_for, transaction
from digest.models import Item
from digest.models.research import Enrichment, EnrichmentState, ResearchLookup
from digest.research.lookup import (
    CROSSREF,
    PUBMED,
    Answer,
    Outcome,
    ResearchSettings,
    look_up_dois,
    look_up_pmids,
    service_for,
)
from digest.timeutil import utcnow

T = TypeVar("T")
QUEUE_BATCH = 5_000  # items queued a run: a first run on a large archive spreads its work
WRITE_CHUNK = 500  # rows written a transaction
FIRST_RETRY = timedelta(minutes=5)
# Pauses of 5, 10, 20, 40 and 80 minutes: a service down for an afternoon is waited out.
MAX_ATTEMPTS = 6
# A DOI is often announced before it is registered: "not known" is asked again a week later,
# three times, and the cached answer is trusted for as long.
NOT_FOUND_RECHECK = timedelta(days=7)
NOT_FOUND_RECHECKS = 3


@dataclass
class EnrichReport:
    """What a run did, for the command's output and the log."""

    queued: int = 0
    enriched: int = 0
    not_found: int = 0
    retrying: int = 0
    failed: int = 0
    from_cache: int = 0  # items answered without asking
    asked: int = 0  # identifiers asked about
    states: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Due:
    """An enrichment row detached from its session."""

    item_id: int
    service: str
    identifier: str


def queue_new_items(session: Session, now: datetime, limit: int = QUEUE_BATCH) -> int:
    """Queue items that carry a DOI (asked at Crossref) or else a PMID (at PubMed) and have
    no enrichment row yet; an item whose source already gave the record is done at once."""
    query = (
        select(Item.id, Item.doi, Item.pmid, Item.csl)
        .outerjoin(Enrichment, Enrichment.item_id == Item.id)
        .where(
            Enrichment.item_id.is_(None),
            or_(Item.doi.is_not(None), Item.pmid.is_not(None)),
            Item.merged_into_id.is_(None),
        )
        .limit(limit)
    )
    rows = []
    for item_id, doi, pmid, csl in session.execute(query):
        service, identifier = service_for(doi, pmid)
        if not identifier:
            continue
        given = isinstance(csl, dict) and identifier in (csl.get("DOI"), csl.get("PMID"))
        rows.append(
            {
                "item_id": item_id,
                "service": service,
                "identifier": identifier,
                "state": EnrichmentState.ENRICHED if given else EnrichmentState.PENDING,
                "attempts": 0,
                "enriched_at": now if given else None,
                "created_at": now,
            }
        )
    if rows:
        statement = insert_for(session, Enrichment).on_conflict_do_nothing()
        session.execute(statement, rows)
    return len(rows)


def due(session: Session, now: datetime, limit: int) -> list[Due]:
    """Rows waiting for a first look-up or a retry, and "not known" answers due a re-check."""
    waiting = and_(
        Enrichment.state == EnrichmentState.PENDING,
        or_(Enrichment.next_attempt_at.is_(None), Enrichment.next_attempt_at <= now),
    )
    recheck = and_(Enrichment.state == EnrichmentState.NOT_FOUND, Enrichment.next_attempt_at <= now)
    query = (
        select(Enrichment.item_id, Enrichment.service, Enrichment.identifier)
        .where(or_(waiting, recheck))
        .order_by(Enrichment.item_id)
        .limit(limit)
    )
    return [Due(*row) for row in session.execute(query)]


def cached(
    session: Session, service: str, identifiers: Iterable[str], now: datetime
) -> dict[str, Answer]:
    """Answers already had: a record is kept for good, "not known" for a while."""
    answers: dict[str, Answer] = {}
    wanted = sorted(set(identifiers))
    for start in range(0, len(wanted), WRITE_CHUNK):
        query = select(ResearchLookup).where(
            ResearchLookup.service == service,
            ResearchLookup.identifier.in_(wanted[start : start + WRITE_CHUNK]),
        )
        for lookup in session.scalars(query):
            if lookup.found and lookup.record:
                answers[lookup.identifier] = Answer(Outcome.FOUND, record=lookup.record)
            elif not lookup.found and now - lookup.fetched_at < NOT_FOUND_RECHECK:
                answers[lookup.identifier] = Answer(Outcome.NOT_FOUND, reason=_unknown(service))
    return answers


def _unknown(service: str) -> str:
    return (
        "Crossref does not know this DOI."
        if service == CROSSREF
        else ("PubMed does not know this PMID.")
    )


async def ask(
    wanted: dict[str, set[str]], settings: ResearchSettings
) -> dict[tuple[str, str], Answer]:
    """Ask both services at once, each at its own pace."""
    crossref, pubmed = await asyncio.gather(
        look_up_dois(wanted.get(CROSSREF, ()), settings),
        look_up_pmids(wanted.get(PUBMED, ()), settings),
    )
    answers = {(CROSSREF, key): answer for key, answer in crossref.items()}
    answers.update({(PUBMED, key): answer for key, answer in pubmed.items()})
    return answers


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, in a thread of its own when this
    one already runs an event loop (a caller inside async code, or a browser driver's)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(asyncio.run, coroutine).result()


def display_names(record: dict[str, Any]) -> list[str]:
    """An item's author names ("Given Family", or an organisation's name) from a record."""
    names = []
    for name in record.get("author") or []:
        if not isinstance(name, dict):
            continue
        shown = name.get("literal") or " ".join(
            part for part in (name.get("given"), name.get("family")) if part
        )
        if shown:
            names.append(shown)
    return names


def apply(item: Item, row: Enrichment, answer: Answer, now: datetime) -> str:
    """Write an answer onto its item and enrichment row; the state it leaves the row in.

    The record replaces `Item.csl` only: a librarian's corrections live beside it, and the
    feed's title is never touched; authors and publisher are filled only when the item had none.
    """
    if answer.outcome == Outcome.FOUND and answer.record is not None:
        item.csl = answer.record
        if not item.authors:
            item.authors = display_names(answer.record)
        if not item.publisher and answer.record.get("publisher"):
            item.publisher = answer.record["publisher"]
        row.state, row.attempts, row.last_error = EnrichmentState.ENRICHED, 0, None
        row.next_attempt_at, row.enriched_at = None, now
    elif answer.outcome == Outcome.NOT_FOUND and row.service == CROSSREF and item.pmid:
        # Not every article has its DOI registered yet; one PubMed knows is found there.
        row.service, row.identifier, row.state = PUBMED, item.pmid, EnrichmentState.PENDING
        row.attempts, row.next_attempt_at = 0, None
        row.last_error = f"{answer.reason} PubMed will be asked about its PMID, {item.pmid}."
    elif answer.outcome == Outcome.NOT_FOUND:
        rechecked = row.attempts + 1 if row.state == EnrichmentState.NOT_FOUND else 1
        row.state, row.attempts, row.last_error = (
            EnrichmentState.NOT_FOUND,
            rechecked,
            answer.reason,
        )
        row.next_attempt_at = now + NOT_FOUND_RECHECK if rechecked < NOT_FOUND_RECHECKS else None
    elif answer.outcome == Outcome.RETRY and row.attempts + 1 < MAX_ATTEMPTS:
        row.attempts += 1
        pause = max(
            FIRST_RETRY * 2 ** (row.attempts - 1), timedelta(seconds=answer.retry_after or 0)
        )
        row.state, row.last_error, row.next_attempt_at = (
            EnrichmentState.PENDING,
            answer.reason,
            now + pause,
        )
    else:
        row.attempts += 1
        row.state, row.last_error, row.next_attempt_at = EnrichmentState.FAILED, answer.reason, None
    return str(row.state)


def _remember(session: Session, asked: dict[tuple[str, str], Answer], now: datetime) -> None:
    rows = [
        {
            "service": service,
            "identifier": identifier,
            "found": answer.outcome == Outcome.FOUND,
            "record": answer.record,
            "fetched_at": now,
        }
        for (service, identifier), answer in asked.items()
        if answer.outcome in (Outcome.FOUND, Outcome.NOT_FOUND)
    ]
    if not rows:
        return
    statement = insert_for(session, ResearchLookup)
    statement = statement.on_conflict_do_update(
        index_elements=[ResearchLookup.service, ResearchLookup.identifier],
        set_={
            "found": statement.excluded.found,
            "record": statement.excluded.record,
            "fetched_at": statement.excluded.fetched_at,
        },
    )
    session.execute(statement, rows)


def _write(
    factory: sessionmaker[Session],
    rows: Sequence[Due],
    answers: dict[tuple[str, str], Answer],
    asked: dict[tuple[str, str], Answer],
    report: EnrichReport,
) -> None:
    now = utcnow()
    with transaction(factory) as session:
        _remember(session, asked, now)
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        ids = [row.item_id for row in chunk]
        with transaction(factory) as session:
            items = {i.id: i for i in session.scalars(select(Item).where(Item.id.in_(ids)))}
            queue = session.scalars(select(Enrichment).where(Enrichment.item_id.in_(ids)))
            for row in queue:
                item, answer = items.get(row.item_id), answers.get((row.service, row.identifier))
                if item is None or answer is None:
                    continue  # deleted, or its identifier changed, while we asked
                state = apply(item, row, answer, now)
                report.states[state] = report.states.get(state, 0) + 1


def enrich_pending(
    factory: sessionmaker[Session], settings: ResearchSettings, limit: int = 1_000
) -> EnrichReport:
    """Queue new items, then look up to `limit` due ones; what happened, counted."""
    report = EnrichReport()
    now = utcnow()
    with transaction(factory) as session:
        report.queued = queue_new_items(session, now)
    with factory() as session:
        rows = due(session, now, limit)
        answers: dict[tuple[str, str], Answer] = {}
        for service in (CROSSREF, PUBMED):
            keys = [row.identifier for row in rows if row.service == service]
            answers.update(
                {(service, key): a for key, a in cached(session, service, keys, now).items()}
            )
    report.from_cache = sum(1 for row in rows if (row.service, row.identifier) in answers)
    wanted: dict[str, set[str]] = {}
    for row in rows:
        if (row.service, row.identifier) not in answers:
            wanted.setdefault(row.service, set()).add(row.identifier)
    asked = _run(ask(wanted, settings)) if wanted else {}
    report.asked = len(asked)
    answers.update(asked)
    _write(factory, rows, answers, asked, report)
    report.enriched = report.states.get(EnrichmentState.ENRICHED, 0)
    report.not_found = report.states.get(EnrichmentState.NOT_FOUND, 0)
    report.retrying = report.states.get(EnrichmentState.PENDING, 0)
    report.failed = report.states.get(EnrichmentState.FAILED, 0)
    return report
