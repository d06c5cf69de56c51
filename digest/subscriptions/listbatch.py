"""Applying a batch of list rows to one newsletter: each row decided in turn, as the one
before it left the person it names, then the lot written in a few statements.

No ORM objects: a batch of a thousand rows is a handful of inserts and updates, and memory
stays the same however long the list is.
"""

from __future__ import annotations

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
from digest.subscriptions.listreport import ImportReport, Outcome
from digest.subscriptions.suppression import Held, Reason
from digest.timeutil import utcnow

_STAYING = (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)
_SUBSCRIBERS = Subscriber.__table__
_SUBSCRIPTIONS = Subscription.__table__
_RANK = {reason: rank for rank, reason in enumerate(Reason)}  # most serious first


@dataclass(frozen=True)
class Target:
    """What applying rows to one newsletter needs, loaded once."""

    newsletter_id: int
    source: str
    hash_key: str
    topics: dict[str, tuple[str, int]]  # slug, and label casefolded: (slug, id)

    def slugs(self, topic_ids: list[int]) -> str:
        by_id = {id_: slug for slug, id_ in self.topics.values()}
        return ", ".join(sorted(by_id[i] for i in topic_ids if i in by_id)) or "none"


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
    touched: bool = False  # a row of this run names them: written with the batch

    def state(self) -> tuple[object, ...]:
        return (self.status, self.confirmed_at, sorted(self.topic_ids), self.name)


@dataclass
class Batch:
    """What applying a batch of rows does: its part of the report, and what it writes."""

    report: ImportReport = field(default_factory=ImportReport)
    errors: list[RowError] = field(default_factory=list)
    people: dict[str, _Person] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (address, row)
    left: list[tuple[str, Reason, int | None, datetime | None]] = field(default_factory=list)


@dataclass
class Rehearsal:
    """A dry run's memory: nothing is written, so what earlier batches decided is kept here
    for the later ones, as the database would have kept it."""

    people: dict[str, _Person] = field(default_factory=dict)
    held: dict[str, Held] = field(default_factory=dict)


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
    by_subscription = {p.subscription_id: p for p in known.values() if p.subscription_id}
    chosen = list(by_subscription)
    for start in range(0, len(chosen), suppression.CHUNK):
        for subscription_id, topic_id in session.execute(
            select(SubscriptionTopic.subscription_id, SubscriptionTopic.topic_id).where(
                SubscriptionTopic.subscription_id.in_(chosen[start : start + suppression.CHUNK])
            )
        ):
            by_subscription[subscription_id].topic_ids.append(topic_id)
    return known


def apply_rows(
    session: Session, rows: list[ListRow], target: Target, rehearsal: Rehearsal | None = None
) -> Batch:
    """Decide on each row, in order, and write the outcome; with a `rehearsal`, decide the
    same way and write nothing (a dry run)."""
    batch = Batch()
    addresses = sorted({row.email for row in rows})
    batch.people = _known(session, addresses, target.newsletter_id)
    held = suppression.held_back(session, addresses, target.newsletter_id, target.hash_key)
    if rehearsal is not None:
        _recall(rehearsal, addresses, batch.people, held)
    now = utcnow()
    for row in rows:
        found = held.get(row.email)
        # An erased address never comes back, not even as a record that it left.
        if found is not None and (found.reason is Reason.ERASED or row.status in _STAYING):
            batch.report.held_back[found.reason.value] += 1
            batch.report.note(
                Outcome.HELD_BACK, row.number, row.email, row.name, found.reason.value
            )
            continue
        unknown = [t for t in row.topics if t.casefold() not in target.topics]
        if unknown:
            batch.errors.append(RowError(row.number, f"unknown topic {', '.join(unknown)}"))
            continue
        tags = [t for t in row.tags if t.casefold() in target.topics]
        batch.report.unknown_tags.update(t for t in row.tags if t.casefold() not in target.topics)
        chosen = sorted({target.topics[t.casefold()] for t in (*row.topics, *tags)})
        outcome, detail = _take(batch, row, [topic_id for _, topic_id in chosen], target, now)
        if entry_note(row.email):
            batch.report.international.append(row.number)
        if row.left is not None:
            batch.report.left += 1
            batch.left.append((row.email, row.left, target.newsletter_id, row.left_at))
            held[row.email] = Held(row.left, row.left in suppression.EVERYWHERE)
            outcome, detail = Outcome.LEFT, row.left.value
        batch.report.note(outcome, row.number, row.email, row.name, detail)
    if rehearsal is None:
        _write(session, batch, target, now)
    else:
        _remember(rehearsal, batch)
    return batch


def _recall(
    rehearsal: Rehearsal, addresses: list[str], people: dict[str, _Person], held: dict[str, Held]
) -> None:
    """What earlier batches of a dry run decided about `addresses`, over what is stored."""
    for address in addresses:
        if address in rehearsal.people:
            people[address] = rehearsal.people[address]
        earlier = rehearsal.held.get(address)
        if earlier is not None and (
            address not in held or _RANK[earlier.reason] < _RANK[held[address].reason]
        ):
            held[address] = earlier


def _remember(rehearsal: Rehearsal, batch: Batch) -> None:
    rehearsal.people.update((a, p) for a, p in batch.people.items() if p.touched)
    for address, reason, _, _ in batch.left:
        earlier = rehearsal.held.get(address)
        if earlier is None or _RANK[reason] <= _RANK[earlier.reason]:
            rehearsal.held[address] = Held(reason, reason in suppression.EVERYWHERE)


def _take(
    batch: Batch, row: ListRow, topic_ids: list[int], target: Target, now: datetime
) -> tuple[Outcome, str]:
    """Apply one row to the person it names; returns what it does to their subscription."""
    person = batch.people.get(row.email)
    if person is None:
        person = batch.people[row.email] = _Person(row.name)
        batch.report.added += 1
    else:
        batch.report.updated += 1
    subscribed = person.subscription_id is not None or person.touched
    before = person.state()
    if not person.name and row.name:
        person.name, person.renamed = row.name, person.subscriber_id is not None
    # Leaving never softens: a bounced address stays suppressed, not merely unsubscribed.
    if person.status is not SubscriberStatus.SUPPRESSED or row.status in _STAYING:
        person.status = row.status
    person.confirmed_at = row.confirmed_at or person.confirmed_at
    was_topics = person.topic_ids
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
    return _outcome(subscribed, before, was_topics, person, target)


def _outcome(
    subscribed: bool,
    before: tuple[object, ...],
    was_topics: list[int],
    person: _Person,
    target: Target,
) -> tuple[Outcome, str]:
    """What a row did to a subscription (`subscribed` before it, in `before` state): the
    outcome, and in a few words the status it has, or what changed."""
    if not subscribed:
        return Outcome.NEW, _status_word(person.status)
    if person.state() == before:
        return Outcome.UNCHANGED, _status_word(person.status)
    changes = []
    if before[0] != person.status:
        changes.append(f"{_status_word(before[0])} → {_status_word(person.status)}")
    if sorted(was_topics) != sorted(person.topic_ids):
        changes.append(f"topics {target.slugs(was_topics)} → {target.slugs(person.topic_ids)}")
    if before[3] != person.name:
        changes.append("name added")
    if before[1] != person.confirmed_at:
        changes.append("confirmation date")
    return Outcome.UPDATED, "; ".join(changes)


def _status_word(status: object) -> str:
    return status.value if isinstance(status, SubscriberStatus) else "none"


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
