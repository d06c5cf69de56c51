"""Storing parsed entries: each publication once, with every feed it came from.

Identity, in order: the entry was already seen in this feed (its entry key); a tombstone says it
was deleted; another item has the same canonical URL; another item has the same normalised title
within 14 days. Lookups are done per batch, so thousands of entries cost a handful of queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from digest.db import index_new_items
from digest.ingest import dedup
from digest.ingest.parse import ParsedEntry
from digest.models import (
    Feed,
    Item,
    ItemSource,
    ItemStatus,
    ItemTopic,
    Tombstone,
    TopicSource,
)

TITLE_WINDOW = timedelta(days=14)
LOOKUP_CHUNK = 2000


@dataclass
class FeedEntries:
    """Entries found in one feed, with what storing them needs to know about the feed."""

    feed_id: int
    newsletter_id: int | None
    section_id: int | None
    topic_ids: Sequence[int]
    entries: Sequence[ParsedEntry]


@dataclass
class EntryCounts:
    new: int = 0
    duplicate: int = 0  # already stored from another feed: provenance added
    unchanged: int = 0  # already stored from this feed, or deleted on purpose
    created: list[int] = field(default_factory=list)  # ids of the new items


@dataclass(eq=False)  # compared and hashed by identity
class _Pending:
    """An item decided on in this batch, before it has a database id."""

    row: dict[str, Any]
    topic_ids: set[int]
    tally: EntryCounts  # the counts of the feed it came from first
    item_id: int | None = None


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


class _Index:
    """What the database already holds for a batch's keys, kept current as the batch is stored."""

    def __init__(self, session: Session, batch: Sequence[FeedEntries]) -> None:
        entries = [(fe.feed_id, e) for fe in batch for e in fe.entries]
        feed_ids = {feed_id for feed_id, _ in entries}
        entry_keys = list({e.entry_key for _, e in entries})
        url_keys = list({e.url_key for _, e in entries if e.url_key})
        title_keys = list({e.title_key for _, e in entries if e.title_key})
        tombstone_keys = [dedup.source_tombstone(f, e.entry_key) for f, e in entries] + [
            dedup.url_tombstone(k) for k in url_keys
        ]
        self.sources: set[tuple[int, str]] = set()
        self.by_url: dict[str, int | _Pending] = {}
        self.by_title: dict[str, list[tuple[datetime, int | _Pending]]] = {}
        self.item_sources: set[tuple[int | _Pending, int]] = set()
        self.tombstones: set[str] = set()
        # By entry key alone, which leads the unique index: a (feed, key) row-value IN would
        # make SQLite scan the whole index.
        for chunk in _chunks(entry_keys):
            self.sources.update(
                (feed_id, key)
                for feed_id, key in session.execute(
                    select(ItemSource.feed_id, ItemSource.entry_key).where(
                        ItemSource.entry_key.in_(chunk)
                    )
                )
                if feed_id in feed_ids
            )
        for chunk in _chunks(url_keys):
            for item_id, key in session.execute(
                select(Item.id, Item.url_key).where(Item.url_key.in_(chunk))
            ):
                self.by_url.setdefault(key, item_id)
        for chunk in _chunks(title_keys):
            for item_id, key, published in session.execute(
                select(Item.id, Item.title_key, Item.published).where(Item.title_key.in_(chunk))
            ):
                self.by_title.setdefault(key, []).append((published, item_id))
        matched = list(
            set(self.by_url.values()) | {i for v in self.by_title.values() for _, i in v}
        )
        for chunk in _chunks(matched):
            self.item_sources.update(
                session.execute(
                    select(ItemSource.item_id, ItemSource.feed_id).where(
                        ItemSource.item_id.in_(chunk)
                    )
                ).all()
            )
        for chunk in _chunks(list(set(tombstone_keys))):
            self.tombstones.update(
                session.scalars(select(Tombstone.key).where(Tombstone.key.in_(chunk)))
            )

    def same_item(self, entry: ParsedEntry, published: datetime) -> int | _Pending | None:
        if entry.url_key and entry.url_key in self.by_url:
            return self.by_url[entry.url_key]
        for other_published, item in self.by_title.get(entry.title_key, []):
            if entry.title_key and abs(other_published - published) <= TITLE_WINDOW:
                return item
        return None

    def is_tombstoned(self, feed_id: int, entry: ParsedEntry) -> bool:
        return dedup.source_tombstone(feed_id, entry.entry_key) in self.tombstones or (
            entry.url_key is not None and dedup.url_tombstone(entry.url_key) in self.tombstones
        )

    def remember(self, entry: ParsedEntry, published: datetime, item: int | _Pending) -> None:
        if entry.url_key:
            self.by_url.setdefault(entry.url_key, item)
        if entry.title_key:
            self.by_title.setdefault(entry.title_key, []).append((published, item))


