"""Queries and decisions on items, shared by the CLI and (later) the web app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from digest.ingest.store import delete_item
from digest.models import Feed, Item, ItemSource, ItemStatus, ItemTopic


def item_query(
    status: ItemStatus | None = None, feed_name: str | None = None, since: datetime | None = None
) -> Select[tuple[Item]]:
    """Items newest first, filtered by status, source feed and first-seen time."""
    query = select(Item).order_by(Item.published.desc(), Item.id.desc())
    if status is not None:
        query = query.where(Item.status == status)
    if feed_name is not None:
        query = query.where(
            Item.id.in_(select(ItemSource.item_id).join(Feed).where(Feed.name == feed_name))
        )
    if since is not None:
        query = query.where(Item.first_seen_at >= since)
    return query.options(
        selectinload(Item.sources).selectinload(ItemSource.feed),
        selectinload(Item.topic_links).selectinload(ItemTopic.topic),
        selectinload(Item.newsletter),
        selectinload(Item.section),
    )


def iter_items(
    session: Session,
    query: Select[tuple[Item]],
    chunk: int = 500,
) -> Iterator[Item]:
    """Every item of `query`, loaded a chunk at a time so exports of any size stay small."""
    offset = 0
    while True:
        page = session.scalars(query.limit(chunk).offset(offset)).all()
        yield from page
        if len(page) < chunk:
            return
        offset += chunk
        session.expunge_all()


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


def get_item(session: Session, item_id: int) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise LookupError(f"no item with id {item_id}")
    return item


def set_status(session: Session, item_id: int, status: ItemStatus) -> Item:
    item = get_item(session, item_id)
    item.status = status
    return item


def delete(session: Session, item_id: int) -> Item:
    """Delete for good: tombstones keep later polls from bringing the item back."""
    item = get_item(session, item_id)
    delete_item(session, item)
    return item
