"""Finding items: the triage list's filters, search and paging, and the export format.

Triage lists placements (an item as one newsletter receives it): a report found for two
newsletters is one item with a row in each newsletter's list, decided on separately.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session, immediateload, selectinload

from digest.citations import Rendered, item_citation
from digest.citations.records import effective_record
from digest.curation import paging, search
from digest.curation.paging import Cursor
from digest.errors import NotFound
from digest.models import (
    Feed,
    Item,
    ItemSource,
    ItemStatus,
    Placement,
    PlacementTopic,
    PossibleDuplicate,
)


@dataclass(frozen=True)
class ItemFilter:
    status: ItemStatus | None = None
    feed_id: int | None = None
    feed_name: str | None = None
    newsletter_id: int | None = None
    section_id: int | None = None
    topic_id: int | None = None
    since: datetime | None = None  # reached the newsletter at or after
    until: datetime | None = None  # reached the newsletter before
    text: str = ""


@dataclass(frozen=True)
class Page:
    placements: list[Placement]
    # How many items there are at least (exact when `more` is False); None on a page reached
    # from a row (`paging`), which knows nothing of how many came before that row.
    total: int | None
    number: int  # as the librarian counts pages: carried along with the links
    size: int
    more: bool = False  # there are items after this page

    @property
    def pages(self) -> int:
        """The last page known: this one, or the next when there are more."""
        return self.number + 1 if self.more else self.number

    @property
    def first(self) -> Cursor | None:
        return Cursor.of(self.placements[0]) if self.placements else None

    @property
    def last(self) -> Cursor | None:
        return Cursor.of(self.placements[-1]) if self.placements else None


def placement_query(
    filters: ItemFilter = ItemFilter(),
    dialect: str = "sqlite",
    fts5_match: str | None = None,
) -> Select[tuple[Placement]]:
    """Items as each newsletter has them, newest first, narrowed by `filters`. Items merged
    into another are left out: the one they were merged into stands for them. `fts5_match`:
    the text's FTS5 query, when already made (`search.fts5_listed_query`)."""
    # Merged items are few: leaving out their ids is one short list, where a join to items
    # let SQLite build a Bloom filter over every item (two seconds at a million) before
    # showing the first page of an unfiltered list.
    merged = select(Item.id).where(Item.merged_into_id.is_not(None))
    query = (
        select(Placement)
        .where(Placement.item_id.not_in(merged))
        .order_by(Placement.published.desc(), Placement.id.desc())
    )
    if filters.status is not None:
        query = query.where(Placement.status == filters.status)
    if filters.feed_id is not None:
        query = query.where(
            Placement.item_id.in_(
                select(ItemSource.item_id).where(ItemSource.feed_id == filters.feed_id)
            )
        )
    if filters.feed_name is not None:
        query = query.where(
            Placement.item_id.in_(
                select(ItemSource.item_id).join(Feed).where(Feed.name == filters.feed_name)
            )
        )
    if filters.newsletter_id is not None:
        query = query.where(Placement.newsletter_id == filters.newsletter_id)
    if filters.section_id is not None:
        query = query.where(Placement.section_id == filters.section_id)
    if filters.topic_id is not None:
        # A correlated EXISTS, not IN: SQLite would list every placement with the topic
        # (50,000 in a million) before each page; this asks the primary key about each row
        # the date order brings, and stops with the page.
        query = query.where(
            select(PlacementTopic.placement_id)
            .where(
                PlacementTopic.placement_id == Placement.id,
                PlacementTopic.topic_id == filters.topic_id,
            )
            .exists()
        )
    if filters.since is not None:
        query = query.where(Placement.first_seen_at >= filters.since)
    if filters.until is not None:
        query = query.where(Placement.first_seen_at < filters.until)
    condition = (
        search.matches(dialect, filters.text, fts5_match, Placement.item_id)
        if filters.text
        else None
    )
    if condition is not None and dialect == "postgresql":  # it reads items.search_vector
        query = query.join(Placement.item)
    if condition is not None:
        query = query.where(condition)
    return query


def item_query(filters: ItemFilter = ItemFilter(), dialect: str = "sqlite") -> Select[tuple[Item]]:
    """Items (each once, however many newsletters have it) with a placement that `filters`
    match, newest first."""
    chosen = placement_query(filters, dialect).order_by(None).with_only_columns(Placement.item_id)
    return (
        select(Item)
        .where(Item.id.in_(chosen), Item.merged_into_id.is_(None))
        .order_by(Item.published.desc(), Item.id.desc())
    )


