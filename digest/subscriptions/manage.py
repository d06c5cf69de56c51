"""Changing a subscription on the subscriber's word: topics, pause, unsubscribe. Each change is
recorded as a consent event (UK GDPR/PECR: withdrawing must be as easy as giving)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.models import (
    ConsentEvent,
    Newsletter,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.subscriptions.tokens import read_subscription_token
from digest.timeutil import utcnow


@dataclass(frozen=True)
class Origin:
    """Where a change came from, for the consent record."""

    form: str
    ip: str | None = None
    user_agent: str | None = None


def record(
    session: Session,
    subscription: Subscription,
    kind: str,
    origin: Origin,
    detail: dict[str, Any] | None = None,
    wording_version: str | None = None,
) -> None:
    session.add(
        ConsentEvent(
            subscriber_id=subscription.subscriber_id,
            newsletter_id=subscription.newsletter_id,
            at=utcnow(),
            kind=kind,
            form=origin.form,
            wording_version=wording_version,
            ip=origin.ip,
            user_agent=(origin.user_agent or "")[:500] or None,
            detail=detail,
        )
    )


def subscription_for(session: Session, token: str, keys: Sequence[str]) -> Subscription:
    """The subscription a signed link names; InvalidToken or LookupError otherwise."""
    subscription = session.get(Subscription, read_subscription_token(token, keys))
    if subscription is None:
        raise LookupError("this subscription no longer exists")
    return subscription


def unsubscribe(session: Session, subscription: Subscription, origin: Origin) -> bool:
    """Stop sending at once. Returns False when it was already unsubscribed (nothing to do)."""
    if subscription.status in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.SUPPRESSED):
        return False
    before = subscription.status.value
    subscription.status = SubscriberStatus.UNSUBSCRIBED
    record(session, subscription, "unsubscribe", origin, {"before": before})
    return True


def join(
    session: Session,
    subscription: Subscription,
    newsletter: Newsletter,
    origin: Origin,
    wording_version: str,
    wording: str,
) -> Subscription:
    """Subscribe the same (already confirmed) address to another newsletter, at once."""
    subscriber = subscription.subscriber
    other = next((s for s in subscriber.subscriptions if s.newsletter_id == newsletter.id), None)
    if other is not None and other.status is SubscriberStatus.SUPPRESSED:
        return other
    if other is None:
        other = Subscription(newsletter=newsletter, subscriber=subscriber)
        session.add(other)
    if other.status is not SubscriberStatus.ACTIVE:
        other.status, other.confirmed_at = SubscriberStatus.ACTIVE, utcnow()
        session.flush()
        record(
            session,
            other,
            "signup",
            origin,
            {"wording": wording, "confirmed_by": "the signed link of another subscription"},
            wording_version,
        )
    return other


def set_preferences(
    session: Session,
    subscription: Subscription,
    topic_ids: Sequence[int],
    paused: bool,
    origin: Origin,
) -> None:
    """Choose topics (none: everything) and pause or resume; resubscribes if it had left."""
    topics = list(session.scalars(select(Topic).where(Topic.id.in_(topic_ids), ~Topic.retired)))
    before = {
        "topics": [t.slug for t in subscription.topics],
        "paused": subscription.paused,
        "status": subscription.status.value,
    }
    subscription.topics = sorted(topics, key=lambda t: t.slug)
    subscription.paused = paused
    if subscription.status is SubscriberStatus.UNSUBSCRIBED:
        subscription.status = SubscriberStatus.ACTIVE
    after = {
        "topics": [t.slug for t in subscription.topics],
        "paused": paused,
        "status": subscription.status.value,
    }
    if after != before:
        record(session, subscription, "change", origin, {"before": before, "after": after})
