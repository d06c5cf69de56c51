"""The delivery queue: one row per edition and subscriber, claimed in batches by workers.

A send starts by writing every delivery in one transaction, so an edition is either not
started or wholly queued. Workers claim batches (on PostgreSQL with SKIP LOCKED, so any number
share the work), and each outcome is recorded before that connection sends anything else.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from digest import audit
from digest.bulk import insert_rows
from digest.curation.topics import topic_tree, with_descendants
from digest.db import lock_for_writing
from digest.delivery.timeline import timeline as timeline  # the send over time, for its page
from digest.editions.compose import EditionError
from digest.editions.render import entries
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionState,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionTopic,
    Topic,
)
from digest.timeutil import utcnow

EVERYTHING = "*"
# Five tries over about a day: the first, then after 15 minutes, 1, 4 and 18 hours.
RETRY_DELAYS = (
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(hours=18),
)


def cut_key(item_topics: Sequence[frozenset[str]], chosen: frozenset[str]) -> str:
    """The items a subscriber with `chosen` topics (and those below them) gets, as positions
    ("*": all; "": none)."""
    if not chosen:
        return EVERYTHING
    wanted = [str(n) for n, topics in enumerate(item_topics) if topics & chosen]
    return EVERYTHING if len(wanted) == len(item_topics) else ",".join(wanted)


def cut_positions(key: str, count: int) -> list[int]:
    if key == EVERYTHING:
        return list(range(count))
    return [int(n) for n in key.split(",") if n]


class Planned(NamedTuple):
    """A delivery to be queued: whom, which cut, and whether it is skipped from the start."""

    subscriber_id: int
    subscription_id: int
    cut: str
    skipped: bool


def plan(
    subscriptions: Iterable[tuple[int, int, str | None]],
    item_topics: Sequence[frozenset[str]],
    tree: Mapping[str, str | None],
    note_when_nothing_matches: bool,
) -> list[Planned]:
    """The deliveries of an edition: one for each (subscription, subscriber, the topics it
    chose as comma-separated slugs, or None) given, cut by those topics and the ones below."""
    cuts: dict[str | None, str] = {}
    planned = []
    for subscription_id, subscriber_id, chosen in subscriptions:
        # A hundred thousand subscribers share a few hundred choices: each is worked out once
        # (or once per order its slugs come in).
        key = cuts.get(chosen)
        if key is None:
            topics = frozenset(chosen.split(",")) if chosen else frozenset()
            key = cuts[chosen] = cut_key(item_topics, with_descendants(topics, tree))
        skipped = key == "" and not note_when_nothing_matches
        planned.append(Planned(subscriber_id, subscription_id, key, skipped))
    return planned


def enqueue(session: Session, edition: Edition, now: datetime | None = None) -> Counter[str]:
    """Start sending an approved edition: a delivery for every active, unpaused subscriber.

    Those whose topics match nothing are recorded as skipped when the newsletter sends no
    note. Returns the number of deliveries by status.
    """
    if edition.state is not EditionState.APPROVED:
        raise EditionError(f"only an approved edition can be sent; this one is {edition.state}")
    now = now or utcnow()
    # Each subscription's topics gathered by the database, in one row with it: a hundred
    # thousand rows, not the quarter of a million of its choices. (None: it chose none.)
    subscriptions = (
        select(
            Subscription.id,
            Subscription.subscriber_id,
            func.aggregate_strings(Topic.slug, ","),
        )
        .outerjoin(SubscriptionTopic, SubscriptionTopic.subscription_id == Subscription.id)
        .outerjoin(Topic, Topic.id == SubscriptionTopic.topic_id)
        .where(
            Subscription.newsletter_id == edition.newsletter_id,
            Subscription.status == SubscriberStatus.ACTIVE,
            Subscription.paused.is_(False),
        )
        .group_by(Subscription.id, Subscription.subscriber_id)
    )
    planned = plan(
        # Core rows, fetched at once: the ORM's loading, or a fetch per row, costs more
        session.connection().execute(subscriptions).all(),
        [frozenset(item["topics"]) for item in entries(edition)],
        topic_tree(session),
        edition.newsletter.note_when_nothing_matches,
    )
    queued, skipped = DeliveryStatus.QUEUED.value, DeliveryStatus.SKIPPED.value
    rows = [
        (
            edition.id,
            p.subscriber_id,
            p.subscription_id,
            p.cut,
            skipped if p.skipped else queued,
            0,
            now if p.skipped else None,
        )
        for p in planned
    ]
    # COPY on PostgreSQL: an INSERT of a hundred thousand rows took seconds, most of them
    # spent by Python building its parameters.
    insert_rows(
        session, Delivery.__table__, [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
    )
    edition.state, edition.sending_started_at = EditionState.SENDING, now
    return Counter(row[4] for row in rows)


_COLUMNS = (
    "edition_id",
    "subscriber_id",
    "subscription_id",
    "cut",
    "status",
    "attempts",
    "finished_at",
)


class ClaimLost(RuntimeError):
    """Deliveries a worker claimed are no longer its own: another worker, seeing it gone (its
    lock lost), put them back in the queue. The message says which and whose."""


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker now holds, with what it needs to build the message."""

    id: int
    edition_id: int
    subscription_id: int
    cut: str
    attempts: int
    email: str
    name: str
    link_secret: str | None  # for the subscription's links (subscriptions/tokens.py)
    claimed_by: str
    subscribed_at: datetime | None = None  # confirmed (else added): the email's footer says it


