"""Subscribers, what they subscribe to, their consent records, and suppressed addresses."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from digest.models.base import Base, _enum
from digest.models.content import Newsletter, Topic
from digest.timeutil import UTCDateTime, utcnow


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"  # signed up, not yet confirmed
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"  # bounced or complained: never mailed


class Subscriber(Base):
    """A person who receives newsletters: one row per address, whatever they subscribe to."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan"
    )


def new_link_secret() -> str:
    return secrets.token_urlsafe(16)


class Subscription(Base):
    """One subscriber to one newsletter, with the topics they chose (none chosen: all)."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("subscriber_id", "newsletter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    newsletter_id: Mapped[int] = mapped_column(
        ForeignKey("newsletters.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[SubscriberStatus] = mapped_column(
        _enum(SubscriberStatus, "subscription_status"), default=SubscriberStatus.PENDING
    )
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every link made for this subscription (see subscriptions/tokens.py), so that a
    # link outlives neither the row nor a later row that happens to get the same id. None on
    # rows made before links carried it: their old links keep working while the row exists.
    link_secret: Mapped[str | None] = mapped_column(String(32), default=new_link_secret)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    newsletter: Mapped[Newsletter] = relationship()
    topics: Mapped[list[Topic]] = relationship(secondary="subscription_topics", order_by=Topic.slug)


class SubscriptionTopic(Base):
    __tablename__ = "subscription_topics"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True
    )


class ConsentEvent(Base):
    """A record of consent given, changed or withdrawn: who, when, how, and from where."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    newsletter_id: Mapped[int | None] = mapped_column(
        ForeignKey("newsletters.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))  # signup, confirm, change, unsubscribe, …
    form: Mapped[str] = mapped_column(String(200))  # where it happened
    wording_version: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Suppression(Base):
    """An address that must not be mailed, re-imported or re-subscribed by staff, kept only as
    a keyed hash: for one newsletter (an unsubscribe), or for all (newsletter_id None: a
    bounce, a complaint, an erasure). See subscriptions/suppression.py."""

    __tablename__ = "suppressions"
    __table_args__ = (
        # One entry per address and newsletter; NULLs are distinct in a unique constraint, so
        # the entry for every newsletter has an index of its own.
        UniqueConstraint("email_hash", "newsletter_id", name="uq_suppressions_per_newsletter"),
        Index(
            "uq_suppressions_everywhere",
            "email_hash",
            unique=True,
            sqlite_where=text("newsletter_id IS NULL"),
            postgresql_where=text("newsletter_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    newsletter_id: Mapped[int | None] = mapped_column(
        ForeignKey("newsletters.id", ondelete="CASCADE")
    )
    reason: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailRequest(Base):
    """A public form's request that may send an email (a sign-up, "email me my link"), queued
    so that the page answers at once and alike for every address; the rows are also what the
    forms' rate limits count. See subscriptions/requests.py."""

    __tablename__ = "mail_requests"
    __table_args__ = (
        Index("ix_mail_requests_network_at", "network", "at"),
        Index("ix_mail_requests_address_key_at", "address_key", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    newsletter_id: Mapped[int | None] = mapped_column(
        ForeignKey("newsletters.id", ondelete="CASCADE")
    )
    email: Mapped[str | None] = mapped_column(String(320))  # forgotten once done
    address_key: Mapped[str] = mapped_column(String(64))  # keyed hash, kept for the limits
    network: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the form; forgotten once done
    outgoing: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)  # notices, until sent
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
