"""Newsletters, their sections and topics, the feeds polled and the items found in them."""

from __future__ import annotations

import enum
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from digest.defaults import DEFAULT_TIMEZONE
from digest.models.base import Base, _enum
from digest.timeutil import UTCDateTime, utcnow


class ItemStatus(enum.StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class TopicSource(enum.StrEnum):
    """How a topic came to be on an item."""

    MANUAL = "manual"  # a librarian chose it
    SUGGESTED = "suggested"  # proposed by the suggester, not yet confirmed
    FEED = "feed"  # one of the feed's default topics


class FeedKind(enum.StrEnum):
    FEED = "feed"  # RSS/Atom/RDF/JSON feed polled on a schedule
    CATALOGUE = "catalogue"  # records imported from the library catalogue (RIS/CSV)
    MANUAL = "manual"  # items librarians added by hand


class Newsletter(Base):
    __tablename__ = "newsletters"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    send_weekday: Mapped[int] = mapped_column(Integer, default=1)  # Monday is 0
    send_time: Mapped[time] = mapped_column(Time, default=time(9, 0))
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    from_address: Mapped[str] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    # Editorial settings.
    skip_when_empty: Mapped[bool] = mapped_column(Boolean, default=True)
    note_when_nothing_matches: Mapped[bool] = mapped_column(Boolean, default=True)
    second_approver: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the scheduler drafts the edition for the editors (in the newsletter's timezone).
    draft_weekday: Mapped[int] = mapped_column(Integer, default=0)
    draft_time: Mapped[time] = mapped_column(Time, default=time(7, 0))
    transport: Mapped[str | None] = mapped_column(String(64))  # by name; None: the default
    # How its items are cited (a CSL style name, `digest.citations`; None: the default), and
    # whether the email carries each item's citation (migration 0020).
    citation_style: Mapped[str | None] = mapped_column(String(100))
    citations_in_email: Mapped[bool] = mapped_column(Boolean, default=True)
    # Who sends it, as the email's footer and the public pages name them (migration 0019):
    # CAN-SPAM and PECR want the sender identifiable, with a postal address.
    organisation: Mapped[str | None] = mapped_column(String(200))
    postal_address: Mapped[str | None] = mapped_column(Text)
    colour: Mapped[str | None] = mapped_column(String(7))  # "#rrggbb", AA against white text
    logo: Mapped[str | None] = mapped_column(Text)  # an https URL or a path under static/

    sections: Mapped[list[Section]] = relationship(
        back_populates="newsletter", order_by="Section.position", cascade="all, delete-orphan"
    )


class Section(Base):
    __tablename__ = "sections"
    __table_args__ = (UniqueConstraint("newsletter_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletters.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)

    newsletter: Mapped[Newsletter] = relationship(back_populates="sections")


class Topic(Base):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("topics.id", ondelete="SET NULL"))
    retired: Mapped[bool] = mapped_column(Boolean, default=False)

    parent: Mapped[Topic | None] = relationship(remote_side=[id])


class FeedTopic(Base):
    """A feed's default topics: every item found in the feed gets them."""

    __tablename__ = "feed_topics"

    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True
    )


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[FeedKind] = mapped_column(_enum(FeedKind, "feed_kind"), default=FeedKind.FEED)
    url: Mapped[str] = mapped_column(Text)
    newsletter_id: Mapped[int | None] = mapped_column(
        ForeignKey("newsletters.id", ondelete="SET NULL")
    )
    section_id: Mapped[int | None] = mapped_column(ForeignKey("sections.id", ondelete="SET NULL"))
    poll_interval_minutes: Mapped[int] = mapped_column(Integer, default=60)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_private_network: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who readers are told an item comes from ("Source: …"); None: the feed's name.
    publisher: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What is polled at `url` (migration 0020): None for a feed (RSS, Atom, RDF, JSON Feed),
    # else "pubmed" (a search), "crossref" (a journal's works) or "oai-pmh" (a catalogue).
    source_type: Mapped[str | None] = mapped_column(String(20))
    # The PubMed query, the journal's ISSN or Crossref filter, or the OAI-PMH set.
    source_query: Mapped[str | None] = mapped_column(Text)
    source_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Where the last harvest got to (a date or datestamp): the next asks only for what is newer.
    harvested_until: Mapped[str | None] = mapped_column(String(100))

    # What the feed says about itself.
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)

    # Health: what the last polls found.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(100))
    body_hash: Mapped[str | None] = mapped_column(String(64))
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error_kind: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)

    newsletter: Mapped[Newsletter | None] = relationship()
    section: Mapped[Section | None] = relationship()
    topics: Mapped[list[Topic]] = relationship(secondary="feed_topics", order_by=Topic.slug)


