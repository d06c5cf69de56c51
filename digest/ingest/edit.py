"""Changing feeds from the web app, checked by the same rules as the config file.

It lives with ingestion, beside the OPML import, because it changes what polling does (pausing
and resuming go through `health`); the config file's rules come from `config`, below."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from digest import audit
from digest.config.loader import format_field
from digest.config.schema import LOCAL_FILES_ALLOWED, FeedConfig
from digest.config.sync import apply_feed
from digest.errors import Invalid
from digest.ingest import health
from digest.models import Feed, FeedKind, Item, ItemSource, Newsletter, Topic
from digest.models.lookup import find_newsletter
from digest.timeutil import utcnow


class FeedFormError(Invalid):
    """The form has mistakes: `problems` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


def polled_feeds(session: Session) -> list[Feed]:
    """The feeds polled on a schedule (not catalogue imports or hand-added items), by name."""
    query = select(Feed).where(Feed.kind == FeedKind.FEED).order_by(Feed.name)
    return list(session.scalars(query))


def polled_feed(session: Session, feed_id: int) -> Feed | None:
    """A feed polled on a schedule, by id; None for any other id."""
    feed = session.get(Feed, feed_id)
    return feed if feed is not None and feed.kind is FeedKind.FEED else None


def newsletters(session: Session) -> list[Newsletter]:
    """The newsletters a feed can feed, for the forms, by title."""
    return list(session.scalars(select(Newsletter).order_by(Newsletter.title)))


# What each type of source is called on the feed pages.
SOURCE_LABELS = {
    "feed": "Feed",
    "pubmed": "PubMed search",
    "crossref": "Journal (Crossref)",
    "oai-pmh": "Catalogue (OAI-PMH)",
}


def source_type(feed: Feed) -> str:
    """What the feed polls, as feeds.yaml names it ("feed", "pubmed", …)."""
    return feed.source_type or "feed"


def source_values(feed: Feed) -> dict[str, object]:
    """What a source polls (its type, query and options), as its config entry says it."""
    return {
        "type": source_type(feed),
        "query": feed.source_query,
        "options": dict(feed.source_options or {}),
    }


def feed_values(feed: Feed) -> dict[str, object]:
    """A feed's settings in the shape of its config entry (and of the edit form)."""
    return {
        "name": feed.name,
        **source_values(feed),
        "url": feed.url,
        "newsletter": feed.newsletter.slug if feed.newsletter else "",
        "section": feed.section.name if feed.section else "",
        "topics": [t.slug for t in feed.topics],
        "poll_interval": feed.poll_interval_minutes,
        "enabled": feed.enabled,
        "allow_private_network": feed.allow_private_network,
    }


def set_paused(session: Session, feed: Feed, paused: bool, actor: str, reason: str) -> None:
    """Pause a feed (with the reason people will read) or resume it; audited."""
    before = {"paused": feed.paused, "paused_reason": feed.paused_reason}
    if paused:
        health.pause(feed, reason)
    else:
        health.resume(feed, utcnow())
    audit.record(
        session,
        actor=actor,
        action=audit.Action.FEED_PAUSE if paused else audit.Action.FEED_RESUME,
        object_type=audit.ObjectType.FEED,
        object_id=feed.id,
        summary=feed.name,
        before=before,
        after={"paused": feed.paused, "paused_reason": feed.paused_reason},
    )


def _form_problems(exc: ValidationError) -> dict[str, str]:
    """The config file's objections, one per form field (the first for a field)."""
    problems: dict[str, str] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        field = str(loc[0]) if loc else "form"
        message = str(error["msg"]).removeprefix("Value error, ")
        if len(loc) > 1:
            message = f"{format_field(loc)}: {message}"
        problems.setdefault(field, message)
    return problems


def _text(values: Mapping[str, object], field: str) -> str:
    value = values.get(field)
    return value.strip() if isinstance(value, str) else ""


