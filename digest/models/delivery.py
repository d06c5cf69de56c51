"""Sending: one delivery per edition and subscriber, the workers that send them, and what
came back (bounces, complaints, unsubscribes by mail)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from digest.models.base import Base, _enum
from digest.models.editions import Edition
from digest.models.subscribers import Subscriber, Subscription
from digest.timeutil import UTCDateTime, utcnow


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker
    SENDING = "sending"  # claimed by a worker; in flight
    DEFERRED = "deferred"  # a temporary failure: tried again at next_attempt_at
    SENT = "sent"  # accepted by the mail server
    FAILED = "failed"  # gave up after the last retry, or refused for the message itself
    BOUNCED = "bounced"  # the address was refused: the subscriber is suppressed
    SKIPPED = "skipped"  # nothing in their topics, and the newsletter sends no note


class Delivery(Base):
    """One edition to one subscriber: created when the send starts, then claimed, sent and
    recorded by a worker. The unique key makes a second copy impossible to queue."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("edition_id", "subscriber_id"),
        Index("ix_deliveries_claimable", "status", "next_attempt_at"),
        # An edition's queued deliveries in the order workers claim them (migration 0015).
        Index("ix_deliveries_edition_id_status_id", "edition_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    # Which items this subscriber gets, as positions in the edition ("*": all of them); the
    # sender renders each distinct cut once.
    cut: Mapped[str] = mapped_column(Text, default="*")
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)

    edition: Mapped[Edition] = relationship()
    subscriber: Mapped[Subscriber] = relationship()
    subscription: Mapped[Subscription] = relationship()


class Worker(Base):
    """A running delivery worker. On PostgreSQL each holds an advisory lock while it lives;
    when the lock is free the worker is gone, and its claimed deliveries are released."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SendBudget(Base):
    """A transport's sending allowance, shared by every worker and kept across restarts: its
    limits belong to the mail account, not to a process. Workers lock this row to take slots."""

    __tablename__ = "send_budgets"

    transport: Mapped[str] = mapped_column(String(64), primary_key=True)  # "": the default
    # Per-second pacing: when the next slot is; each taker moves it on by what it took.
    next_slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SendCount(Base):
    """How many slots a transport gave out in one minute, for its hourly limit."""

    __tablename__ = "send_counts"

    transport: Mapped[str] = mapped_column(
        ForeignKey("send_budgets.transport", ondelete="CASCADE"), primary_key=True
    )
    # Minutes since 1970 (UTC): the minute the slots were for.
    minute: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sent: Mapped[int] = mapped_column(Integer, default=0)


class MailEvent(Base):
    """Something that came back about a subscriber's mail: a hard or soft bounce, a complaint,
    an unsubscribe by mail. Kept as the subscriber's delivery history."""

    __tablename__ = "mail_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))  # hard-bounce, soft-bounce, complaint, …
    detail: Mapped[str] = mapped_column(Text, default="")


class Installation(Base):
    """This install's own identity: one row, with a random token made when the schema is
    created. What Digest names for the world (Message-IDs, MIME boundaries) carries it, so two
    installs, or one database made again, never repeat a name."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    token: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
