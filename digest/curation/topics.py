"""Looking after the controlled vocabulary: add, rename, merge and retire topics."""

from __future__ import annotations

import re

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from digest import audit
from digest.config.schema import SLUG_PATTERN
from digest.models import FeedTopic, PlacementTopic, Topic


class TopicError(ValueError):
    """A change to the vocabulary that cannot be made; the message says why."""


def all_topics(session: Session) -> list[Topic]:
    return list(session.scalars(select(Topic).order_by(Topic.retired, Topic.label)))


def offered_topics(session: Session) -> list[Topic]:
    """Topics people may choose now (not retired), by label."""
    return list(session.scalars(select(Topic).where(~Topic.retired).order_by(Topic.label)))


def grouped_by_parent(topics: list[Topic]) -> list[tuple[str, list[Topic]]]:
    """Topics under their parent's label (a top-level topic heads its own group)."""
    groups: dict[str, list[Topic]] = {}
    for topic in topics:
        groups.setdefault(topic.parent.label if topic.parent else topic.label, []).append(topic)
    return sorted(groups.items())


def _get(session: Session, topic_id: int) -> Topic:
    topic = session.get(Topic, topic_id)
    if topic is None:
        raise TopicError(f"no topic with id {topic_id}")
    return topic


def add_topic(
    session: Session,
    slug: str,
    label: str,
    actor: str,
    keywords: list[str] | None = None,
    parent_id: int | None = None,
) -> Topic:
    slug, label = slug.strip().lower(), " ".join(label.split())
    if not re.match(SLUG_PATTERN, slug):
        raise TopicError(f"{slug!r} is not a slug (lower-case letters, digits and hyphens)")
    if not label:
        raise TopicError("a topic needs a label")
    if session.scalar(select(Topic).where(Topic.slug == slug)):
        raise TopicError(f"there is already a topic {slug!r}")
    topic = Topic(
        slug=slug,
        label=label,
        keywords=keywords or [],
        parent=_get(session, parent_id) if parent_id else None,
    )
    session.add(topic)
    session.flush()
    audit.record(
        session, actor, "topic.add", "topic", topic.id, label, after={"slug": slug, "label": label}
    )
    return topic


def rename(session: Session, topic_id: int, label: str, actor: str) -> Topic:
    topic = _get(session, topic_id)
    label = " ".join(label.split())
    if not label:
        raise TopicError("a topic needs a label")
    before = topic.label
    topic.label = label
    audit.record(
        session,
        actor,
        "topic.rename",
        "topic",
        topic.id,
        label,
        before={"label": before},
        after={"label": label},
    )
    return topic


def set_retired(session: Session, topic_id: int, retired: bool, actor: str) -> Topic:
    """A retired topic stays on the items that have it but is no longer offered."""
    topic = _get(session, topic_id)
    topic.retired = retired
    audit.record(
        session,
        actor,
        "topic.retire" if retired else "topic.restore",
        "topic",
        topic.id,
        topic.label,
        after={"retired": retired},
    )
    return topic


def merge(session: Session, topic_id: int, into_id: int, actor: str) -> Topic:
    """Move everything tagged `topic_id` to `into_id`, then remove `topic_id`."""
    if topic_id == into_id:
        raise TopicError("a topic cannot be merged into itself")
    gone, survivor = _get(session, topic_id), _get(session, into_id)
    moved = list(
        session.scalars(
            select(PlacementTopic.placement_id).where(PlacementTopic.topic_id == gone.id)
        )
    )
    has_both = select(PlacementTopic.placement_id).where(PlacementTopic.topic_id == survivor.id)
    session.execute(
        delete(PlacementTopic).where(
            PlacementTopic.topic_id == gone.id, PlacementTopic.placement_id.in_(has_both)
        )
    )
    session.execute(
        update(PlacementTopic)
        .where(PlacementTopic.topic_id == gone.id)
        .values(topic_id=survivor.id)
    )
    feeds_with_both = select(FeedTopic.feed_id).where(FeedTopic.topic_id == survivor.id)
    session.execute(
        delete(FeedTopic).where(
            FeedTopic.topic_id == gone.id, FeedTopic.feed_id.in_(feeds_with_both)
        )
    )
    session.execute(
        update(FeedTopic).where(FeedTopic.topic_id == gone.id).values(topic_id=survivor.id)
    )
    session.execute(update(Topic).where(Topic.parent_id == gone.id).values(parent_id=survivor.id))
    audit.record(
        session,
        actor,
        "topic.merge",
        "topic",
        survivor.id,
        f"{gone.label} merged into {survivor.label}",
        before={"slug": gone.slug, "items": len(moved)},
        after={"slug": survivor.slug},
    )
    session.delete(gone)
    session.flush()
    session.expire_all()
    return survivor
