"""What staff see of subscribers: a searchable list, counts, and growth week by week."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session, selectinload

from digest.curation.topics import topic_tree, topmost, with_descendants
from digest.models import (
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionTopic,
    Topic,
)

PAGE_SIZE = 50


@dataclass(frozen=True)
class Counts:
    per_newsletter: list[tuple[str, int]]  # active subscriptions
    per_topic: list[tuple[str, int]]  # active subscriptions choosing the topic
    everything: int  # active subscriptions with no topic chosen (they get all)


def matching(words: str) -> ColumnElement[bool] | None:
    """Subscribers whose address or name holds `words` (None: every one). Escaped: "%" and
    "_" typed in the box are looked for, not wildcards. SQLite's lower() folds only ASCII
    letters, so the words as typed are looked for too: "Ødegård" finds Zoë Ødegård there."""
    typed = words.strip()
    if not typed:
        return None
    return or_(
        *(
            found
            for column in (Subscriber.email, Subscriber.name)
            for found in (
                func.lower(column).contains(typed.lower(), autoescape=True),
                column.contains(typed, autoescape=True),
            )
        )
    )


def find_subscribers(
    session: Session,
    words: str = "",
    page: int = 1,
) -> tuple[list[Subscriber], int]:
    query = select(Subscriber)
    if (wanted := matching(words)) is not None:
        query = query.where(wanted)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Subscriber.email)
        .limit(PAGE_SIZE)
        .offset((max(1, page) - 1) * PAGE_SIZE)
        .options(selectinload(Subscriber.subscriptions).selectinload(Subscription.newsletter))
    ).all()
    return list(rows), total


def counts(session: Session) -> Counts:
    active = Subscription.status == SubscriberStatus.ACTIVE
    per_newsletter = session.execute(
        select(Newsletter.title, func.count(Subscription.id))
        .join(Subscription, (Subscription.newsletter_id == Newsletter.id) & active, isouter=True)
        .group_by(Newsletter.title)
        .order_by(Newsletter.title)
    ).all()
    per_topic = session.execute(
        select(Topic.label, func.count(SubscriptionTopic.subscription_id))
        .join(SubscriptionTopic)
        .join(Subscription)
        .where(active)
        .group_by(Topic.label)
        .order_by(func.count(SubscriptionTopic.subscription_id).desc(), Topic.label)
    ).all()
    everything = (
        session.scalar(
            select(func.count())
            .select_from(Subscription)
            .where(active, ~Subscription.id.in_(select(SubscriptionTopic.subscription_id)))
        )
        or 0
    )
    return Counts([tuple(r) for r in per_newsletter], [tuple(r) for r in per_topic], everything)


def growth(session: Session, now: datetime, weeks: int = 26) -> list[tuple[datetime, int]]:
    """Active subscriptions at the end of each of the last `weeks` weeks (by confirmation)."""
    confirmed = sorted(
        session.scalars(
            select(func.coalesce(Subscription.confirmed_at, Subscription.created_at)).where(
                Subscription.status == SubscriberStatus.ACTIVE
            )
        )
    )
    points = []
    for back in range(weeks - 1, -1, -1):
        end = now - timedelta(weeks=back)
        points.append((end, sum(1 for at in confirmed if _aware(at) <= end)))
    return points


@dataclass(frozen=True)
class Cut:
    """Receiving subscribers who get the same items: what they chose, and how many they are."""

    chosen: frozenset[str]  # the topics named (none: everything), without those below them
    topics: frozenset[str]  # the chosen topics with every topic below them: what is matched
    subscribers: int


def receiving(session: Session, newsletter_id: int) -> int:
    """How many subscribers would get the newsletter if it went out now: active, not paused."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Subscription)
            .where(
                Subscription.newsletter_id == newsletter_id,
                Subscription.status == SubscriberStatus.ACTIVE,
                ~Subscription.paused,
            )
        )
        or 0
    )


def topic_cuts(session: Session, newsletter_id: int) -> list[Cut]:
    """The distinct cuts of a newsletter's receiving subscribers, most common first. Choosing a
    topic brings the topics below it, so choosing a parent with its child is one cut with
    choosing the parent alone."""
    receiving = session.scalars(
        select(Subscription)
        .where(
            Subscription.newsletter_id == newsletter_id,
            Subscription.status == SubscriberStatus.ACTIVE,
            ~Subscription.paused,
        )
        .options(selectinload(Subscription.topics))
    ).all()
    tree = topic_tree(session)
    counts = Counter(
        with_descendants((t.slug for t in s.topics), tree) for s in receiving
    ).most_common()
    return [Cut(topmost(topics, tree), topics, count) for topics, count in counts]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def newsletters(session: Session) -> list[Newsletter]:
    """Every newsletter, by title: what staff choose from."""
    return list(session.scalars(select(Newsletter).order_by(Newsletter.title)))