class Item(Base):
    """One publication, however many feeds it was found in and newsletters it reaches."""

    __tablename__ = "items"
    __table_args__ = (
        Index("ix_items_published", "published"),
        Index("ix_items_title_key_published", "title_key", "published"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    guid: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)  # http(s) only (`ingest.urls.reader_link`)
    # Why the link the source gave was not kept (a `javascript:` link, say); None when it was.
    link_note: Mapped[str | None] = mapped_column(Text)
    canonical_url: Mapped[str | None] = mapped_column(Text)
    url_key: Mapped[str | None] = mapped_column(String(64), index=True)  # hash of canonical_url
    doi: Mapped[str | None] = mapped_column(String(200), index=True)  # lower-case, "10.…/…"
    title: Mapped[str] = mapped_column(Text)
    title_key: Mapped[str] = mapped_column(String(200))
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    published: Mapped[datetime] = mapped_column(UTCDateTime)
    # True when the feed gave no date and `published` is the time Digest first saw the item.
    published_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    summary_html: Mapped[str] = mapped_column(Text, default="")
    summary_text: Mapped[str] = mapped_column(Text, default="")
    # The feed's own wording, kept when a librarian rewrites title or summary.
    original_title: Mapped[str | None] = mapped_column(Text)  # None: never edited
    original_summary_html: Mapped[str | None] = mapped_column(Text)
    # The feed's whole text, cleaned, of which `summary_html` is the first sentences
    # (`ingest.summaries`); None for items stored before it was kept (migration 0019).
    full_text_html: Mapped[str | None] = mapped_column(Text)
    # That whole text as plain words, which search and the look-alike test read (migration
    # 0021); None when no whole text was kept.
    full_text: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bibliographic details, filled for catalogue records.
    citation: Mapped[str | None] = mapped_column(Text)
    publisher: Mapped[str | None] = mapped_column(Text)
    place: Mapped[str | None] = mapped_column(Text)
    isbn: Mapped[str | None] = mapped_column(String(20))
    pmid: Mapped[str | None] = mapped_column(String(20), index=True)  # PubMed's id, digits
    # The structured record (CSL-JSON) Crossref, PubMed or the catalogue gave (migration 0020),
    # and a librarian's corrections to it, field by field, which re-enrichment never overwrites.
    csl: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    csl_corrections: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Set when a librarian merged this item into another: it is hidden, and can be split off
    # again (`curation.duplicates`).
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), index=True
    )

    sources: Mapped[list[ItemSource]] = relationship(
        back_populates="item", cascade="all, delete-orphan"
    )
    placements: Mapped[list[Placement]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="Placement.newsletter_id"
    )


