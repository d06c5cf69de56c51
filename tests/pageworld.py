"""A lived-in site for the page walk: long non-ASCII names and titles, a sent edition with its
deliveries, subscribers, audit entries and a real edition in the demo's outbox."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime, timedelta
from pathlib import Path

from delivery_helpers import add_subscriber, add_subscribers
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from webapp import add_items, entry, placements
from webworld import World, make_world

from digest import audit
from digest.curation.suggest import suggest_new_items
from digest.db import transaction
from digest.editions.message import archive_url, build_message
from digest.editions.render import render_cut
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Feed,
    Subscriber,
    Subscription,
)
from digest.web import context

# Names as people and publishers really write them: long, with dashes, quotes, accents,
# Welsh, CJK and emoji, and one unbroken string (a DOI-like slug) no line break can split.
LONG_FEED = (
    "Nationale Gesellschaft für Kinderschutz — Forschungsberichte, Stellungnahmen und "
    "Leitfäden für die Praxis (Ŵ, é, 児童保護) 📚"
)
LONG_TITLES = [
    "Online grooming on gaming platforms: what practitioners need to know about "
    "sextortion, live streaming and coercion — a rapid evidence review (2026)",
    "Adolygiad o’r dystiolaeth: esgeulustod plant yng Nghymru — canllawiau ymarfer ar "
    "gyfer gweithwyr cymdeithasol a’r gwasanaethau iechyd",
    "子ども虐待防止のための地域連携ガイドライン：児童相談所と学校の協働に関する調査報告書",
    "Neglect in adolescence: a practice briefing for social workers, teachers and police ✨",
    "Supercalifragilisticexpialidocious-child-protection-evaluation-framework-2026-final-v3"
    "-annex-b-methodology",
]
LONG_SUMMARY = (
    "<p>An independent review of what works when teams share information across agencies, "
    "with case studies from Cymru, Deutschland and 日本. Full text: "
    "https://publications.example.org/reports/2026/child-protection/information-sharing/"
    "full-report-with-annexes-and-methodology.pdf</p>"
)
LONG_SUBSCRIBER = "Ŵyn Llŷr ap Gruffydd-Øverås — Chwarae Teg Safeguarding Partnership"


def make_page_world(factory: sessionmaker[Session], tmp_path: Path) -> World:
    """`webworld`'s site, with the extra weight the pages must carry and fit."""
    world = make_world(factory, tmp_path)
    ids = add_items(
        factory,
        [
            entry(title, f"https://example.org/long/{n}", LONG_SUMMARY)
            for n, title in enumerate(LONG_TITLES)
        ],
        feed_name=LONG_FEED,
    )
    with transaction(factory) as session:
        suggest_new_items(session)
        for feed in session.scalars(select(Feed)):
            feed.consecutive_failures = 3
            feed.last_error = "The server refused the connection (127.0.0.1:9): try again later."
        session.scalar(select(Feed).where(Feed.name == LONG_FEED)).url = (
            "https://www.kinderschutz-forschung.example.de/veröffentlichungen/"
            "forschungsberichte-und-stellungnahmen/feed.xml?format=rss&sprache=de"
        )
        _audit_entries(session)
    add_subscribers(factory, 8, prefix="leser")
    # Their page is walked: the long name, and (below) a failed delivery or a bounce.
    world.by_route[("subscribers.show", "subscriber_id")] = add_subscriber(
        factory, "ŵyn.llŷr@bücher.example", LONG_SUBSCRIBER
    )
    sent = world.by_route[("public.archived_edition", "edition_id")]
    _deliveries(factory, sent)
    world.arguments["sent_edition_id"] = sent
    world.arguments["key"] = _edition_in_outbox(world, sent)
    world.arguments["item_id"] = ids[0]
    world.arguments["placement_id"] = placements(factory, ids[:1])[0]
    return world


def _audit_entries(session: Session) -> None:
    """Changes the audit log shows, one with long values before and after."""
    audit.record(
        session,
        actor="admin@staff.example.org",
        action=audit.Action.FEED_EDIT,
        object_type=audit.ObjectType.FEED,
        object_id=1,
        summary=LONG_FEED,
        before={"name": "Kinderschutz", "url": "https://example.de/feed.xml", "topics": []},
        after={"name": LONG_FEED, "topics": ["neglect", "online-grooming", "online-abuse"]},
    )
    audit.record(
        session,
        actor="librarian@staff.example.org",
        action=audit.Action.ITEM_ACCEPTED,
        object_type=audit.ObjectType.ITEM,
        object_id=2,
        summary=LONG_TITLES[2],
        before={"status": "new"},
        after={"status": "accepted"},
    )


def _deliveries(factory: sessionmaker[Session], edition_id: int) -> None:
    """The sent edition's deliveries: most sent, one failed, one bounced (the dashboard and
    the edition's progress show them)."""
    outcomes = [DeliveryStatus.FAILED, DeliveryStatus.BOUNCED]
    with transaction(factory) as session:
        started = datetime(2026, 11, 17, 8, 57, tzinfo=UTC)  # it was sent at 9:00
        for n, subscription in enumerate(session.scalars(select(Subscription))):
            status = outcomes[n] if n < len(outcomes) else DeliveryStatus.SENT
            session.add(
                Delivery(
                    edition_id=edition_id,
                    subscriber_id=subscription.subscriber_id,
                    subscription_id=subscription.id,
                    status=status,
                    attempts=1,
                    finished_at=started + timedelta(seconds=20 * n),
                    last_error="550 5.1.1 mailbox unavailable" if n < 2 else None,
                )
            )
        edition = session.get(Edition, edition_id)
        edition.sending_started_at = started
        edition.subject = f"{edition.subject} — {LONG_TITLES[0]}"


def _edition_in_outbox(world: World, edition_id: int) -> str:
    """The sent edition as one reader got it, in the demo's outbox; returns its key."""
    settings = world.site.app.extensions[context.SETTINGS]
    with world.site.factory() as session:
        edition = session.get(Edition, edition_id)
        reader = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email.startswith("ŵyn"))
        )
        rendered = render_cut(edition, None, archive_url(edition, settings.mail))
        raw = build_message(edition, reader, rendered, settings.mail, settings.link_keys())
    return mailbox.Maildir(world.mail, create=True).add(raw)
