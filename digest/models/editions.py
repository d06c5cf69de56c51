"""Editions: one issue of a newsletter, and the items in it in the editor's order."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from digest.models.base import Base, _enum
from digest.models.content import Item, Newsletter, Placement
from digest.timeutil import UTCDateTime, utcnow


class EditionState(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class Contribution(enum.StrEnum):
    """What someone did to an edition."""

    BUILT = "built"  # drafted it, or added the week's newly accepted items to it
    EDITED = "edited"  # changed its subject, introduction or items
    APPROVED = "approved"  # approved it (with the second-approver rule, perhaps not yet enough)


class Edition(Base):
    """One issue of a newsletter, for one period: draft → approved → sending → sent."""

    __tablename__ = "editions"
    # The constraint's index also lists a newsletter's editions newest first, as the archive
    # and the editions page do.
    __table_args__ = (UniqueConstraint("newsletter_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletters.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)  # the week it covers, by its Monday
    state: Mapped[EditionState] = mapped_column(
        _enum(EditionState, "edition_state"), default=EditionState.DRAFT
    )
    subject: Mapped[str] = mapped_column(Text, default="")
    intro: Mapped[str] = mapped_column(Text, default="")
    # The preview line mail programs show after the subject; None: the intro's first line.
    preheader: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(320))
    last_edited_by: Mapped[str | None] = mapped_column(String(320))
    last_edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(320))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sending_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last delivery finished
    report_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set at approval: the distinct words the archive's search looks in
    # (`editions.archive_index`); None while the edition can still change.
    search_words: Mapped[str | None] = mapped_column(Text)
    # Set with it: the topics its items carry (`archive_index.edition_topics`, migration 0016).
    search_topics: Mapped[str | None] = mapped_column(Text)

    newsletter: Mapped[Newsletter] = relationship()
    entries: Mapped[list[EditionItem]] = relationship(
        back_populates="edition", order_by="EditionItem.position", cascade="all, delete-orphan"
    )
    contributors: Mapped[list[EditionContributor]] = relationship(
        back_populates="edition",
        order_by="EditionContributor.id",
        cascade="all, delete-orphan",
    )


class EditionContributor(Base):
    """Who built, edited or approved an edition: what the second-approver rule counts.

    One row per person and kind of contribution. `person` is False for the scheduler, which
    builds drafts but is nobody's second pair of eyes. Approvals are removed when the edition
    is un-approved, or when its content changes before a second person has approved it.
    """

    __tablename__ = "edition_contributors"
    __table_args__ = (UniqueConstraint("edition_id", "actor", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(320))
    kind: Mapped[Contribution] = mapped_column(_enum(Contribution, "contribution"))
    person: Mapped[bool] = mapped_column(Boolean, default=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    edition: Mapped[Edition] = relationship(back_populates="contributors")


class EditionItem(Base):
    """An item in an edition, in the editor's order. `frozen` holds what was approved."""

    __tablename__ = "edition_items"
    __table_args__ = (
        UniqueConstraint("edition_id", "item_id"),
        # The archive's search by topic and a draft read items and topics from here, not
        # from the rows and their frozen text (migration 0014).
        Index("ix_edition_items_edition_id_topics", "edition_id", "topics", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    frozen: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set with `frozen`: its topics' slugs (`editions.archive_index.item_topics`), so that the
    # archive finds an edition's items about a topic without reading every frozen item.
    topics: Mapped[str | None] = mapped_column(Text)

    edition: Mapped[Edition] = relationship(back_populates="entries")
    item: Mapped[Item] = relationship()

    @property
    def placement(self) -> Placement | None:
        """The item as this edition's newsletter has it (its section and topics there)."""
        return next(
            (p for p in self.item.placements if p.newsletter_id == self.edition.newsletter_id),
            None,
        )
