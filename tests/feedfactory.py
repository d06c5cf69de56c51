"""Building feed documents and feeds for tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from digest.config import FeedConfig
from digest.config.sync import apply_feed
from digest.db import transaction
from digest.models import Feed, Newsletter, Topic


@dataclass
class Entry:
    title: str
    link: str | None = None
    guid: str | None = None
    summary: str = ""
    published: datetime | None = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    author: str | None = None


def rss(
    entries: list[Entry],
    title: str = "Test feed",
    link: str = "https://example.org/",
    encoding: str = "utf-8",
) -> bytes:
    """An RSS 2.0 document; summaries are HTML, escaped as RSS requires."""
    items = []
    for e in entries:
        parts = [f"<title>{escape(e.title)}</title>"]
        if e.link:
            parts.append(f"<link>{escape(e.link)}</link>")
        if e.guid:
            parts.append(f'<guid isPermaLink="false">{escape(e.guid)}</guid>')
        if e.summary:
            parts.append(f"<description>{escape(e.summary)}</description>")
        if e.published:
            parts.append(f"<pubDate>{format_datetime(e.published)}</pubDate>")
        if e.author:
            parts.append(f"<dc:creator>{escape(e.author)}</dc:creator>")
        items.append("<item>" + "".join(parts) + "</item>")
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        "<description>Test</description>" + "".join(items) + "</channel></rss>"
    ).encode(encoding)


def sample_entries(prefix: str = "item", count: int = 3) -> list[Entry]:
    return [
        Entry(
            title=f"Report {prefix} {n}: safeguarding children online",
            link=f"https://example.org/{prefix}/{n}",
            guid=f"{prefix}-{n}",
            summary=f"<p>Summary of report {n}.</p>",
        )
        for n in range(1, count + 1)
    ]


def add_feed(
    factory: sessionmaker[Session],
    name: str,
    url: str,
    topics: list[str] = (),
    allow_private_network: bool = True,
    section: str = "News",
    newsletter: str = "caspar",
) -> int:
    """Create a feed the way the config does; returns its id."""
    spec = FeedConfig(
        name=name,
        url=url,
        newsletter=newsletter,
        section=section,
        topics=list(topics),
        allow_private_network=allow_private_network,
    )
    with transaction(factory) as session:
        feed = Feed(name=name, url=url)
        session.add(feed)
        newsletter_row = session.scalar(select(Newsletter).where(Newsletter.slug == newsletter))
        topic_rows = list(session.scalars(select(Topic).where(Topic.slug.in_(spec.topics))))
        apply_feed(feed, spec, newsletter_row, topic_rows)
        session.flush()
        return feed.id


def get_feed(factory: sessionmaker[Session], feed_id: int) -> Feed:
    with factory() as session:
        return session.get_one(Feed, feed_id)


def json_feed(
    entries: list[Entry],
    version: str = "1.1",
    title: str = "Test feed",
    home_page_url: str = "https://example.org/",
) -> bytes:
    """A JSON Feed document (https://jsonfeed.org/version/1 or /1.1); summaries go in
    `content_html`, authors in `author` (1.0) or `authors` (1.1)."""
    items = []
    for e in entries:
        item: dict[str, Any] = {"id": e.guid or e.link, "title": e.title}
        if e.link:
            item["url"] = e.link
        if e.summary:
            item["content_html"] = e.summary
        if e.published:
            item["date_published"] = e.published.isoformat()
        if e.author and version == "1":
            item["author"] = {"name": e.author}
        elif e.author:
            item["authors"] = [{"name": e.author}]
        items.append(item)
    document = {
        "version": f"https://jsonfeed.org/version/{version}",
        "title": title,
        "home_page_url": home_page_url,
        "items": items,
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode()
