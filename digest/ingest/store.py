"""Storing parsed entries: each publication once, with every feed it came from, and offered to
every newsletter whose feeds found it.

Identity is strong or it is a question. An entry is the item it names when the feed gave it
before (its entry key), when a tombstone says it was deleted, or when another item has the same
canonical URL or DOI. A matching title alone never merges: when the title and the text agree
but no identity does, the new item is stored and the pair is recorded as a possible duplicate
for a librarian to decide on. Lookups are done per batch, so thousands of entries cost a
handful of queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.orm import Session

from digest.db import index_new_items
from digest.ingest import dedup
from digest.ingest.parse import ParsedEntry
from digest.models import (
    Feed,
    Item,
    ItemSource,
    ItemStatus,
    Placement,
    PlacementTopic,
    PossibleDuplicate,
    Tombstone,
    TopicSource,
)

TITLE_WINDOW = timedelta(days=14)  # how far apart two possible duplicates may be published
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
    """A row decided on in this batch, before it has a database id."""

    row: dict[str, Any]
    id: int | None = None


@dataclass(eq=False)
class _PendingPlacement(_Pending):
    item: int | _Pending | None = None
    topic_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class _Seen:
    """An item under a title: when it was published and its words, to judge a likeness."""

    published: datetime
    item: int | _Pending
    text: str


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


def _id(row: int | _Pending) -> int:
    if isinstance(row, _Pending):
        assert row.id is not None
        return row.id
    return row


def surviving_items(session: Session, item_ids: Iterable[int]) -> dict[int, int]:
    """Each id, mapped to the item it was merged into (itself when it was never merged)."""
    resolved = {item_id: item_id for item_id in item_ids}
    pending = dict(resolved)
    while pending:  # merges may chain: B into A, then A into C
        found = {
            item_id: into
            for chunk in _chunks(list(set(pending.values())))
            for item_id, into in session.execute(
                select(Item.id, Item.merged_into_id).where(
                    Item.id.in_(chunk), Item.merged_into_id.is_not(None)
                )
            )
        }
        pending = {start: found[now] for start, now in pending.items() if now in found}
        resolved.update(pending)
    return resolved


class _Index:
    """What the database already holds for a batch's keys, kept current as the batch is stored."""

    def __init__(self, session: Session, batch: Sequence[FeedEntries]) -> None:
        entries = [(fe.feed_id, e) for fe in batch for e in fe.entries]
        feed_ids = {feed_id for feed_id, _ in entries}
        entry_keys = list({e.entry_key for _, e in entries})
        url_keys = list({e.url_key for _, e in entries if e.url_key})
        dois = list({e.doi for _, e in entries if e.doi})
        title_keys = list({e.title_key for _, e in entries if e.title_key})
        tombstone_keys = [
            *(dedup.source_tombstone(f, e.entry_key) for f, e in entries),
            *(dedup.url_tombstone(k) for k in url_keys),
            *(dedup.doi_tombstone(doi) for doi in dois),
        ]
        self.sources: set[tuple[int, str]] = set()
        self.by_url: dict[str, int | _Pending] = {}
        self.by_doi: dict[str, int | _Pending] = {}
        self.by_title: dict[str, list[_Seen]] = {}
        self.item_sources: set[tuple[int | _Pending, int]] = set()
        self.placements: dict[tuple[int | _Pending, int], int | _PendingPlacement] = {}
        self.published: dict[int, datetime] = {}  # of the items matched
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
        found_by_url = self._lookup(session, Item.url_key, url_keys)
        found_by_doi = self._lookup(session, Item.doi, dois)
        survivors = surviving_items(session, {*found_by_url.values(), *found_by_doi.values()})
        self.by_url = {key: survivors[item_id] for key, item_id in found_by_url.items()}
        self.by_doi = {doi: survivors[item_id] for doi, item_id in found_by_doi.items()}
        for chunk in _chunks(title_keys):
            for item_id, key, published, words in session.execute(
                select(Item.id, Item.title_key, Item.published, Item.summary_text).where(
                    Item.title_key.in_(chunk), Item.merged_into_id.is_(None)
                )
            ):
                self.by_title.setdefault(key, []).append(_Seen(published, item_id, words))
        matched = list(set(survivors.values()))
        for chunk in _chunks(matched):
            self.item_sources.update(
                session.execute(
                    select(ItemSource.item_id, ItemSource.feed_id).where(
                        ItemSource.item_id.in_(chunk)
                    )
                ).all()
            )
            for placement_id, item_id, newsletter_id in session.execute(
                select(Placement.id, Placement.item_id, Placement.newsletter_id).where(
                    Placement.item_id.in_(chunk)
                )
            ):
                self.placements[(item_id, newsletter_id)] = placement_id
            self.published.update(
                session.execute(select(Item.id, Item.published).where(Item.id.in_(chunk))).all()
            )
        for chunk in _chunks(list(set(tombstone_keys))):
            self.tombstones.update(
                session.scalars(select(Tombstone.key).where(Tombstone.key.in_(chunk)))
            )

    @staticmethod
    def _lookup(session: Session, column: Any, keys: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(keys):
            for item_id, key in session.execute(
                select(Item.id, column).where(column.in_(chunk)).order_by(Item.id)
            ):
                found.setdefault(key, item_id)
        return found

    def same_item(self, entry: ParsedEntry) -> int | _Pending | None:
        """The item this entry is by strong identity: canonical URL, then DOI."""
        if entry.url_key and entry.url_key in self.by_url:
            return self.by_url[entry.url_key]
        if entry.doi and entry.doi in self.by_doi:
            return self.by_doi[entry.doi]
        return None

    def look_alikes(self, entry: ParsedEntry, published: datetime) -> list[int | _Pending]:
        """Items with this entry's title and like words, published near it: possible
        duplicates, never merged without a person."""
        return [
            seen.item
            for seen in self.by_title.get(entry.title_key, [])
            if abs(seen.published - published) <= TITLE_WINDOW
            and dedup.likely_same(entry.title_key, entry.summary_text, seen.text)
        ]

    def is_tombstoned(self, feed_id: int, entry: ParsedEntry) -> bool:
        return (
            dedup.source_tombstone(feed_id, entry.entry_key) in self.tombstones
            or (entry.url_key is not None and dedup.url_tombstone(entry.url_key) in self.tombstones)
            or (entry.doi is not None and dedup.doi_tombstone(entry.doi) in self.tombstones)
        )

    def remember(self, entry: ParsedEntry, published: datetime, item: int | _Pending) -> None:
        if entry.url_key:
            self.by_url.setdefault(entry.url_key, item)
        if entry.doi:
            self.by_doi.setdefault(entry.doi, item)
        if entry.title_key and isinstance(item, _Pending):
            self.by_title.setdefault(entry.title_key, []).append(
                _Seen(published, item, entry.summary_text)
            )


@dataclass
class _Batch:
    """What storing a batch will write."""

    items: list[_Pending] = field(default_factory=list)
    placements: list[_PendingPlacement] = field(default_factory=list)
    sources: list[tuple[int | _Pending, int, ParsedEntry]] = field(default_factory=list)
    extra_topics: set[tuple[int, int]] = field(default_factory=set)  # (placement, topic)
    look_alikes: set[tuple[_Pending, int | _Pending]] = field(default_factory=set)

    def offer(self, index: _Index, item: int | _Pending, fe: FeedEntries, now: datetime) -> None:
        """The item is offered to the feed's newsletter, with the feed's topics."""
        if fe.newsletter_id is None:
            return
        placement = index.placements.get((item, fe.newsletter_id))
        if placement is None:
            published = (
                item.row["published"] if isinstance(item, _Pending) else index.published[item]
            )
            placement = _PendingPlacement(_placement_row(fe, published, now), item=item)
            index.placements[(item, fe.newsletter_id)] = placement
            self.placements.append(placement)
        if isinstance(placement, _PendingPlacement):
            placement.topic_ids.update(fe.topic_ids)
        else:
            self.extra_topics.update((placement, topic_id) for topic_id in fe.topic_ids)


def store_entries(
    session: Session,
    batch: Sequence[FeedEntries],
    now: datetime,
) -> dict[int, EntryCounts]:
    """Store a batch of feeds' entries; returns the counts per feed id."""
    index = _Index(session, batch)
    counts = {fe.feed_id: EntryCounts() for fe in batch}
    created: dict[int, list[_Pending]] = {fe.feed_id: [] for fe in batch}
    writes = _Batch()
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
            item = index.same_item(entry)
            if item is None:
                item = _Pending(_item_row(entry, now))
                writes.items.append(item)
                created[fe.feed_id].append(item)
                tally.new += 1
                writes.look_alikes.update(
                    (item, other) for other in index.look_alikes(entry, published)
                )
            else:
                tally.duplicate += 1
            writes.offer(index, item, fe, now)
            if (item, fe.feed_id) in index.item_sources:
                # A second entry of this feed for an item it already gave (a changed guid).
                continue
            index.remember(entry, published, item)
            index.item_sources.add((item, fe.feed_id))
            writes.sources.append((item, fe.feed_id, entry))
    _write(session, writes, now)
    for feed_id, items in created.items():
        counts[feed_id].created = [_id(item) for item in items]
    return counts


def _write(session: Session, writes: _Batch, now: datetime) -> None:
    if writes.items:
        _insert(session, Item.__table__, writes.items)
        index_new_items(session, _id(writes.items[0]), _id(writes.items[-1]))
    if writes.placements:
        for placement in writes.placements:
            assert placement.item is not None
            placement.row["item_id"] = _id(placement.item)
        _insert(session, Placement.__table__, writes.placements)
    if writes.sources:
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
                for item, feed_id, entry in writes.sources
            ],
        )
    topic_rows = {(_id(p), t) for p in writes.placements for t in p.topic_ids}
    if writes.extra_topics:
        placements = list({placement_id for placement_id, _ in writes.extra_topics})
        existing = {
            (placement_id, topic_id)
            for chunk in _chunks(placements)
            for placement_id, topic_id in session.execute(
                select(PlacementTopic.placement_id, PlacementTopic.topic_id).where(
                    PlacementTopic.placement_id.in_(chunk)
                )
            )
        }
        topic_rows |= writes.extra_topics - existing
    if topic_rows:
        session.execute(
            insert(PlacementTopic.__table__),
            [
                {
                    "placement_id": placement_id,
                    "topic_id": topic_id,
                    "source": TopicSource.FEED,
                    "added_at": now,
                }
                for placement_id, topic_id in sorted(topic_rows)
            ],
        )
    pairs = {tuple(sorted((_id(a), _id(b)))) for a, b in writes.look_alikes if a is not b}
    if pairs:
        session.execute(
            insert(PossibleDuplicate.__table__),
            [
                {
                    "item_id": first,
                    "other_id": second,
                    "reason": "the same title and much the same words, at different addresses",
                    "state": "open",
                    "found_at": now,
                }
                for first, second in sorted(pairs)
            ],
        )


