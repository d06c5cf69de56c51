"""Changing feeds from the web app, checked by the same rules as the config file.

It lives with ingestion, beside the OPML import, because it changes what polling does (pausing
and resuming go through `health`); the config file's rules come from `config`, below."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import audit
from digest.config.loader import format_field
from digest.config.schema import LOCAL_FILES_ALLOWED, FeedConfig
from digest.config.sync import apply_feed
from digest.errors import Invalid
from digest.ingest import health
from digest.models import Feed, Topic
from digest.models.lookup import find_newsletter
from digest.timeutil import utcnow


class FeedFormError(Invalid):
    """The form has mistakes: `problems` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


def feed_values(feed: Feed) -> dict[str, object]:
    """A feed's settings in the shape of its config entry (and of the edit form)."""
    return {
        "name": feed.name,
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


def save_feed(
    session: Session, values: Mapping[str, object], actor: str, feed: Feed | None = None
) -> Feed:
    """Add a feed, or change `feed`; every mistake is reported by field, nothing half-saved."""
    try:
        # A local file named by the config file stays as it is when the rest is edited; a
        # form can name no other.
        unchanged = feed is not None and values.get("url") == feed.url
        spec = FeedConfig.model_validate(dict(values), context={LOCAL_FILES_ALLOWED: unchanged})
    except ValidationError as exc:
        raise FeedFormError(
            {
                format_field(tuple(e["loc"])) or "form": str(e["msg"]).removeprefix("Value error, ")
                for e in exc.errors()
            }
        ) from None
    problems: dict[str, str] = {}
    newsletter = find_newsletter(session, spec.newsletter)
    if newsletter is None:
        problems["newsletter"] = f"unknown newsletter {spec.newsletter!r}"
    elif spec.section.casefold() not in {s.name.casefold() for s in newsletter.sections}:
        problems["section"] = f"newsletter {spec.newsletter!r} has no section {spec.section!r}"
    topics = list(session.scalars(select(Topic).where(Topic.slug.in_(spec.topics))))
    if missing := set(spec.topics) - {t.slug for t in topics}:
        problems["topics"] = f"unknown topic {', '.join(sorted(missing))}"
    clash = session.scalar(select(Feed).where(Feed.name == spec.name))
    if clash is not None and clash is not feed:
        problems["name"] = f"there is already a feed named {spec.name!r}"
    if problems:
        raise FeedFormError(problems)
    assert newsletter is not None
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
