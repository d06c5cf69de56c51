"""Storing parsed entries: each publication once, with every feed it came from, and offered to
every newsletter whose feeds found it.

Identity is strong or it is a question. An entry is the item it names when the feed gave it
before (its entry key), when a tombstone says it was deleted, or when another item has the same
canonical URL, DOI or PMID. A matching title alone never merges: when the title and the text agree
but no identity does, the new item is stored and the pair is recorded as a possible duplicate
for a librarian to decide on. Lookups are done per batch, so thousands of entries cost a
handful of queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from digest.bulk import insert_rows
from digest.db import index_new_items, one_of
from digest.ingest import dedup
from digest.ingest.known import (
    FeedEntries,
    KnownItems,
    Pending,
    PendingPlacement,
    chunks,
    row_id,
)
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


@dataclass
class EntryCounts:
    new: int = 0
    duplicate: int = 0  # already stored from another feed: provenance added
    unchanged: int = 0  # already stored from this feed, or deleted on purpose
    created: list[int] = field(default_factory=list)  # ids of the new items


@dataclass
class _Batch:
    """What storing a batch will write."""

    items: list[Pending] = field(default_factory=list)
    placements: list[PendingPlacement] = field(default_factory=list)
    sources: list[tuple[int | Pending, int, ParsedEntry]] = field(default_factory=list)
    extra_topics: set[tuple[int, int]] = field(default_factory=set)  # (placement, topic)
    look_alikes: set[tuple[Pending, int | Pending]] = field(default_factory=set)
    # What stored items lacked and another feed's entry for them gave: id -> column -> value.
    fills: dict[int, dict[str, str]] = field(default_factory=dict)

    def fill(self, index: KnownItems, item: int | Pending, entry: ParsedEntry) -> None:
        """The DOI and PMID this entry gives its item, where the item has none and no other
        item has them (two items sharing a DOI would make later entries' match arbitrary)."""
        for column, value, known in (
            ("doi", entry.doi, index.by_doi),
            ("pmid", entry.pmid, index.by_pmid),
        ):
            if not value or known.get(value, item) != item:  # Pending compares by identity
                continue
            if isinstance(item, Pending):
                item.row[column] = item.row[column] or value
            else:
                self.fills.setdefault(item, {}).setdefault(column, value)

    def offer(self, index: KnownItems, item: int | Pending, fe: FeedEntries, now: datetime) -> None:
        """The item is offered to the feed's newsletter, with the feed's topics."""
        if fe.newsletter_id is None:
            return
        placement = index.placements.get((item, fe.newsletter_id))
        if placement is None:
            published = (
                item.row["published"] if isinstance(item, Pending) else index.published[item]
            )
            placement = PendingPlacement(_placement_row(fe, published, now), item=item)
            index.placements[(item, fe.newsletter_id)] = placement
            self.placements.append(placement)
        if isinstance(placement, PendingPlacement):
            placement.topic_ids.update(fe.topic_ids)
        else:
            self.extra_topics.update((placement, topic_id) for topic_id in fe.topic_ids)


def store_entries(
    session: Session,
    batch: Sequence[FeedEntries],
    now: datetime,
) -> dict[int, EntryCounts]:
    """Store a batch of feeds' entries; returns the counts per feed id."""
    if not any(fe.entries for fe in batch):  # a batch of unchanged feeds: nothing to look up
        return {fe.feed_id: EntryCounts() for fe in batch}
    index = KnownItems(session, batch)
    counts = {fe.feed_id: EntryCounts() for fe in batch}
    created: dict[int, list[Pending]] = {fe.feed_id: [] for fe in batch}
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
                item = Pending(_item_row(entry, now))
                writes.items.append(item)
                created[fe.feed_id].append(item)
                tally.new += 1
                writes.look_alikes.update(
                    (item, other) for other in index.look_alikes(entry, published)
                )
            else:
                tally.duplicate += 1
                writes.fill(index, item, entry)
            writes.offer(index, item, fe, now)
            if (item, fe.feed_id) in index.item_sources:
                # A second entry of this feed for an item it already gave (a changed guid).
                continue
            index.remember(entry, published, item)
            index.item_sources.add((item, fe.feed_id))
            writes.sources.append((item, fe.feed_id, entry))
    _write(session, writes, now)
    for feed_id, items in created.items():
        counts[feed_id].created = [row_id(item) for item in items]
    return counts


def _write(session: Session, writes: _Batch, now: datetime) -> None:
    if writes.items:
        _insert(session, Item.__table__, writes.items)
        index_new_items(session, row_id(writes.items[0]), row_id(writes.items[-1]))
    for item_id, columns in sorted(writes.fills.items()):
        # Only where still empty: a librarian's or an earlier feed's value stands.
        session.execute(
            text(
                "UPDATE items SET "
                + ", ".join(f"{column} = coalesce({column}, :{column})" for column in columns)
                + " WHERE id = :id"
            ),
            {"id": item_id, **columns},
        )
    if writes.placements:
        for placement in writes.placements:
            assert placement.item is not None
            placement.row["item_id"] = row_id(placement.item)
        _insert(session, Placement.__table__, writes.placements)
    if writes.sources:
        insert_rows(
            session,
            ItemSource.__table__,
            [
                {
                    "item_id": row_id(item),
                    "feed_id": feed_id,
                    "entry_key": entry.entry_key,
                    "guid": entry.guid,
                    "link": entry.link,
                    "first_seen_at": now,
                }
                for item, feed_id, entry in writes.sources
            ],
        )
    topic_rows = {(row_id(p), t) for p in writes.placements for t in p.topic_ids}
    if writes.extra_topics:
        placements = list({placement_id for placement_id, _ in writes.extra_topics})
        existing = {
            (placement_id, topic_id)
            for chunk in chunks(placements)
            for placement_id, topic_id in session.execute(
                select(PlacementTopic.placement_id, PlacementTopic.topic_id).where(
                    one_of(session, PlacementTopic.placement_id, chunk)
                )
            )
        }
        topic_rows |= writes.extra_topics - existing
    if topic_rows:
        insert_rows(
            session,
            PlacementTopic.__table__,
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
    pairs = {tuple(sorted((row_id(a), row_id(b)))) for a, b in writes.look_alikes if a is not b}
    if pairs:
        insert_rows(
            session,
            PossibleDuplicate.__table__,
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


def _insert(session: Session, table: Table, rows: Sequence[Pending]) -> None:
    """Insert rows with ids drawn beforehand, so the insert is one plain bulk write.

    (RETURNING would do, but its rows come in no set order, and asking SQLAlchemy to sort them
    makes SQLite insert row by row: several times slower.)
    """
    for row, new_id in zip(rows, _allocate_ids(session, table.name, len(rows)), strict=True):
        row.id = row.row["id"] = new_id
    insert_rows(session, table, [row.row for row in rows])


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
        "link_note": entry.link_note,
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
        "full_text_html": entry.full_text_html or entry.summary_html,
        # A catalogue's abstract and a typed summary are whole as they are.
        "full_text": entry.full_text or entry.summary_text,
        "content_hash": entry.content_hash,
        "first_seen_at": now,
        "citation": entry.citation,
        "publisher": entry.publisher,
        "place": entry.place,
        "isbn": entry.isbn,
        "pmid": entry.pmid,
        "csl": entry.csl,
        "csl_corrections": None,
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
    keys |= {dedup.pmid_tombstone(each.pmid) for each in gone if each.pmid}
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
