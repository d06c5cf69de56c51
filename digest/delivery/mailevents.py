"""What comes back about a subscriber's mail (`Kind`), and suppressing a subscriber for it.

A module of its own, apart from `bounces`: the worker suppresses a recipient its mail server
refused, and `digest send` should not wait for the parsers of returned mail to load.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from digest.models import MailEvent, Subscriber, SubscriberStatus, Subscription
from digest.subscriptions import suppression


class Kind(enum.StrEnum):
    """A mail event's kind, as a subscriber's history stores it."""

    HARD = "hard-bounce"
    SOFT = "soft-bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    UNKNOWN = "not understood"


def suppress(
    db: Connection | Session,
    subscriber_id: int,
    kind: Kind,
    detail: str,
    delivery_id: int | None,
    now: datetime,
    hash_key: str,
) -> None:
    """Never mail this subscriber again (any newsletter): mark their subscriptions, put the
    address on the suppression list, and say why in their history."""
    address = db.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id))
    if address is not None:
        reason = suppression.Reason.BOUNCED
        if kind is Kind.COMPLAINT:
            reason = suppression.Reason.COMPLAINED
        suppression.suppress(db, address, reason, hash_key, at=now)
    db.execute(
        update(Subscription)
        .where(Subscription.subscriber_id == subscriber_id)
        .values(status=SubscriberStatus.SUPPRESSED)
    )
    db.execute(
        insert(MailEvent).values(
            subscriber_id=subscriber_id,
            delivery_id=delivery_id,
            at=now,
            kind=kind.value,
            detail=detail[:1000],
        )
    )