def _item_details() -> list[Any]:
    return [
        selectinload(Item.sources).selectinload(ItemSource.feed),
        selectinload(Item.placements)
        .selectinload(Placement.topic_links)
        .selectinload(PlacementTopic.topic),
        selectinload(Item.placements).selectinload(Placement.newsletter),
        selectinload(Item.placements).selectinload(Placement.section),
    ]


def with_details(query: Select[tuple[Item]]) -> Select[tuple[Item]]:
    """Load what an item shows (feeds, and each newsletter's section and topics) in a few
    queries."""
    return query.options(*_item_details())


def with_placement_details(
    query: Select[tuple[Placement]], lookups_loaded: bool = False
) -> Select[tuple[Placement]]:
    """Load what a triage row shows (the item's feeds, the newsletter, section and topics).
    `lookups_loaded`: the session already holds the newsletters, sections, feeds and topics
    (as the triage page's filters load them), so each row takes its own from the session
    instead of a query per table; one it lacks (a retired topic, say) is still loaded, alone."""
    # On PostgreSQL each of those four queries is one more round trip to the server, for
    # rows the session already holds.
    lookup = immediateload if lookups_loaded else selectinload
    return query.options(
        selectinload(Placement.item).selectinload(Item.sources).options(lookup(ItemSource.feed)),
        selectinload(Placement.topic_links).options(lookup(PlacementTopic.topic)),
        lookup(Placement.newsletter),
        lookup(Placement.section),
    )


def page_of_items(
    session: Session,
    filters: ItemFilter,
    number: int = 1,
    size: int = 50,
    after: Cursor | None = None,
    before: Cursor | None = None,
    lookups_loaded: bool = False,
) -> Page:
    """One page of the list, and whether another follows: the page just past the row `after`
    ("older"), or just before the row `before` ("newer"); without either, page `number` as
    counted from the top. Nothing is counted: counting a broad filter or a common word means
    visiting every match in a million items, where a page visits only the rows up to its own
    last (one more, to know that others follow). `lookups_loaded`: as for
    `with_placement_details`."""
    number = max(1, number)
    if before is not None:
        rows = _rows(session, filters, 0, size + 1, before, lookups_loaded, backwards=True)
        if len(rows) <= size:  # nothing newer than these: the top of the list
            return page_of_items(session, filters, 1, size, lookups_loaded=lookups_loaded)
        return Page(rows[:size][::-1], None, max(2, number), size, more=True)
    skipped = 0 if after is not None else (number - 1) * size
    rows = _rows(session, filters, skipped, size + 1, after, lookups_loaded)
    more = len(rows) > size
    total = None if after is not None else skipped + min(len(rows), size)
    return Page(rows[:size], total, number, size, more)


def _rows(
    session: Session,
    filters: ItemFilter,
    skipped: int,
    wanted: int,
    start: Cursor | None,
    lookups_loaded: bool,
    backwards: bool = False,
) -> list[Placement]:
    """Up to `wanted` rows of the list after the first `skipped`, from just past `start`
    (just before it, nearest first, when `backwards`), with what a triage row shows."""
    dialect = session.get_bind().dialect.name
    match = search.fts5_listed_query(session, filters.text) if dialect == "sqlite" else None
    chosen = _walk(session, filters, match, skipped + wanted, start, backwards) if match else None
    query = _from(placement_query(filters, dialect, match), start, backwards)
    if chosen is not None:
        ids = chosen[skipped:]
    elif dialect == "postgresql" and filters.section_id is not None:
        # The page's ids first, then its rows: asked for ids alone, PostgreSQL walks a list
        # filtered by section from its index without reading the table (migration 0017),
        # where asked for whole rows it read every row of the section and sorted them.
        # Without workers: misjudging how rare a topic's rows are, the planner gave this walk
        # of fifty-odd rows two parallel workers, whose start took 12 of its 15 ms. A setting
        # of this transaction, given back at once, so that other queries plan as before.
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        ids = list(
            session.scalars(query.with_only_columns(Placement.id).limit(wanted).offset(skipped))
        )
        session.execute(text("SET LOCAL max_parallel_workers_per_gather TO DEFAULT"))
    else:
        details = with_placement_details(query, lookups_loaded)
        return list(session.scalars(details.limit(wanted).offset(skipped)))
    found = session.scalars(
        with_placement_details(select(Placement).where(Placement.id.in_(ids)), lookups_loaded)
    ).all()
    by_id = {placement.id: placement for placement in found}
    return [by_id[placement_id] for placement_id in ids]


def _from(query: Select[Any], start: Cursor | None, backwards: bool) -> Select[Any]:
    if start is None:
        return query
    return paging.before(query, start) if backwards else paging.after(query, start)