def _database_problems(
    session: Session, values: Mapping[str, object], feed: Feed | None, flagged: Mapping[str, str]
) -> dict[str, str]:
    """What only the database can say is wrong (an unknown newsletter, section or topic, a
    name taken), for the fields the form's own rules let through."""
    problems: dict[str, str] = {}
    slug, section = _text(values, "newsletter"), _text(values, "section")
    newsletter = find_newsletter(session, slug) if slug else None
    if "newsletter" not in flagged and newsletter is None:
        problems["newsletter"] = f"unknown newsletter {slug!r}"
    elif (
        newsletter is not None
        and "section" not in flagged
        and section.casefold() not in {s.name.casefold() for s in newsletter.sections}
    ):
        problems["section"] = f"newsletter {slug!r} has no section {section!r}"
    wanted = values.get("topics")
    slugs = {t for t in wanted if isinstance(t, str)} if isinstance(wanted, list) else set()
    if "topics" not in flagged and slugs:
        known = set(session.scalars(select(Topic.slug).where(Topic.slug.in_(slugs))))
        if missing := slugs - known:
            problems["topics"] = f"unknown topic {', '.join(sorted(missing))}"
    name = _text(values, "name")
    if "name" not in flagged and name:
        clash = session.scalar(select(Feed).where(Feed.name == name))
        if clash is not None and clash is not feed:
            problems["name"] = f"there is already a feed named {name!r}"
    return problems


def save_feed(
    session: Session, values: Mapping[str, object], actor: str, feed: Feed | None = None
) -> Feed:
    """Add a feed, or change `feed`; every mistake is reported at once, by field, and
    nothing is half-saved."""
    problems: dict[str, str] = {}
    spec: FeedConfig | None = None
    if feed is not None and "type" not in values:
        # Values that do not say what is polled change the rest and keep that as it is: a
        # PubMed search saved without its type would otherwise become a feed.
        values = {**source_values(feed), **values}
    try:
        # A local file named by the config file stays as it is when the rest is edited; a
        # form can name no other.
        unchanged = feed is not None and values.get("url") == feed.url
        spec = FeedConfig.model_validate(dict(values), context={LOCAL_FILES_ALLOWED: unchanged})
    except ValidationError as exc:
        problems = _form_problems(exc)
    problems.update(_database_problems(session, values, feed, problems))
    if problems or spec is None:
        raise FeedFormError(problems or {"form": "the form could not be read"})
    newsletter = find_newsletter(session, spec.newsletter)
    assert newsletter is not None
    topics = list(session.scalars(select(Topic).where(Topic.slug.in_(spec.topics))))
    before = feed_values(feed) if feed else None
    if feed is None:
        feed = Feed(name=spec.name, url=spec.url)
        session.add(feed)
    feed.name = spec.name
    apply_feed(feed, spec, newsletter, topics)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=audit.Action.FEED_EDIT if before else audit.Action.FEED_ADD,
        object_type=audit.ObjectType.FEED,
        object_id=feed.id,
        summary=feed.name,
        before=before,
        after=feed_values(feed),
    )
    return feed


def feed_items(session: Session, feed: Feed) -> int:
    """How many items were found in `feed` (an item it shares with other feeds counts)."""
    query = select(func.count(func.distinct(ItemSource.item_id)))
    return session.scalar(query.where(ItemSource.feed_id == feed.id)) or 0


def delete_feed(session: Session, feed: Feed, actor: str) -> int:
    """Delete a feed; it is no longer polled. Its items stay, with their placements, topics
    and editions; only the record that they came through it goes. An item found in no other
    feed keeps the feed's name as its publisher, which editions show as its source. Returns
    how many items the feed had; audited, with the feed's settings."""
    items = feed_items(session, feed)
    from_here = select(ItemSource.item_id).where(ItemSource.feed_id == feed.id)
    elsewhere = select(ItemSource.item_id).where(ItemSource.feed_id != feed.id)
    session.execute(
        update(Item)
        .where(Item.id.in_(from_here), Item.id.not_in(elsewhere), Item.publisher.is_(None))
        .values(publisher=feed.title or feed.name)
    )
    before = {**feed_values(feed), "items": items}
    # Said here, not left to the foreign key's cascade, so that the session forgets them too.
    session.execute(delete(ItemSource).where(ItemSource.feed_id == feed.id))
    audit.record(
        session,
        actor=actor,
        action=audit.Action.FEED_DELETE,
        object_type=audit.ObjectType.FEED,
        object_id=feed.id,
        summary=feed.name,
        before=before,
    )
    session.delete(feed)
    session.flush()
    session.expire_all()
    return items
