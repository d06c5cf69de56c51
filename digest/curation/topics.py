"""Looking after the controlled vocabulary: add, rename, merge and retire topics; and its
hierarchy, by which a topic stands for itself and every topic below it."""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from digest import audit
from digest.config.schema import SLUG_PATTERN
from digest.errors import Invalid
from digest.models import FeedTopic, Placement, PlacementTopic, SubscriptionTopic, Topic

Key = TypeVar("Key", bound=Hashable)
# What carries a topic: (the link's topic column, its owner column).
_LINKS = (
    (PlacementTopic.topic_id, PlacementTopic.placement_id),
    (FeedTopic.topic_id, FeedTopic.feed_id),
    (SubscriptionTopic.topic_id, SubscriptionTopic.subscription_id),
)


class TopicError(Invalid):
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


def topic_tree(session: Session) -> dict[str, str | None]:
    """Every topic's parent, by slug (None for a top-level topic)."""
    parent = aliased(Topic)
    rows = session.execute(
        select(Topic.slug, parent.slug).outerjoin(parent, Topic.parent_id == parent.id)
    )
    return {slug: parent_slug for slug, parent_slug in rows}


def with_descendants(chosen: Iterable[Key], tree: Mapping[Key, Key | None]) -> frozenset[Key]:
    """`chosen` with every topic below them: children, grandchildren and so on.

    `tree` maps each topic to its parent (slugs or ids alike). Use it wherever the topics
    someone chose are matched against items' topics: choosing "Online abuse" means wanting
    "Online grooming" too. A loop in the parents (the config refuses one, but the database
    does not) ends the walk instead of running for ever.
    """
    children: dict[Key, list[Key]] = {}
    for topic, parent in tree.items():
        if parent is not None:
            children.setdefault(parent, []).append(topic)
    found: set[Key] = set()
    waiting = list(chosen)
    while waiting:
        topic = waiting.pop()
        if topic not in found:
            found.add(topic)
            waiting.extend(children.get(topic, ()))
    return frozenset(found)


def topmost(topics: frozenset[Key], tree: Mapping[Key, Key | None]) -> frozenset[Key]:
    """The topics of a set that are below no other of them: the ones to name for it."""
    named = frozenset(t for t in topics if not _ancestors(t, tree) & topics)
    return named or topics  # (in a loop every one is below another: name them all)


def _ancestors(topic: Key, tree: Mapping[Key, Key | None]) -> set[Key]:
    found: set[Key] = set()
    parent = tree.get(topic)
    while parent is not None and parent not in found:
        found.add(parent)
        parent = tree.get(parent)
    return found


def expand_chosen(session: Session, chosen: Iterable[str]) -> frozenset[str]:
    """The topic slugs `chosen` with every topic below them, from the database's hierarchy."""
    return with_descendants(chosen, topic_tree(session))


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
        session,
        actor=actor,
        action=audit.Action.TOPIC_ADD,
        object_type=audit.ObjectType.TOPIC,
        object_id=topic.id,
        summary=label,
        after={"slug": slug, "label": label},
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
        actor=actor,
        action=audit.Action.TOPIC_RENAME,
        object_type=audit.ObjectType.TOPIC,
        object_id=topic.id,
        summary=label,
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
        actor=actor,
        action=audit.Action.TOPIC_RETIRE if retired else audit.Action.TOPIC_RESTORE,
        object_type=audit.ObjectType.TOPIC,
        object_id=topic.id,
        summary=topic.label,
        after={"retired": retired},
    )
    return topic


@dataclass(frozen=True)
class TopicUse:
    """What carries a topic: what a merge moves, or what keeps a retired topic."""

    items: int  # publications, however many newsletters placed each
    feeds: int  # feeds that give it by default
    subscriptions: int  # subscribers' choices


def topic_use(session: Session, topic_id: int) -> TopicUse:
    items = session.scalar(
        select(func.count(func.distinct(Placement.item_id)))
        .join(PlacementTopic, PlacementTopic.placement_id == Placement.id)
        .where(PlacementTopic.topic_id == topic_id)
    )
    feeds = session.scalar(select(func.count()).where(FeedTopic.topic_id == topic_id))
    subscriptions = session.scalar(
        select(func.count()).where(SubscriptionTopic.topic_id == topic_id)
    )
    return TopicUse(items or 0, feeds or 0, subscriptions or 0)


def get_topic(session: Session, topic_id: int) -> Topic:
    """The topic with this id; TopicError when there is none."""
    return _get(session, topic_id)


def merge(session: Session, topic_id: int, into_id: int, actor: str) -> Topic:
    """Move everything tagged or chosen `topic_id` to `into_id`, then remove `topic_id`:
    items, feeds' default topics and subscribers' choices, each kept once."""
    if topic_id == into_id:
        raise TopicError("a topic cannot be merged into itself")
    gone, survivor = _get(session, topic_id), _get(session, into_id)
    moved = list(
        session.scalars(
            select(PlacementTopic.placement_id).where(PlacementTopic.topic_id == gone.id)
        )
    )
    subscriptions = list(
        session.scalars(
            select(SubscriptionTopic.subscription_id).where(SubscriptionTopic.topic_id == gone.id)
        )
    )
    for topic_column, owner in _LINKS:
        _move_links(session, topic_column, owner, gone.id, survivor.id)
    if survivor.parent_id == gone.id:  # merged into its own child: the child takes its place
        survivor.parent_id = gone.parent_id
    session.execute(
        update(Topic)
        .where(Topic.parent_id == gone.id, Topic.id != survivor.id)
        .values(parent_id=survivor.id)
    )
    audit.record(
        session,
        actor=actor,
        action=audit.Action.TOPIC_MERGE,
        object_type=audit.ObjectType.TOPIC,
        object_id=survivor.id,
        summary=f"{gone.label} merged into {survivor.label}",
        before={"slug": gone.slug, "items": len(moved), "subscriptions": len(subscriptions)},
        after={"slug": survivor.slug},
    )
    session.delete(gone)
    session.flush()
    session.expire_all()
    return survivor


def _move_links(
    session: Session,
    topic: InstrumentedAttribute[int],
    owner: InstrumentedAttribute[int],
    gone: int,
    survivor: int,
) -> None:
    """Re-point links from topic `gone` to `survivor`; an owner (item, feed or subscription)
    that already has `survivor` keeps its one link."""
    table = topic.class_
    has_both = select(owner).where(topic == survivor)
    session.execute(delete(table).where(topic == gone, owner.in_(has_both)))
    session.execute(update(table).where(topic == gone).values({topic: survivor}))