def _insert(session: Session, table: Table, rows: Sequence[_Pending]) -> None:
    """Insert rows with ids drawn beforehand, so the insert is one plain executemany.

    (RETURNING would do, but its rows come in no set order, and asking SQLAlchemy to sort them
    makes SQLite insert row by row: several times slower.)
    """
    for row, row_id in zip(rows, _allocate_ids(session, table.name, len(rows)), strict=True):
        row.id = row.row["id"] = row_id
    session.execute(insert(table), [row.row for row in rows])


def _allocate_ids(session: Session, table: str, count: int) -> list[int]:
    """`count` unused ids of `table`. The caller holds the writers' lock (`write_transaction`)."""
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.scalars(
                text(
                    f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "
                    "FROM generate_series(1, :count)"
                ),
                {"count": count},
            )
        )
    # SQLite: the write lock is held, so nobody else can take ids above the current highest.
    highest = session.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}"))
    return list(range(highest + 1, highest + 1 + count))


def _item_row(entry: ParsedEntry, now: datetime) -> dict[str, Any]:
    return {
        "guid": entry.guid,
        "link": entry.link,
        "canonical_url": entry.canonical_url,
        "url_key": entry.url_key,
        "doi": entry.doi,
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
        "citation": entry.citation,
        "publisher": entry.publisher,
        "place": entry.place,
        "isbn": entry.isbn,
        "merged_into_id": None,
    }


