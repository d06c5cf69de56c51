"""Research-grade items: what Crossref and PubMed said about an item's DOI or PMID.

An item's structured record (CSL-JSON) lives on the item (`Item.csl`, with a librarian's
corrections beside it in `Item.csl_corrections`); here are the enrichment queue, one row per
item waiting for or done with a look-up, and the cache of answers, so that a DOI is asked
about once however many items carry it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from digest.models.base import Base, _enum
from digest.timeutil import UTCDateTime, utcnow


class EnrichmentState(enum.StrEnum):
    PENDING = "pending"  # waiting for its first look-up, or for a retry
    ENRICHED = "enriched"  # the service's record is on the item
    NOT_FOUND = "not_found"  # the service does not know the identifier
    FAILED = "failed"  # gave up after repeated failures; `last_error` says why


class Enrichment(Base):
    """An item's look-up at Crossref (by DOI) or PubMed (by PMID), and how it went."""

    __tablename__ = "enrichments"
    __table_args__ = (Index("ix_enrichments_state_next_attempt_at", "state", "next_attempt_at"),)

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(20))  # "crossref" or "pubmed"
    identifier: Mapped[str] = mapped_column(String(200))  # the DOI or PMID asked about
    state: Mapped[EnrichmentState] = mapped_column(
        _enum(EnrichmentState, "enrichment_state"), default=EnrichmentState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)  # in plain words, for the item page
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enriched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResearchLookup(Base):
    """A service's answer about one identifier, kept so that it is asked once."""

    __tablename__ = "research_lookups"

    service: Mapped[str] = mapped_column(String(20), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(200), primary_key=True)
    found: Mapped[bool] = mapped_column(Boolean)
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # CSL-JSON when found
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
