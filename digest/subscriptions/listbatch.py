"""Applying a batch of list rows to one newsletter: each row decided in turn, as the one
before it left the person it names, then the lot written in a few statements.

No ORM objects: a batch of a thousand rows is a handful of inserts and updates, and memory
stays the same however long the list is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from digest.addresses import entry_note
from digest.models import (
    ConsentEvent,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionTopic,
    Topic,
)
from digest.models.subscribers import new_link_secret
from digest.subscriptions import suppression
from digest.subscriptions.listfiles import ListRow, RowError
from digest.subscriptions.suppression import Held, Reason
from digest.timeutil import utcnow

MAX_LISTED = 1000  # bad rows listed by number and reason; any more are counted
_STAYING = (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)
_SUBSCRIBERS = Subscriber.__table__
_SUBSCRIPTIONS = Subscription.__table__


@dataclass
class ImportReport:
    format: str = ""
    added: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)  # "row N": the first MAX_LISTED, in order
    skipped: int = 0  # bad rows, listed or not
    held_back: Counter[str] = field(default_factory=Counter)  # rows left out, by reason
    left: int = 0  # rows saying the person left: recorded, and on the suppression list
    unknown_tags: Counter[str] = field(default_factory=Counter)  # Mailchimp tags, not topics
    international: list[int] = field(default_factory=list)  # rows only SMTPUTF8 can reach
    notes: list[str] = field(default_factory=list)  # what staff should know about rows taken

    def held_back_summary(self) -> str:
        """E.g. "held back 3 rows: 2 unsubscribed, 1 bounced"; "" when none was."""
        total = sum(self.held_back.values())
        if not total:
            return ""
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.held_back.most_common())
        return f"held back {total} row{'' if total == 1 else 's'}: {reasons}"

    def add_errors(self, errors: list[RowError]) -> None:
        """Errors of rows after those already reported."""
        self.skipped += len(errors)
        room = MAX_LISTED - len(self.errors)
        self.errors += [str(e) for e in sorted(errors, key=lambda e: e.number)[: max(room, 0)]]

    def add(self, other: ImportReport) -> None:
        self.added += other.added
        self.updated += other.updated
        self.held_back.update(other.held_back)
        self.left += other.left
        self.unknown_tags.update(other.unknown_tags)
        self.international += other.international


@dataclass(frozen=True)
class Target:
    """What applying rows to one newsletter needs, loaded once."""

    newsletter_id: int
    source: str
    hash_key: str
    topics: dict[str, tuple[str, int]]  # slug, and label casefolded: (slug, id)


@dataclass
class _Person:
    """One address as a batch finds it and leaves it, its rows applied in turn."""

    name: str
    subscriber_id: int | None = None  # None: new
    subscription_id: int | None = None  # None: not subscribed to the newsletter yet
    status: SubscriberStatus | None = None
    confirmed_at: datetime | None = None
    topic_ids: list[int] = field(default_factory=list)
    renamed: bool = False
    touched: bool = False


@dataclass
class Batch:
    """What applying a batch of rows does: its part of the report, and what it writes."""

    report: ImportReport = field(default_factory=ImportReport)
    errors: list[RowError] = field(default_factory=list)
    people: dict[str, _Person] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (address, row)
    left: list[tuple[str, Reason, int | None, datetime | None]] = field(default_factory=list)


def load_target(session: Session, newsletter: Newsletter, origin: str, hash_key: str) -> Target:
    topics = {slug: (slug, id_) for id_, slug, _ in session.execute(_TOPICS)}
    for id_, slug, label in session.execute(_TOPICS):
        topics.setdefault(label.casefold(), (slug, id_))
    return Target(newsletter.id, origin, hash_key, topics)


_TOPICS = select(Topic.id, Topic.slug, Topic.label).order_by(Topic.id)


def _known(session: Session, addresses: list[str], newsletter_id: int) -> dict[str, _Person]:
    """The people of `addresses` already stored, with their subscription to the newsletter."""
    known = {}
    for start in range(0, len(addresses), suppression.CHUNK):
        query = (
            select(
                Subscriber.email,
                Subscriber.name,
                Subscriber.id,
                Subscription.id,
                Subscription.status,
                Subscription.confirmed_at,
            )
            .outerjoin(
                Subscription,
                and_(
                    Subscription.subscriber_id == Subscriber.id,
                    Subscription.newsletter_id == newsletter_id,
                ),
            )
            .where(Subscriber.email.in_(addresses[start : start + suppression.CHUNK]))
        )
        for email, name, *ids_and_state in session.execute(query):
            known[email] = _Person(name, *ids_and_state)
    return known


def apply_rows(session: Session, rows: list[ListRow], target: Target) -> Batch:
    """Decide on each row, in order, and write the outcome."""
    batch = Batch()
    addresses = sorted({row.email for row in rows})
    batch.people = _known(session, addresses, target.newsletter_id)
    held = suppression.held_back(session, addresses, target.newsletter_id, target.hash_key)
    now = utcnow()
    for row in rows:
        found = held.get(row.email)
        # An erased address never comes back, not even as a record that it left.
        if found is not None and (found.reason is Reason.ERASED or row.status in _STAYING):
            batch.report.held_back[found.reason.value] += 1
            continue
        unknown = [t for t in row.topics if t.casefold() not in target.topics]
        if unknown:
            batch.errors.append(RowError(row.number, f"unknown topic {', '.join(unknown)}"))
            continue
        tags = [t for t in row.tags if t.casefold() in target.topics]
        batch.report.unknown_tags.update(t for t in row.tags if t.casefold() not in target.topics)
        chosen = sorted({target.topics[t.casefold()] for t in (*row.topics, *tags)})
        _take(batch, row, [topic_id for _, topic_id in chosen], target, now)
        if entry_note(row.email):
            batch.report.international.append(row.number)
        if row.left is not None:
            batch.report.left += 1
            batch.left.append((row.email, row.left, target.newsletter_id, row.left_at))
            held[row.email] = Held(row.left, row.left in suppression.EVERYWHERE)
    _write(session, batch, target, now)
    return batch


def _take(batch: Batch, row: ListRow, topic_ids: list[int], target: Target, now: datetime) -> None:
    """Apply one row to the person it names."""
    person = batch.people.get(row.email)
    if person is None:
        person = batch.people[row.email] = _Person(row.name)
        batch.report.added += 1
    else:
        if not person.name and row.name:
            person.name, person.renamed = row.name, True
        batch.report.updated += 1
    # Leaving never softens: a bounced address stays suppressed, not merely unsubscribed.
    if person.status is not SubscriberStatus.SUPPRESSED or row.status in _STAYING:
        person.status = row.status
    person.confirmed_at = row.confirmed_at or person.confirmed_at
    person.topic_ids = topic_ids
    person.touched = True
    event = {"newsletter_id": target.newsletter_id, "form": target.source, "wording_version": None}
    batch.events.append(
        (
            row.email,
            {
                **event,
                "at": row.consent_at or now,
                "kind": "import",
                "ip": row.consent_ip,
                "user_agent": None,
                "detail": {
                    "status": row.status.value,
                    "imported_at": now.isoformat(),
                    "consent_at": row.consent_at.isoformat() if row.consent_at else None,
                    "consent_source": row.consent_source,
                },
            },
        )
    )
    if row.status is SubscriberStatus.UNSUBSCRIBED and row.left_at is not None:
        batch.events.append(
            (
                row.email,
                {
                    **event,
                    "at": row.left_at,
                    "kind": "unsubscribe",
                    "ip": None,
                    "user_agent": None,
                    "detail": row.left_detail or None,
                },
            )
        )


def _write(session: Session, batch: Batch, target: Target, now: datetime) -> None:
    """Write what a batch decided: a few statements, however many rows it had."""
    touched = {email: p for email, p in batch.people.items() if p.touched}
    new = [(email, p) for email, p in touched.items() if p.subscriber_id is None]
    if new:
        inserted = session.execute(
            insert(_SUBSCRIBERS).returning(_SUBSCRIBERS.c.email, _SUBSCRIBERS.c.id),
            [{"email": email, "name": p.name, "created_at": now} for email, p in new],
        )
        ids = dict(inserted.all())
        for email, p in new:
            p.subscriber_id = ids[email]
    renamed = [{"who": p.subscriber_id, "new_name": p.name} for p in touched.values() if p.renamed]
    if renamed:
        session.execute(
            update(_SUBSCRIBERS)
            .where(_SUBSCRIBERS.c.id == bindparam("who"))
            .values(name=bindparam("new_name")),
            renamed,
        )
    _write_subscriptions(session, list(touched.values()), target.newsletter_id, now)
    if batch.events:
        session.execute(
            insert(ConsentEvent.__table__),
            [{**e, "subscriber_id": touched[email].subscriber_id} for email, e in batch.events],
        )
    if batch.left:
        suppression.suppress_many(session, batch.left, target.hash_key)


def _write_subscriptions(
    session: Session, people: list[_Person], newsletter_id: int, now: datetime
) -> None:
    new = [p for p in people if p.subscription_id is None]
    changed = [p for p in people if p.subscription_id is not None]
    if new:
        inserted = session.execute(
            insert(_SUBSCRIPTIONS).returning(_SUBSCRIPTIONS.c.subscriber_id, _SUBSCRIPTIONS.c.id),
            [
                {
                    "subscriber_id": p.subscriber_id,
                    "newsletter_id": newsletter_id,
                    "status": p.status,
                    "paused": False,
                    "created_at": now,
                    "confirmed_at": p.confirmed_at,
                    "link_secret": new_link_secret(),
                }
                for p in new
            ],
        )
        ids = dict(inserted.all())
        for p in new:
            p.subscription_id = ids[p.subscriber_id]
    if changed:
        session.execute(
            update(_SUBSCRIPTIONS)
            .where(_SUBSCRIPTIONS.c.id == bindparam("which"))
            .values(status=bindparam("new_status"), confirmed_at=bindparam("new_confirmed")),
            [
                {"which": p.subscription_id, "new_status": p.status, "new_confirmed": when}
                for p in changed
                for when in [p.confirmed_at]
            ],
        )
        ids = [p.subscription_id for p in changed]
        for start in range(0, len(ids), suppression.CHUNK):
            session.execute(
                delete(SubscriptionTopic.__table__).where(
                    SubscriptionTopic.subscription_id.in_(ids[start : start + suppression.CHUNK])
                )
            )
    links = [
        {"subscription_id": p.subscription_id, "topic_id": topic_id}
        for p in people
        for topic_id in p.topic_ids
    ]
    if links:
        session.execute(insert(SubscriptionTopic.__table__), links)
