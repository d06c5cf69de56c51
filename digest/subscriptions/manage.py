"""Changing a subscription on the subscriber's word: topics, pause, unsubscribe. Each change is
recorded as a consent event (UK GDPR/PECR: withdrawing must be as easy as giving).

Coming back after leaving is not a change of preferences: it takes a fresh double opt-in
(signup.sign_up), so that only the owner of the address can undo an unsubscribe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.errors import NotFound
from digest.models import (
    ConsentEvent,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.networks import client_address, user_agent
from digest.subscriptions import staffaudit, suppression
from digest.subscriptions.tokens import (
    check_mailto_token,
    check_token,
    mailto_subscription,
    token_subscription,
)
from digest.timeutil import utcnow


@dataclass(frozen=True)
class Origin:
    """Where a change came from, for the consent record."""

    form: str
    ip: str | None = None
    user_agent: str | None = None
    at: datetime | None = None  # when the person acted, if not now (a queued request)


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
            at=origin.at or utcnow(),
            kind=kind,
            form=origin.form,
            wording_version=wording_version,
            ip=client_address(origin.ip) if origin.ip else None,
            user_agent=user_agent(origin.user_agent) or None,
            detail=detail,
        )
    )


def subscription_for(session: Session, token: str, keys: Sequence[str]) -> Subscription:
    """The subscription a signed link names; InvalidToken or LookupError otherwise."""
    subscription = session.get(Subscription, token_subscription(token))
    if subscription is None:
        raise NotFound("this subscription no longer exists")
    check_token(token, subscription.id, subscription.link_secret, keys)
    return subscription


def subscription_for_mailto(session: Session, token: str, keys: Sequence[str]) -> Subscription:
    """The subscription named by the token of a List-Unsubscribe `mailto:` address, in any
    case; links from before that address had a form of its own are accepted as they were."""
    number = mailto_subscription(token)
    if number is None:
        return subscription_for(session, token, keys)
    subscription = session.get(Subscription, number)
    if subscription is None:
        raise NotFound("this subscription no longer exists")
    check_mailto_token(token, subscription.id, subscription.link_secret, keys)
    return subscription


def unsubscribe(
    session: Session, subscription: Subscription, origin: Origin, hash_key: str
) -> bool:
    """Stop sending at once, and put the address on the newsletter's suppression list.
    Returns False when it was already unsubscribed (nothing to do)."""
    suppression.suppress(
        session,
        subscription.subscriber.email,
        suppression.Reason.UNSUBSCRIBED,
        hash_key,
        subscription.newsletter_id,
    )
    if subscription.status in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.SUPPRESSED):
        return False
    before = subscription.status.value
    subscription.status = SubscriberStatus.UNSUBSCRIBED
    record(session, subscription, "unsubscribe", origin, {"before": before})
    return True


def unsubscribe_by_staff(
    session: Session, subscription: Subscription, actor: str, hash_key: str
) -> bool:
    """A member of staff (`actor`) unsubscribes the person, as if they had: the consent record
    says who did, and the audit log has the change. False when they had already left."""
    before = subscription.status.value
    origin = Origin(form=f"unsubscribed by {actor} on the staff pages")
    if not unsubscribe(session, subscription, origin, hash_key):
        return False
    person = subscription.subscriber
    staffaudit.unsubscribed(
        session,
        actor,
        person.id,
        (person.email, person.name),
        subscription.newsletter,
        before,
        subscription.status.value,
    )
    return True


def set_preferences(
    session: Session,
    subscription: Subscription,
    topic_ids: Sequence[int],
    paused: bool,
    origin: Origin,
) -> None:
    """Choose topics (none: everything) and pause or resume. It never subscribes again someone
    who left: that takes a fresh sign-up."""
    topics = list(session.scalars(select(Topic).where(Topic.id.in_(topic_ids), ~Topic.retired)))
    before = {"topics": [t.slug for t in subscription.topics], "paused": subscription.paused}
    subscription.topics = sorted(topics, key=lambda t: t.slug)
    subscription.paused = paused
    after = {"topics": [t.slug for t in subscription.topics], "paused": paused}
    if after != before:
        record(session, subscription, "change", origin, {"before": before, "after": after})