# A search on SQLite first walks the list newest first, a chunk at a time, asking the index
# which of each chunk's items match (one range of ids: cheap, where listing every match of a
# common word is not). After this many chunks without filling the page the words are rare,
# and listing their matches is the cheaper way.
WALK_CHUNK = 500
WALK_CHUNKS = 8


def _walk(
    session: Session,
    filters: ItemFilter,
    match: str,
    wanted: int,
    start: Cursor | None = None,
    backwards: bool = False,
) -> list[int] | None:
    """Ids of the first `wanted` placements that `filters` and the FTS5 query `match` find,
    in the list's order from just past `start` (reversed when `backwards`), fewer when the
    list ends; None when the words are too rare for walking."""
    base = placement_query(replace(filters, text="")).with_only_columns(
        Placement.id, Placement.item_id, Placement.published
    )
    chosen: list[int] = []
    last = start
    for _ in range(WALK_CHUNKS):
        rows = session.execute(_from(base, last, backwards).limit(WALK_CHUNK)).all()
        if not rows:
            return chosen
        items = [row.item_id for row in rows]
        found = search.fts5_matches_between(session, match, min(items), max(items))
        chosen += [row.id for row in rows if row.item_id in found]
        if len(chosen) >= wanted or len(rows) < WALK_CHUNK:
            return chosen[:wanted]
        last = Cursor(rows[-1].published, rows[-1].id)
    return None


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
        raise NotFound(f"no item with id {item_id}")
    return item


def get_placement(session: Session, placement_id: int) -> Placement:
    placement = session.get(Placement, placement_id)
    if placement is None:
        raise NotFound(f"no item in a newsletter with id {placement_id}")
    return placement


def placement_of(session: Session, item_id: int, newsletter_slug: str | None = None) -> Placement:
    """The item as `newsletter_slug` has it; the slug may be left out when only one has it."""
    item = get_item(session, item_id)
    if newsletter_slug is None and len(item.placements) == 1:
        return item.placements[0]
    for placement in item.placements:
        if placement.newsletter.slug == newsletter_slug:
            return placement
    offered = ", ".join(p.newsletter.slug for p in item.placements) or "no newsletter"
    if newsletter_slug is None:
        raise NotFound(f"item {item_id} is in {offered}: say which newsletter")
    raise NotFound(f"item {item_id} is not in {newsletter_slug} (it is in {offered})")


def open_duplicates(session: Session, item_ids: list[int]) -> dict[int, list[PossibleDuplicate]]:
    """For each of `item_ids`, the possible duplicates still waiting for a librarian."""
    found: dict[int, list[PossibleDuplicate]] = {}
    if not item_ids:
        return found
    rows = session.scalars(
        select(PossibleDuplicate).where(
            PossibleDuplicate.state == "open",
            PossibleDuplicate.item_id.in_(item_ids) | PossibleDuplicate.other_id.in_(item_ids),
        )
    )
    for row in rows:
        for item_id in (row.item_id, row.other_id):
            if item_id in item_ids:
                found.setdefault(item_id, []).append(row)
    return found


def chosen_topics(placement: Placement) -> list[str]:
    """Slugs of the topics a newsletter has on an item (suggestions not yet confirmed left out)."""
    return sorted(link.topic.slug for link in placement.topic_links if link.source != "suggested")


def export_record(item: Item) -> dict[str, Any]:
    """One item as a JSON-ready object (the `items export` format), with each newsletter's
    decision on it."""
    return {
        "id": item.id,
        "title": item.title,
        "url": item.link,
        "canonical_url": item.canonical_url,
        "doi": item.doi,
        "authors": item.authors,
        "published": item.published.isoformat(),
        "published_estimated": item.published_estimated,
        "first_seen": item.first_seen_at.isoformat(),
        "newsletters": [
            {
                "newsletter": placement.newsletter.slug,
                "status": placement.status.value,
                "section": placement.section.name if placement.section else None,
                "topics": chosen_topics(placement),
            }
            for placement in item.placements
        ],
        "summary_html": item.summary_html,
        "summary_text": item.summary_text,
        "feeds": sorted(source.feed.name for source in item.sources),
        # In the style of the first newsletter that has it, as its item page shows first.
        "citation": cited.text if (cited := _citation(item)) else None,
        "record": effective_record(item.csl, item.csl_corrections),
        "publisher": item.publisher,
        "place": item.place,
        "isbn": item.isbn,
        "pmid": item.pmid,
    }


def _citation(item: Item) -> Rendered | None:
    style = item.placements[0].newsletter.citation_style if item.placements else None
    return item_citation(item, style)