def _placement_row(fe: FeedEntries, published: datetime, now: datetime) -> dict[str, Any]:
    return {
        "newsletter_id": fe.newsletter_id,
        "section_id": fe.section_id,
        "status": ItemStatus.NEW,
        "first_seen_at": now,
        "published": published,
        "suggested_at": None,
    }


def delete_item(session: Session, item: Item) -> None:
    """Delete an item, and any merged into it, leaving tombstones so that no later poll or
    import brings them back."""
    gone, last = [item], [item.id]
    while last:  # merges may chain
        merged = list(session.scalars(select(Item).where(Item.merged_into_id.in_(last))))
        gone += merged
        last = [each.id for each in merged]
    keys = {dedup.source_tombstone(s.feed_id, s.entry_key) for each in gone for s in each.sources}
    keys |= {dedup.url_tombstone(each.url_key) for each in gone if each.url_key}
    keys |= {dedup.doi_tombstone(each.doi) for each in gone if each.doi}
    known = set(session.scalars(select(Tombstone.key).where(Tombstone.key.in_(keys))))
    session.add_all(Tombstone(key=key, title=item.title) for key in sorted(keys - known))
    for each in gone:
        session.delete(each)


def feed_entries(feed: Feed, entries: Sequence[ParsedEntry]) -> FeedEntries:
    return FeedEntries(
        feed_id=feed.id,
        newsletter_id=feed.newsletter_id,
        section_id=feed.section_id,
        topic_ids=[t.id for t in feed.topics],
        entries=entries,
    )
