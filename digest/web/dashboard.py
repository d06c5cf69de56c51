"""The dashboard: what is waiting, what is accepted, what needs attention.

Its figures come from every stage (triage, editions' send times, feed health, deliveries), so
they are gathered here, above the stages, rather than in any one of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Blueprint, g, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.delivery import queue
from digest.editions.compose import period_start
from digest.editions.schedule import next_send_time
from digest.ingest.health import needs_attention
from digest.models import (
    Edition,
    EditionState,
    Feed,
    FeedKind,
    Item,
    ItemStatus,
    Newsletter,
    Placement,
    Role,
)
from digest.timeutil import utcnow
from digest.web.security import requires

blueprint = Blueprint("dashboard", __name__)


@blueprint.get("/")
@requires(Role.LIBRARIAN)
def home() -> str:
    return render_template("dashboard.html", overview=overview(g.db, utcnow()))


@dataclass(frozen=True)
class NewsletterWeek:
    newsletter: Newsletter
    accepted_this_week: int
    next_out: datetime  # when the next edition goes out: approved for, or the next free slot
    sent: Edition | None = None  # this week's edition, once it is sending or sent


def this_week(
    newsletter: Newsletter, edition: Edition | None, now: datetime
) -> tuple[datetime, Edition | None]:
    """(When the next edition goes out, this week's edition if it is sending or sent). Sent
    early ("send now"), this week's slot is taken: the next edition is the following week's."""
    slot = next_send_time(newsletter.send_weekday, newsletter.send_time, newsletter.timezone, now)
    if edition is None:
        return slot, None
    if edition.state in (EditionState.SENDING, EditionState.SENT):
        following = next_send_time(
            newsletter.send_weekday, newsletter.send_time, newsletter.timezone, slot
        )
        return following, edition
    if edition.state is EditionState.APPROVED and edition.send_at:
        return edition.send_at, None
    return slot, None


@dataclass(frozen=True)
class Overview:
    waiting: int
    newsletters: list[NewsletterWeek]
    feeds_needing_attention: list[Feed]
    delivery_problems: list[tuple[Edition, int, int]]  # edition, failed, bounced


def overview(session: Session, now: datetime) -> Overview:
    week_start = now - timedelta(days=7)
    waiting = (
        session.scalar(
            select(func.count())
            .select_from(Placement)
            .join(Placement.item)
            .where(Placement.status == ItemStatus.NEW, Item.merged_into_id.is_(None))
        )
        or 0
    )
    accepted = dict(
        session.execute(
            select(Placement.newsletter_id, func.count())
            .where(Placement.status == ItemStatus.ACCEPTED, Placement.first_seen_at >= week_start)
            .group_by(Placement.newsletter_id)
        ).all()
    )
    weeks = [
        NewsletterWeek(
            n, accepted.get(n.id, 0), *this_week(n, _edition_of_week(session, n, now), now)
        )
        for n in session.scalars(select(Newsletter).order_by(Newsletter.title))
    ]
    feeds = [
        f
        for f in session.scalars(select(Feed).where(Feed.kind == FeedKind.FEED).order_by(Feed.name))
        if needs_attention(f)
    ]
    return Overview(waiting, weeks, feeds, queue.problems(session))


def _edition_of_week(session: Session, newsletter: Newsletter, now: datetime) -> Edition | None:
    """The edition for the week in which the newsletter next goes out, if there is one."""
    return session.scalar(
        select(Edition).where(
            Edition.newsletter_id == newsletter.id,
            Edition.period_start == period_start(newsletter, now),
        )
    )