def claim(
    session: Session,
    worker: str,
    limit: int,
    editions: Sequence[int] | None = None,
    now: datetime | None = None,
    after: int = 0,
) -> list[Claimed]:
    """Take up to `limit` deliveries that are due: queued first, then retries whose time has
    come (of `editions` only, when given). Call inside a transaction; the claim is the
    worker's once it commits.

    `after`: the highest id the caller claimed so far. Queued deliveries are looked for above
    it first, and below it only when there are no more: below lie those already taken, whose
    old index entries (as queued) PostgreSQL walks past one by one for as long as any
    transaction, in any database of the server, is older than their update."""
    now = now or utcnow()
    # A sent edition may still have deferred deliveries waiting for their retry.
    sending: Any = select(Edition.id).where(
        Edition.state.in_((EditionState.SENDING, EditionState.SENT))
    )
    if editions is not None:
        sending = list(editions)
    postgres = session.get_bind().dialect.name == "postgresql"
    if not postgres:  # SQLite: hold the write lock from the first read, or two could claim
        lock_for_writing(session)
    ids: list[int] = []
    for status, due in (
        (DeliveryStatus.QUEUED, None),
        (DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now),
    ):
        if len(ids) >= limit:
            break
        query = (
            select(Delivery.id)
            .where(Delivery.status == status, Delivery.edition_id.in_(sending))
            .order_by(Delivery.id)
            .limit(limit - len(ids))
        )
        if due is not None:
            query = query.where(due)
        if postgres:
            query = query.with_for_update(skip_locked=True)
        if status is DeliveryStatus.QUEUED and after:
            ids += session.scalars(query.where(Delivery.id > after)).all()
            if len(ids) >= limit:
                continue
            # then any given back, or left by a worker gone
            query = query.where(Delivery.id <= after).limit(limit - len(ids))
        ids += session.scalars(query).all()
    if not ids:
        return []
    # The rows are ours already (locked on PostgreSQL, the write lock held on SQLite), and
    # only those no worker holds are taken all the same. Not by status: that condition would
    # lead SQLite to walk the status index instead, every queued row of it, on each claim.
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.claimed_by.is_(None))
        .values(status=DeliveryStatus.SENDING, claimed_by=worker, claimed_at=now)
    )
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.edition_id,
            Delivery.subscription_id,
            Delivery.cut,
            Delivery.attempts,
            Subscriber.email,
            Subscriber.name,
            Subscription.link_secret,
            Delivery.claimed_by,
            func.coalesce(Subscription.confirmed_at, Subscription.created_at),
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .where(Delivery.id.in_(ids), Delivery.claimed_by == worker)
        .order_by(Delivery.id)
    )
    return [Claimed(*row) for row in rows]


def release(session: Session, worker: str, ids: Sequence[int] | None = None) -> int:
    """Return a worker's claimed deliveries (all, or those of `ids`) to the queue: it is gone,
    or stopping before it sent them. Returns how many."""
    query = update(Delivery).where(
        Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_by == worker
    )
    if ids is not None:
        query = query.where(Delivery.id.in_(ids))
    result = session.execute(
        query.values(status=DeliveryStatus.QUEUED, claimed_by=None, claimed_at=None)
    )
    return result.rowcount or 0


def claim_holders(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(Delivery.claimed_by)
            .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_by.is_not(None))
            .distinct()
        )
    )


def progress(session: Session, edition_id: int) -> dict[str, int]:
    """How many of an edition's deliveries are in each state."""
    counts = {status.value: 0 for status in DeliveryStatus}
    for status, count in session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.edition_id == edition_id)
        .group_by(Delivery.status)
    ):
        counts[DeliveryStatus(status).value] = count
    return counts


def dealt_with(counts: dict[str, int]) -> int:
    """Of `progress`, the deliveries a worker has dealt with: all but those waiting for one or
    in its hands (a deferred delivery has been tried, and waits for its retry)."""
    return sum(counts.values()) - counts[DeliveryStatus.QUEUED] - counts[DeliveryStatus.SENDING]


def finish_editions(session: Session, now: datetime | None = None) -> list[int]:
    """Mark sending editions with nothing left queued or in flight as sent (retries of
    deferred deliveries go on). Returns the ids of editions just finished."""
    now = now or utcnow()
    busy = (
        select(Delivery.id)
        .where(
            Delivery.edition_id == Edition.id,
            Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
        )
        .exists()
    )
    done = list(
        session.scalars(select(Edition.id).where(Edition.state == EditionState.SENDING, ~busy))
    )
    if done:
        session.execute(
            update(Edition).where(Edition.id.in_(done)).values(state=EditionState.SENT, sent_at=now)
        )
    return done


def problems(session: Session, limit: int = 10) -> list[tuple[Edition, int, int]]:
    """Recent editions with deliveries that failed or bounced: (edition, failed, bounced)."""
    failed = func.sum(case((Delivery.status == DeliveryStatus.FAILED, 1), else_=0))
    bounced = func.sum(case((Delivery.status == DeliveryStatus.BOUNCED, 1), else_=0))
    rows = session.execute(
        select(Edition, failed, bounced)
        .join(Delivery, Delivery.edition_id == Edition.id)
        .where(Delivery.status.in_((DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)))
        .group_by(Edition.id)
        .order_by(Edition.id.desc())
        .limit(limit)
    )
    return [(edition, int(f or 0), int(b or 0)) for edition, f, b in rows]


def start(
    session: Session, edition: Edition, actor: str, now: datetime | None = None
) -> Counter[str]:
    """Start sending an approved edition now (on schedule, an editor's "send now", or
    `digest send`), and say so in the audit log. Returns the deliveries by status."""
    counts = enqueue(session, edition, now)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.EDITION_SEND,
        object_type=audit.ObjectType.EDITION,
        object_id=edition.id,
        summary=edition.subject,
        after=dict(counts),
    )
    return counts
