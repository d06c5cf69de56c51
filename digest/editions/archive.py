"""The public archive: sent editions in full, searchable, and as Atom feeds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.feed import FeedGenerator
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from digest.curation.topics import expand_chosen
from digest.editions.archive_index import topic_marker
from digest.editions.render import cut, entries, grouped
from digest.errors import NotFound
from digest.ingest.urls import reader_link
from digest.models import Edition, EditionItem, EditionState, Newsletter, Topic

FEED_EDITIONS = 50  # entries in a newsletter's Atom feed of editions
FEED_ITEMS = 100  # entries in a topic's Atom feed
# Editions on a page of the archive's search: a topic brings a few of each edition's items,
# and five years of a topic's items on one page were a thousand to read and send.
ARCHIVE_PAGE = 20


@dataclass(frozen=True)
class ArchivedEdition:
    edition: Edition
    sections: list[tuple[str, list[tuple[str, list[dict[str, Any]]]]]]
    items: list[dict[str, Any]]


def _sent(newsletter: Newsletter) -> Select[tuple[Edition]]:
    return (
        select(Edition)
        .where(Edition.newsletter_id == newsletter.id, Edition.state == EditionState.SENT)
        .order_by(Edition.period_start.desc())
    )


def _holds(dialect: str, column: Any, part: str) -> ColumnElement[bool]:
    """`part` is inside `column`, in exactly that case. instr (SQLite) and strpos
    (PostgreSQL) compare bytes; LIKE would need its wildcards escaped, and SQLite's is several
    times slower with an ESCAPE clause."""
    find = func.strpos if dialect == "postgresql" else func.instr
    return find(column, part) > 0


def _about(dialect: str, topics: frozenset[str]) -> ColumnElement[bool]:
    """Entries carrying one of `topics`."""
    return or_(*(_holds(dialect, EditionItem.topics, topic_marker(s)) for s in sorted(topics)))


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def sent_editions(
    session: Session, newsletter: Newsletter, words: str = "", topics: frozenset[str] = frozenset()
) -> Select[tuple[Edition]]:
    """Sent editions, newest first; with `words`, those whose subject, introduction or items
    mention every one (as part of a word, whatever the case); with `topics` (a topic with
    those below it), those with an item carrying one of them.

    Both are looked for in what was kept when the edition was approved (`archive_index`), so
    a search reads a few kilobytes an edition, not every item the archive holds."""
    query = _sent(newsletter)
    for word in sorted({w.casefold() for w in words.split()}):
        query = query.where(_holds(_dialect(session), Edition.search_words, word))
    if topics:  # one value an edition, not each of its items (PostgreSQL: 60 ms a search)
        markers = [topic_marker(slug) for slug in sorted(topics)]
        query = query.where(
            or_(*(_holds(_dialect(session), Edition.search_topics, m) for m in markers))
        )
    return query


@dataclass(frozen=True)
class Found:
    """A sent edition that matched a search, with its items about the topic searched for."""

    edition: Edition
    items: list[dict[str, Any]]  # empty when no topic was asked for
    size: int  # how many items the edition holds


def _sizes(session: Session, ids: list[int]) -> dict[int, int]:
    return dict(
        session.execute(
            select(EditionItem.edition_id, func.count())
            .where(EditionItem.edition_id.in_(ids))
            .group_by(EditionItem.edition_id)
        ).all()
    )


def _items_about(
    session: Session, ids: list[int], topics: frozenset[str]
) -> dict[int, list[dict[str, Any]]]:
    """For each edition of `ids`, its items carrying one of `topics`, in the editor's order,
    as subscribers read them (`render.entries`: a link readers may not follow left out)."""
    found: dict[int, list[dict[str, Any]]] = {}
    rows = session.execute(
        select(EditionItem.edition_id, EditionItem.frozen)
        .where(EditionItem.edition_id.in_(ids), _about(_dialect(session), topics))
        .order_by(EditionItem.edition_id, EditionItem.position)
    )
    for edition_id, frozen in rows:
        found.setdefault(edition_id, []).append({**frozen, "link": reader_link(frozen.get("link"))})
    return {edition_id: cut(items, topics) for edition_id, items in found.items()}


@dataclass(frozen=True)
class Results:
    """One page of the archive's search."""

    found: list[Found]
    total: int  # editions that match, on every page
    number: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def more(self) -> bool:
        return self.number < self.pages