def store_entries(
    session: Session,
    batch: Sequence[FeedEntries],
    now: datetime,
) -> dict[int, EntryCounts]:
    """Store a batch of feeds' entries; returns the counts per feed id."""
    index = _Index(session, batch)
    counts = {fe.feed_id: EntryCounts() for fe in batch}
    pending: list[_Pending] = []
    sources: list[tuple[int | _Pending, int, ParsedEntry]] = []
    extra_topics: list[tuple[int, int]] = []
    for fe in batch:
        tally = counts[fe.feed_id]
        for entry in fe.entries:
            if (fe.feed_id, entry.entry_key) in index.sources or index.is_tombstoned(
                fe.feed_id, entry
            ):
                tally.unchanged += 1
                continue
            index.sources.add((fe.feed_id, entry.entry_key))
            published = entry.published or now
            item = index.same_item(entry, published)
            if item is None:
                item = _Pending(_item_row(entry, fe, now), set(fe.topic_ids), tally)
                pending.append(item)
                tally.new += 1
            else:
                tally.duplicate += 1
                if isinstance(item, _Pending):
                    item.topic_ids.update(fe.topic_ids)
                else:
                    extra_topics.extend((item, t) for t in fe.topic_ids)
                if (item, fe.feed_id) in index.item_sources:
                    # A second entry of this feed for an item it already gave (a changed guid).
                    continue
            index.remember(entry, published, item)
            index.item_sources.add((item, fe.feed_id))
            sources.append((item, fe.feed_id, entry))

    if pending:
        _insert_items(session, pending)
        for item in pending:
            item.tally.created.append(_id(item))
    if sources:
        session.execute(
            insert(ItemSource.__table__),
            [
                {
                    "item_id": _id(item),
                    "feed_id": feed_id,
                    "entry_key": entry.entry_key,
                    "guid": entry.guid,
                    "link": entry.link,
                    "first_seen_at": now,
                }
                for item, feed_id, entry in sources
            ],
        )
    topic_rows = {(p.item_id, t) for p in pending for t in p.topic_ids} | set(extra_topics)
    if extra_topics:
        items_with_new_topics = list({item_id for item_id, _ in extra_topics})
        existing = {
            (item_id, topic_id)
            for chunk in _chunks(items_with_new_topics)
            for item_id, topic_id in session.execute(
                select(ItemTopic.item_id, ItemTopic.topic_id).where(ItemTopic.item_id.in_(chunk))
            )
        }
        topic_rows -= existing
    if topic_rows:
        session.execute(
            insert(ItemTopic.__table__),
            [
                {
                    "item_id": item_id,
                    "topic_id": topic_id,
                    "source": TopicSource.FEED,
                    "added_at": now,
                }
                for item_id, topic_id in sorted(topic_rows)
            ],
        )
    return counts


def _insert_items(session: Session, pending: list[_Pending]) -> None:
    """Insert new items with ids drawn beforehand, so the insert is one plain executemany.

    (RETURNING would do, but its rows come in no set order, and asking SQLAlchemy to sort them
    makes SQLite insert row by row: several times slower.)
    """
    for item, item_id in zip(pending, _allocate_item_ids(session, len(pending)), strict=True):
        item.item_id = item.row["id"] = item_id
    session.execute(insert(Item.__table__), [item.row for item in pending])
    index_new_items(session, pending[0].item_id or 0, pending[-1].item_id or 0)


def _allocate_item_ids(session: Session, count: int) -> list[int]:
    """`count` unused item ids. The caller holds the writers' lock (`write_transaction`)."""
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('items', 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"count": count},
            )
        )
    # SQLite: the write lock is held, so nobody else can take ids above the current highest.
    highest = session.scalar(text("SELECT coalesce(max(id), 0) FROM items"))
    return list(range(highest + 1, highest + 1 + count))


def _id(item: int | _Pending) -> int:
    if isinstance(item, _Pending):
        assert item.item_id is not None
        return item.item_id
    return item


def _item_row(entry: ParsedEntry, fe: FeedEntries, now: datetime) -> dict[str, Any]:
    return {
        "guid": entry.guid,
        "link": entry.link,
        "canonical_url": entry.canonical_url,
        "url_key": entry.url_key,
        "title": entry.title,
        "title_key": entry.title_key,
        "authors": entry.authors,
        "published": entry.published or now,
        "published_estimated": entry.published is None or entry.published_estimated,
        "summary_html": entry.summary_html,
        "summary_text": entry.summary_text,
        "original_title": None,
        "original_summary_html": None,
        "content_hash": entry.content_hash,
        "first_seen_at": now,
        "status": ItemStatus.NEW,
        "newsletter_id": fe.newsletter_id,
        "section_id": fe.section_id,
        "citation": entry.citation,
        "publisher": entry.publisher,
        "place": entry.place,
        "isbn": entry.isbn,
    }


def delete_item(session: Session, item: Item) -> None:
    """Delete an item and leave tombstones, so no later poll or import brings it back."""
    keys = {dedup.source_tombstone(s.feed_id, s.entry_key) for s in item.sources}
    if item.url_key:
        keys.add(dedup.url_tombstone(item.url_key))
    known = set(session.scalars(select(Tombstone.key).where(Tombstone.key.in_(keys))))
    session.add_all(Tombstone(key=key, title=item.title) for key in sorted(keys - known))
    session.delete(item)


def feed_entries(feed: Feed, entries: Sequence[ParsedEntry]) -> FeedEntries:
    return FeedEntries(
        feed_id=feed.id,
        newsletter_id=feed.newsletter_id,
        section_id=feed.section_id,
        topic_ids=[t.id for t in feed.topics],
        entries=entries,
    )
