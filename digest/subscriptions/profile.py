"""What staff see of one subscriber: their subscriptions with topics, their consent history,
their recent deliveries and what came back (bounces, complaints), and the suppression list's
entries for their address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from digest.errors import NotFound
from digest.models import (
    ConsentEvent,
    Delivery,
    Edition,
    MailEvent,
    Newsletter,
    Subscriber,
    Subscription,
    Suppression,
)
from digest.subscriptions.suppression import email_hash

RECENT = 20  # deliveries and returned mail shown; the oldest go first


@dataclass(frozen=True)
class Consent:
    at: datetime
    kind: str  # signup, confirm, import, change, unsubscribe, …
    newsletter: str  # its title; "" when the event names none (or it was deleted)
    form: str  # where it happened
    ip: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class Sent:
    edition: str  # its subject
    newsletter: str
    status: str
    at: datetime | None  # finished, or claimed
    error: str | None


@dataclass(frozen=True)
class Returned:
    at: datetime
    kind: str  # hard-bounce, soft-bounce, complaint, …
    detail: str


@dataclass(frozen=True)
class Suppressed:
    reason: str
    newsletter: str  # its title, or "every newsletter"
    at: datetime


@dataclass(frozen=True)
class Profile:
    subscriber: Subscriber  # with its subscriptions, their newsletters and topics loaded
    consents: list[Consent]
    deliveries: list[Sent]
    returned: list[Returned]
    held: list[Suppressed]


def profile(session: Session, subscriber_id: int, hash_key: str) -> Profile:
    """Everything staff see of a subscriber; NotFound when there is none (erased, say)."""
    subscriber = session.scalar(
        select(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .options(
            selectinload(Subscriber.subscriptions).selectinload(Subscription.newsletter),
            selectinload(Subscriber.subscriptions).selectinload(Subscription.topics),
        )
    )
    if subscriber is None:
        raise NotFound("there is no such subscriber (erased, perhaps)")
    titles = {id_: title for id_, title in session.execute(select(Newsletter.id, Newsletter.title))}
    consents = [
        Consent(e.at, e.kind, titles.get(e.newsletter_id or 0, ""), e.form, e.ip, e.detail)
        for e in session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.subscriber_id == subscriber.id)
            .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc())
        )
    ]
    deliveries = [
        Sent(subject, titles.get(newsletter_id, ""), status.value, finished or claimed, error)
        for subject, newsletter_id, status, finished, claimed, error in session.execute(
            select(
                Edition.subject,
                Edition.newsletter_id,
                Delivery.status,
                Delivery.finished_at,
                Delivery.claimed_at,
                Delivery.last_error,
            )
            .join(Edition, Edition.id == Delivery.edition_id)
            .where(Delivery.subscriber_id == subscriber.id)
            .order_by(Delivery.id.desc())
            .limit(RECENT)
        )
    ]
    returned = [
        Returned(at, kind, detail)
        for at, kind, detail in session.execute(
            select(MailEvent.at, MailEvent.kind, MailEvent.detail)
            .where(MailEvent.subscriber_id == subscriber.id)
            .order_by(MailEvent.at.desc(), MailEvent.id.desc())
            .limit(RECENT)
        )
    ]
    held = [
        Suppressed(reason, titles.get(newsletter_id or 0, "every newsletter"), at)
        for reason, newsletter_id, at in session.execute(
            select(Suppression.reason, Suppression.newsletter_id, Suppression.at)
            .where(Suppression.email_hash == email_hash(subscriber.email, hash_key))
            .order_by(Suppression.at)
        )
    ]
    return Profile(subscriber, consents, deliveries, returned, held)


def subscription_of(session: Session, subscriber_id: int, subscription_id: int) -> Subscription:
    """The subscriber's subscription; NotFound when it is not theirs, or gone."""
    found = session.get(Subscription, subscription_id)
    if found is None or found.subscriber_id != subscriber_id:
        raise NotFound("there is no such subscription")
    return found


def subscriber_by_id(session: Session, subscriber_id: int) -> Subscriber:
    found = session.get(Subscriber, subscriber_id)
    if found is None:
        raise NotFound("there is no such subscriber (erased, perhaps)")
    return found


def subscriber_id_for(session: Session, email: str) -> int:
    """The id of the subscriber with the (normalised) address `email`; NotFound if none."""
    found = session.scalar(select(Subscriber.id).where(Subscriber.email == email))
    if found is None:
        raise NotFound(f"no subscriber {email}")
    return found