def search(
    session: Session,
    newsletter: Newsletter,
    words: str = "",
    topic: str | None = None,
    number: int = 1,
    size: int | None = None,
) -> Results:
    """Page `number` of the archive's search: by words, and by a topic, which brings the
    topics below it. LookupError when `topic` names no topic."""
    topics: frozenset[str] = frozenset()
    if topic:
        if session.scalar(select(Topic.id).where(Topic.slug == topic)) is None:
            raise NotFound(f"no topic {topic!r}")
        topics = expand_chosen(session, [topic])
    # A newsletter sends one edition a week, so every match is a few hundred ids at most:
    # they are counted exactly, and only one page of editions and their items is read.
    matching = sent_editions(session, newsletter, words, topics)
    ids = list(session.scalars(matching.with_only_columns(Edition.id)))
    number, size = max(1, number), size or ARCHIVE_PAGE
    shown = ids[(number - 1) * size : number * size]
    editions = {e.id: e for e in session.scalars(select(Edition).where(Edition.id.in_(shown)))}
    sizes = _sizes(session, shown)
    items = _items_about(session, shown, topics) if topics else {}
    found = [Found(editions[i], items.get(i, []), sizes.get(i, 0)) for i in shown]
    return Results(found, len(ids), number, size)


def archived(session: Session, newsletter: Newsletter, edition_id: int) -> ArchivedEdition:
    edition = session.get(Edition, edition_id)
    if (
        edition is None
        or edition.newsletter_id != newsletter.id
        or edition.state is not EditionState.SENT
    ):
        raise NotFound("no such edition in the archive")
    items = entries(edition)
    return ArchivedEdition(edition, grouped(items), items)


def _feed(title: str, link: str, feed_url: str, subtitle: str) -> FeedGenerator:
    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title(title)
    feed.subtitle(subtitle)
    feed.link(href=link, rel="alternate")
    feed.link(href=feed_url, rel="self")
    feed.language("en")
    return feed


def editions_feed(session: Session, newsletter: Newsletter, base_url: str) -> bytes:
    """Atom: one entry per sent edition."""
    page = f"{base_url}/archive/{newsletter.slug}"
    feed = _feed(
        newsletter.title, page, f"{page}/feed.atom", newsletter.description or newsletter.title
    )
    editions = list(session.scalars(_sent(newsletter).limit(FEED_EDITIONS)))
    sizes = _sizes(session, [edition.id for edition in editions])
    feed.updated(
        editions[0].send_at
        if editions and editions[0].send_at
        else datetime(2000, 1, 1).astimezone()
    )
    for edition in reversed(editions):
        entry = feed.add_entry()
        url = f"{page}/{edition.id}"
        entry.id(url)
        entry.title(edition.subject)
        entry.link(href=url)
        entry.updated(edition.send_at or edition.created_at)
        entry.summary(f"{sizes.get(edition.id, 0)} items. {edition.intro}".strip())
    return feed.atom_str(pretty=True)


def topic_feed(session: Session, topic: Topic, base_url: str) -> bytes:
    """Atom: the items of sent editions that carry `topic` or a topic below it, newest first."""
    feed = _feed(
        f"Digest: {topic.label}",
        f"{base_url}/archive",
        f"{base_url}/topics/{topic.slug}/feed.atom",
        topic.description or f"Items about {topic.label.lower()}",
    )
    about = expand_chosen(session, [topic.slug])  # a topic's feed carries those below it too
    rows = session.scalars(
        select(EditionItem)
        .join(Edition)
        .where(Edition.state == EditionState.SENT, _about(_dialect(session), about))
        .order_by(Edition.send_at.desc())
        .limit(FEED_ITEMS)
        .options(selectinload(EditionItem.edition).selectinload(Edition.newsletter))
    ).all()
    chosen = [(row, row.frozen) for row in rows if row.frozen and cut([row.frozen], about)]
    feed.updated(
        chosen[0][0].edition.send_at
        if chosen and chosen[0][0].edition.send_at
        else datetime(2000, 1, 1).astimezone()
    )
    for row, item in reversed(chosen):
        entry = feed.add_entry()
        entry.id(
            f"{base_url}/archive/{row.edition.newsletter.slug}/{row.edition_id}#item-{row.item_id}"
        )
        entry.title(item["title"])
        entry.link(href=reader_link(item.get("link")) or f"{base_url}/archive")
        entry.updated(datetime.fromisoformat(item["published"]))
        entry.summary(item["summary_text"])
    return feed.atom_str(pretty=True)
