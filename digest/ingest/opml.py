"""OPML: importing a feed reader's subscription list, and exporting ours for one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

import listparser
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.config.schema import FeedConfig
from digest.config.sync import apply_feed
from digest.errors import Invalid, NotFound
from digest.models import Feed, FeedKind, Topic
from digest.models.lookup import newsletter_by_slug
from digest.timeutil import utcnow


@dataclass
class OpmlImport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # each with the reason


class OpmlError(Invalid):
    pass


def _topic_for(category: str, topics: dict[str, Topic]) -> Topic | None:
    key = category.strip().casefold()
    return next((t for t in topics.values() if key in (t.slug, t.label.casefold())), None)


def _reasons(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: "
        + str(error["msg"]).removeprefix("Value error, ")
        for error in exc.errors()
    )


def import_opml(
    session: Session,
    data: bytes,
    newsletter_slug: str,
    section: str,
    default_topics: Sequence[str] = (),
) -> OpmlImport:
    """Add the OPML's feeds to a newsletter section; categories naming a topic become topics."""
    parsed = listparser.parse(data)
    if parsed.bozo and not parsed.feeds:
        raise OpmlError(f"not a readable OPML file: {parsed.bozo_exception}")
    try:
        newsletter = newsletter_by_slug(session, newsletter_slug)
    except NotFound as exc:
        raise OpmlError(str(exc)) from None
    section_name = next(
        (s.name for s in newsletter.sections if s.name.casefold() == section.casefold()), None
    )
    if section_name is None:
        raise OpmlError(
            f"newsletter {newsletter_slug!r} has no section {section!r} (it has: "
            f"{', '.join(s.name for s in newsletter.sections)})"
        )
    topics = {t.slug: t for t in session.scalars(select(Topic))}
    unknown = [t for t in default_topics if t not in topics]
    if unknown:
        raise OpmlError(f"unknown topic {', '.join(unknown)}")
    existing = {f.name: f for f in session.scalars(select(Feed))}
    by_url = {f.url: f for f in existing.values()}
    report = OpmlImport()
    for outline in parsed.feeds:
        name = " ".join((outline.title or outline.url).split())[:200]
        try:
            spec = FeedConfig(
                name=name,
                url=outline.url,
                newsletter=newsletter_slug,
                section=section_name,
                topics=list(default_topics),
            )
        except ValidationError as exc:
            report.skipped.append(f"{name}: {_reasons(exc)}")
            continue
        feed = by_url.get(spec.url) or existing.get(spec.name)
        feed_topics = [topics[t] for t in default_topics]
        for category in outline.categories:
            topic = _topic_for(category[-1], topics) if category else None
            if topic is not None and topic not in feed_topics:
                feed_topics.append(topic)
        if feed is None:
            feed = Feed(name=spec.name, url=spec.url)
            session.add(feed)
            existing[spec.name] = by_url[spec.url] = feed
            report.added.append(spec.name)
        else:
            report.updated.append(feed.name)
        apply_feed(feed, spec, newsletter, feed_topics)
    session.flush()
    return report


def export_opml(session: Session, title: str = "Digest feeds") -> bytes:
    """Every polled feed as OPML 2.0, topics as categories, grouped by newsletter. Sources
    that are not feeds (PubMed searches, Crossref journals, OAI-PMH catalogues) are left out:
    a feed reader given their address would find no feed there."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = utcnow().strftime("%a, %d %b %Y %H:%M:%S GMT")
    body = ET.SubElement(root, "body")
    groups: dict[str, ET.Element] = {}
    feeds = session.scalars(
        select(Feed)
        .where(Feed.kind == FeedKind.FEED, Feed.source_type.is_(None))
        .order_by(Feed.name)
    )
    for feed in feeds:
        group_name = feed.newsletter.title if feed.newsletter else "Other"
        if group_name not in groups:
            groups[group_name] = ET.SubElement(body, "outline", text=group_name)
        attributes = {"type": "rss", "text": feed.name, "title": feed.name, "xmlUrl": feed.url}
        if feed.site_url:
            attributes["htmlUrl"] = feed.site_url
        if feed.topics:
            attributes["category"] = ",".join(t.slug for t in feed.topics)
        ET.SubElement(groups[group_name], "outline", attributes)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