class Placement(Base):
    """An item as one newsletter receives it: that newsletter's own decision on it (status,
    section, topics). A publication found for two newsletters is one item with two placements."""

    __tablename__ = "placements"
    __table_args__ = (
        UniqueConstraint("item_id", "newsletter_id"),
        # Triage lists a status (and often a newsletter) newest first: these indexes give the
        # rows in that order, with no sort.
        Index("ix_placements_status_published", "status", "published"),
        Index(
            "ix_placements_newsletter_id_status_published", "newsletter_id", "status", "published"
        ),
        # The placements still waiting for topic suggestions: a few among millions, found
        # after each poll without reading the others.
        Index(
            "ix_placements_unsuggested",
            "status",
            "id",
            sqlite_where=text("suggested_at IS NULL"),
            postgresql_where=text("suggested_at IS NULL"),
        ),
        # With every status (and a search walking the newest items for a common word), and
        # by section (which belongs to one newsletter): migration 0014.
        Index("ix_placements_published", "published", "id"),
        Index("ix_placements_newsletter_id_status_item_id", "newsletter_id", "status", "item_id"),
        # On PostgreSQL it carries the newsletter and item too, so that a filtered list checks
        # them from the index alone (migration 0017).
        Index(
            "ix_placements_section_id_status_published",
            "section_id",
            "status",
            "published",
            "id",
            postgresql_include=["newsletter_id", "item_id"],
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    newsletter_id: Mapped[int] = mapped_column(ForeignKey("newsletters.id", ondelete="CASCADE"))
    section_id: Mapped[int | None] = mapped_column(ForeignKey("sections.id", ondelete="SET NULL"))
    status: Mapped[ItemStatus] = mapped_column(
        _enum(ItemStatus, "item_status"), default=ItemStatus.NEW
    )
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The item's publication date, kept here too so that triage can list a newsletter's items
    # newest first from one index. It is set with the placement and never changes, as an
    # item's date does not (a merge moves the placement to an item and resets it).
    published: Mapped[datetime] = mapped_column(UTCDateTime)
    # When topics were last suggested for it (None: not yet).
    suggested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    item: Mapped[Item] = relationship(back_populates="placements")
    newsletter: Mapped[Newsletter] = relationship()
    section: Mapped[Section | None] = relationship()
    topic_links: Mapped[list[PlacementTopic]] = relationship(
        back_populates="placement", cascade="all, delete-orphan"
    )


class ItemSource(Base):
    """Provenance: this item was found in this feed, under this entry identity."""

    __tablename__ = "item_sources"
    # Entry key first: de-duplication looks entries up by key.
    __table_args__ = (UniqueConstraint("entry_key", "feed_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    # The entry's identity inside the feed: guid, else canonical URL, else content hash.
    entry_key: Mapped[str] = mapped_column(String(64))
    guid: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    item: Mapped[Item] = relationship(back_populates="sources")
    feed: Mapped[Feed] = relationship()


class PlacementTopic(Base):
    """A topic on an item, as one newsletter tagged it (or suggested, or the feed gave it)."""

    __tablename__ = "placement_topics"
    __table_args__ = (
        # The topics librarians chose, which the suggester learns from at every poll: a few
        # thousand among the millions of suggested and feed topics.
        Index(
            "ix_placement_topics_manual",
            "placement_id",
            "topic_id",
            sqlite_where=text("source = 'manual'"),
            postgresql_where=text("source = 'manual'"),
        ),
    )

    placement_id: Mapped[int] = mapped_column(
        ForeignKey("placements.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    source: Mapped[TopicSource] = mapped_column(_enum(TopicSource, "topic_source"))
    added_by: Mapped[str | None] = mapped_column(String(320))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # For suggestions: why the topic was proposed, in words, and how sure the suggester was.
    reason: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)

    placement: Mapped[Placement] = relationship(back_populates="topic_links")
    topic: Mapped[Topic] = relationship()


class DuplicateState(enum.StrEnum):
    OPEN = "open"  # waiting for a librarian
    MERGED = "merged"  # the second item was merged into the first
    DIFFERENT = "different"  # a librarian said they are different publications


class PossibleDuplicate(Base):
    """Two items that look like one publication (the same title, overlapping text) but have no
    identity in common: never merged by themselves, shown side by side to a librarian.

    A merge is recorded here too, with what it moved, so that it can be undone."""

    __tablename__ = "possible_duplicates"
    __table_args__ = (UniqueConstraint("item_id", "other_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[DuplicateState] = mapped_column(
        _enum(DuplicateState, "duplicate_state"), default=DuplicateState.OPEN
    )
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For a merge: the item merged away, and the ids of the sources and placements it moved
    # to the item kept.
    merged: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    item: Mapped[Item] = relationship(foreign_keys=[item_id])
    other: Mapped[Item] = relationship(foreign_keys=[other_id])


class Tombstone(Base):
    """A key of a deleted item, so that the next poll does not bring it back."""

    __tablename__ = "tombstones"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(Text)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SuggestionModel(Base):
    """The topic classifier last learned from librarians' choices, as arrays, named by the
    fingerprint of the labelled set it learned from (see `curation.learned`)."""

    __tablename__ = "suggestion_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    items: Mapped[int] = mapped_column(Integer)  # how many hand-tagged items it learned from
    payload: Mapped[bytes] = mapped_column(LargeBinary)
