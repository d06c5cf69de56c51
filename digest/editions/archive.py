"""The public archive: sent editions in full, searchable, and as Atom feeds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.feed import FeedGenerator
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from digest.curation.topics import expand_chosen
from digest.editions.render import cut, entries, grouped
from digest.ingest.urls import reader_link
from digest.models import Edition, EditionItem, EditionState, Newsletter, Topic


@dataclass(frozen=True)
class ArchivedEdition:
    edition: Edition
    sections: list[tuple[str, list[tuple[str, list[dict[str, Any]]]]]]
    items: list[dict[str, Any]]


def sent_editions(
    session: Session, newsletter: Newsletter, words: str = "", topics: frozenset[str] = frozenset()
) -> list[Edition]:
    """Sent editions, newest first; with `words`, those whose subject or items mention all;
    with `topics` (a topic with those below it), those with an item carrying one of them."""
    found = session.scalars(
        select(Edition)
        .where(Edition.newsletter_id == newsletter.id, Edition.state == EditionState.SENT)
        .order_by(Edition.period_start.desc())
        .options(selectinload(Edition.entries).selectinload(EditionItem.item))
    ).all()
    if topics:
        found = [e for e in found if cut(entries(e), topics)]
    wanted = [w.casefold() for w in words.split() if w.strip()]
    if not wanted:
        return list(found)

    def text_of(edition: Edition) -> str:
        parts = [edition.subject, edition.intro]
        for item in entries(edition):
            parts += [item["title"], item["summary_text"]]
        return " ".join(parts).casefold()

    return [e for e in found if all(w in text_of(e) for w in wanted)]


@dataclass(frozen=True)
class Found:
    """A sent edition that matched a search, with its items about the topic searched for."""

    edition: Edition
    items: list[dict[str, Any]]  # empty when no topic was asked for


def search(
    session: Session, newsletter: Newsletter, words: str = "", topic: str | None = None
) -> list[Found]:
    """The archive's search: by words, and by a topic, which brings the topics below it.
    LookupError when `topic` names no topic."""
    topics: frozenset[str] = frozenset()
    if topic:
        if session.scalar(select(Topic.id).where(Topic.slug == topic)) is None:
            raise LookupError(f"no topic {topic!r}")
        topics = expand_chosen(session, [topic])
    return [
        Found(edition, cut(entries(edition), topics) if topics else [])
        for edition in sent_editions(session, newsletter, words, topics)
    ]


def archived(session: Session, newsletter: Newsletter, edition_id: int) -> ArchivedEdition:
    edition = session.get(Edition, edition_id)
    if (
        edition is None
        or edition.newsletter_id != newsletter.id
        or edition.state is not EditionState.SENT
    ):
        raise LookupError("no such edition in the archive")
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
    editions = sent_editions(session, newsletter)
    feed.updated(
        editions[0].send_at
        if editions and editions[0].send_at
        else datetime(2000, 1, 1).astimezone()
    )
    for edition in reversed(editions[:50]):
        entry = feed.add_entry()
        url = f"{page}/{edition.id}"
        entry.id(url)
        entry.title(edition.subject)
        entry.link(href=url)
        entry.updated(edition.send_at or edition.created_at)
        entry.summary(f"{len(edition.entries)} items. {edition.intro}".strip())
    return feed.atom_str(pretty=True)


def topic_feed(session: Session, topic: Topic, base_url: str) -> bytes:
    """Atom: the items of sent editions that carry `topic` or a topic below it, newest first."""
    feed = _feed(
        f"Digest: {topic.label}",
        f"{base_url}/archive",
        f"{base_url}/topics/{topic.slug}/feed.atom",
        topic.description or f"Items about {topic.label.lower()}",
    )
    rows = session.scalars(
        select(EditionItem)
        .join(Edition)
        .where(Edition.state == EditionState.SENT)
        .order_by(Edition.send_at.desc())
    ).all()
    about = expand_chosen(session, [topic.slug])  # a topic's feed carries those below it too
    chosen = [(row, row.frozen) for row in rows if row.frozen and cut([row.frozen], about)][:100]
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
