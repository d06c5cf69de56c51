"""Finding items: the triage list's filters, search and paging, and the export format."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from digest.curation.search import matches
from digest.models import Feed, Item, ItemSource, ItemStatus, ItemTopic


@dataclass(frozen=True)
class ItemFilter:
    status: ItemStatus | None = None
    feed_id: int | None = None
    feed_name: str | None = None
    newsletter_id: int | None = None
    section_id: int | None = None
    topic_id: int | None = None
    since: datetime | None = None  # first seen at or after
    until: datetime | None = None  # first seen before
    text: str = ""


@dataclass(frozen=True)
class Page:
    items: list[Item]
    total: int  # exact up to COUNT_LIMIT; `more` says when there are more than that
    number: int
    size: int
    more: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


# Counting every match of a broad search costs more than showing a page of them; past this
# many, the list says "more than" instead.
COUNT_LIMIT = 2000


def item_query(
    filters: ItemFilter = ItemFilter(),
    dialect: str = "sqlite",
) -> Select[tuple[Item]]:
    """Items newest first, narrowed by `filters`."""
    query = select(Item).order_by(Item.published.desc(), Item.id.desc())
    if filters.status is not None:
        query = query.where(Item.status == filters.status)
    if filters.feed_id is not None:
        query = query.where(
            Item.id.in_(select(ItemSource.item_id).where(ItemSource.feed_id == filters.feed_id))
        )
    if filters.feed_name is not None:
        query = query.where(
            Item.id.in_(select(ItemSource.item_id).join(Feed).where(Feed.name == filters.feed_name))
        )
    if filters.newsletter_id is not None:
        query = query.where(Item.newsletter_id == filters.newsletter_id)
    if filters.section_id is not None:
        query = query.where(Item.section_id == filters.section_id)
    if filters.topic_id is not None:
        query = query.where(
            Item.id.in_(select(ItemTopic.item_id).where(ItemTopic.topic_id == filters.topic_id))
        )
    if filters.since is not None:
        query = query.where(Item.first_seen_at >= filters.since)
    if filters.until is not None:
        query = query.where(Item.first_seen_at < filters.until)
    condition = matches(dialect, filters.text) if filters.text else None
    if condition is not None:
        query = query.where(condition)
    return query


def with_details(query: Select[tuple[Item]]) -> Select[tuple[Item]]:
    """Load what an item's row shows (feeds, topics, newsletter, section) in a few queries."""
    return query.options(
        selectinload(Item.sources).selectinload(ItemSource.feed),
        selectinload(Item.topic_links).selectinload(ItemTopic.topic),
        selectinload(Item.newsletter),
        selectinload(Item.section),
    )


def page_of_items(session: Session, filters: ItemFilter, number: int = 1, size: int = 50) -> Page:
    query = item_query(filters, session.get_bind().dialect.name)
    matching = query.order_by(None).with_only_columns(Item.id).limit(COUNT_LIMIT + 1)
    total = session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    number = max(1, number)
    items = session.scalars(with_details(query).limit(size).offset((number - 1) * size)).all()
    return Page(list(items), min(total, COUNT_LIMIT), number, size, total > COUNT_LIMIT)


def iter_items(
    session: Session,
    query: Select[tuple[Item]],
    chunk: int = 500,
) -> Iterator[Item]:
    """Every item of `query`, loaded a chunk at a time so exports of any size stay small."""
    offset = 0
    query = with_details(query)
    while True:
        page = session.scalars(query.limit(chunk).offset(offset)).all()
        yield from page
        if len(page) < chunk:
            return
        offset += chunk
        session.expunge_all()


def get_item(session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise LookupError(f"no item with id {item_id}")
    return item


def export_record(item: Item) -> dict[str, Any]:
    """One item as a JSON-ready object (the `items export` format)."""
    return {
        "id": item.id,
        "title": item.title,
        "url": item.link,
        "canonical_url": item.canonical_url,
        "authors": item.authors,
        "published": item.published.isoformat(),
        "published_estimated": item.published_estimated,
        "first_seen": item.first_seen_at.isoformat(),
        "status": item.status.value,
        "newsletter": item.newsletter.slug if item.newsletter else None,
        "section": item.section.name if item.section else None,
        "summary_html": item.summary_html,
        "summary_text": item.summary_text,
        "topics": sorted(link.topic.slug for link in item.topic_links),
        "feeds": sorted(source.feed.name for source in item.sources),
        "citation": item.citation,
        "publisher": item.publisher,
        "place": item.place,
        "isbn": item.isbn,
    }
