"""The public archive: sent editions in full, searchable, and as Atom feeds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.feed import FeedGenerator
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from digest.editions.render import entries, grouped
from digest.models import Edition, EditionItem, EditionState, Newsletter, Topic


@dataclass(frozen=True)
class ArchivedEdition:
    edition: Edition
    sections: list[tuple[str, list[tuple[str, list[dict[str, Any]]]]]]
    items: list[dict[str, Any]]


def sent_editions(session: Session, newsletter: Newsletter, words: str = "") -> list[Edition]:
    """Sent editions, newest first; with `words`, those whose subject or items mention all."""
    found = session.scalars(
        select(Edition)
        .where(Edition.newsletter_id == newsletter.id, Edition.state == EditionState.SENT)
        .order_by(Edition.period_start.desc())
        .options(selectinload(Edition.entries).selectinload(EditionItem.item))
    ).all()
    wanted = [w.casefold() for w in words.split() if w.strip()]
    if not wanted:
        return list(found)

    def text_of(edition: Edition) -> str:
        parts = [edition.subject, edition.intro]
        for item in entries(edition):
            parts += [item["title"], item["summary_text"]]
        return " ".join(parts).casefold()

    return [e for e in found if all(w in text_of(e) for w in wanted)]


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
    """Atom: the items of sent editions that carry `topic`, newest first."""
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
    chosen = [
        (row, row.frozen)
        for row in rows
        if row.frozen and topic.slug in row.frozen.get("topics", [])
    ][:100]
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
        entry.link(href=item["link"] or f"{base_url}/archive")
        entry.updated(datetime.fromisoformat(item["published"]))
        entry.summary(item["summary_text"])
    return feed.atom_str(pretty=True)
