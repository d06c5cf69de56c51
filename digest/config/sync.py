"""Loading a validated config into the database: upsert newsletters, topics and feeds."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest.config.schema import WEEKDAYS, DigestConfig, FeedConfig, NewsletterConfig
from digest.models import Feed, Newsletter, Section, Topic


@dataclass
class SyncReport:
    created: dict[str, int] = field(
        default_factory=lambda: {"newsletters": 0, "topics": 0, "feeds": 0}
    )
    updated: dict[str, int] = field(
        default_factory=lambda: {"newsletters": 0, "topics": 0, "feeds": 0}
    )

    def summary(self) -> str:
        return ", ".join(
            f"{kind}: {self.created[kind]} new, {self.updated[kind]} updated"
            for kind in self.created
        )


def sync_config(session: Session, config: DigestConfig) -> SyncReport:
    """Make the database agree with `config`; rows the file does not name are left alone."""
    report = SyncReport()
    newsletters = {n.slug: n for n in session.scalars(select(Newsletter))}
    for spec in config.newsletters:
        newsletter = newsletters.get(spec.slug)
        report_kind = report.updated if newsletter else report.created
        report_kind["newsletters"] += 1
        if newsletter is None:
            newsletter = newsletters[spec.slug] = Newsletter(slug=spec.slug)
            session.add(newsletter)
        _apply_newsletter(newsletter, spec)

    topics = {t.slug: t for t in session.scalars(select(Topic))}
    for spec in config.topics:
        topic = topics.get(spec.slug)
        (report.updated if topic else report.created)["topics"] += 1
        if topic is None:
            topic = topics[spec.slug] = Topic(slug=spec.slug)
            session.add(topic)
        topic.label, topic.description = spec.label, spec.description
        topic.keywords = list(spec.keywords)
        topic.retired = False
    for spec in config.topics:
        topics[spec.slug].parent = topics[spec.parent] if spec.parent else None

    feeds = {f.name: f for f in session.scalars(select(Feed))}
    for spec in config.feeds:
        feed = feeds.get(spec.name)
        (report.updated if feed else report.created)["feeds"] += 1
        if feed is None:
            feed = feeds[spec.name] = Feed(name=spec.name, url=spec.url)
            session.add(feed)
        apply_feed(feed, spec, newsletters[spec.newsletter], [topics[t] for t in spec.topics])
        # Only the file names a publisher: the feed form and OPML leave it as it is.
        feed.publisher = spec.publisher
    session.flush()
    return report


def _apply_newsletter(newsletter: Newsletter, spec: NewsletterConfig) -> None:
    newsletter.title, newsletter.description = spec.title, spec.description
    newsletter.send_weekday = WEEKDAYS.index(spec.schedule.weekday)
    newsletter.send_time = spec.schedule.time
    newsletter.timezone = spec.schedule.timezone
    newsletter.draft_weekday = WEEKDAYS.index(spec.schedule.draft_weekday)
    newsletter.draft_time = spec.schedule.draft_time
    newsletter.transport = spec.transport
    newsletter.from_address, newsletter.reply_to = spec.from_address, spec.reply_to
    newsletter.skip_when_empty = spec.skip_when_empty
    newsletter.note_when_nothing_matches = spec.when_nothing_matches == "note"
    newsletter.second_approver = spec.second_approver
    newsletter.organisation, newsletter.postal_address = spec.organisation, spec.postal_address
    newsletter.colour, newsletter.logo = spec.colour, spec.logo
    newsletter.citation_style = spec.citation_style
    newsletter.citations_in_email = spec.citations_in_email
    existing = {s.name.casefold(): s for s in newsletter.sections}
    ordered = []
    for position, name in enumerate(spec.sections):
        section = existing.pop(name.casefold(), None) or Section(name=name)
        section.name, section.position = name, position
        ordered.append(section)
    # Sections dropped from the file keep their items; they move to the end.
    for offset, section in enumerate(existing.values(), start=len(ordered)):
        section.position = offset
        ordered.append(section)
    newsletter.sections = ordered


def apply_feed(feed: Feed, spec: FeedConfig, newsletter: Newsletter, topics: list[Topic]) -> None:
    """Set a feed's settings from its config entry; a new URL forgets the old cache validators."""
    if feed.url != spec.url:
        feed.url = spec.url
        feed.etag = feed.last_modified = feed.body_hash = None
    feed.newsletter = newsletter
    feed.section = next(
        s for s in newsletter.sections if s.name.casefold() == spec.section.casefold()
    )
    source_type = None if spec.type == "feed" else spec.type
    if (feed.source_type, feed.source_query) != (source_type, spec.query):
        feed.harvested_until = None  # another search or journal: harvest it from the start
    feed.source_type, feed.source_query = source_type, spec.query
    feed.source_options = dict(spec.options) or None
    feed.poll_interval_minutes = spec.poll_interval
    feed.enabled = spec.enabled
    feed.allow_private_network = spec.allow_private_network
    feed.topics = topics
