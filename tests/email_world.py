"""An edition made the way a week's feeds make one: real-shaped entries (long WordPress
paragraphs, ScienceDirect details, tracking links, non-ASCII) parsed, stored, triaged, composed
and approved; and one subscriber's copy of it, as sent."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default

from feedfactory import Entry, rss
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from digest.config.schema import FeedConfig
from digest.config.sync import apply_feed
from digest.curation import decisions
from digest.db import transaction
from digest.editions import compose
from digest.editions.message import MailSettings, archive_url, build_message
from digest.editions.render import render_cut
from digest.ingest.parse import parse_feed
from digest.ingest.store import feed_entries, store_entries
from digest.models import (
    Edition,
    Feed,
    ItemStatus,
    Newsletter,
    Placement,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIRMED = datetime(2025, 3, 7, 10, 30, tzinfo=UTC)
SETTINGS = MailSettings("https://news.example.org")
KEYS = ["email-key"]
ADDRESS = "siân.o'brien+caspar@example.org"
PUBLISHER = "Community Care"
LONG_PARAGRAPH = (
    "Councils in England received a record number of referrals last year, e.g. from schools "
    "and health visitors, according to figures published on Tuesday. Dr. Amira Hassan, who "
    "led the analysis, said the rise of 3.5% was driven by concerns about neglect. "
    "Practitioners told Community Care that caseloads were now unmanageable in many areas, "
    "and that early help services had been cut back since 2015. The Department for Education "
    "said it would respond to the findings in the new year, and that reforms to children’s "
    "social care were already under way in the pathfinder areas."
)
ENTRIES = [
    Entry(
        title="Referrals to children’s social care reach a record high",
        link="https://www.communitycare.co.uk/2026/11/20/referrals-record/?utm_source=rss"
        "&utm_medium=rss&utm_campaign=referrals-record",
        guid="cc-1",
        summary=f"<p>{LONG_PARAGRAPH}</p><p></p>"
        '<p>The post <a href="https://www.communitycare.co.uk/2026/11/20/referrals-record/">'
        "Referrals to children’s social care reach a record high</a> appeared first on "
        '<a href="https://www.communitycare.co.uk">Community Care</a>.</p>',
    ),
    Entry(
        title="Adolescent neglect: a systematic review of outcomes in early adulthood",
        link="https://www.sciencedirect.com/science/article/pii/S0145213426004321?dgcid=rss_sd_all",
        guid="sd-1",
        summary="<p>Publication date: Available online 19 November 2026</p>"
        "<p><b>Source:</b> Child Abuse &amp; Neglect</p>"
        "<p>Author(s): Jane Smith, Rhodri ap Gwilym, 山田 花子</p>"
        "<p>Neglect in adolescence is under-recognised. We reviewed 42 studies.</p>",
    ),
    Entry(
        title="Gwasanaethau plant: canllawiau newydd ar gyfer ymarferwyr — 子ども 📬",
        link="https://example.org/cy/canllawiau?fbclid=IwAR0abc&id=7",
        guid="cy-1",
        summary="<p>Canllawiau byr: https://example.org/cy/canllawiau/gwasanaethau-plant/2026/"
        "ymarferwyr-a-chyrff-cyhoeddus-yng-nghymru.pdf. "
        '<a href="#top">Yn ôl i’r brig</a> '
        '<a href="https://example.org/pdf?gclid=xyz&amp;lang=cy">PDF</a></p>',
    ),
]


def make_edition(factory: sessionmaker[Session]) -> int:
    """The edition, approved, with the feed's publisher set; returns its id."""
    body = rss(ENTRIES, title="Latest from Community Care — news, jobs and more")
    parsed = parse_feed(body, {}, "https://www.communitycare.co.uk/feed/")
    assert parsed.problem is None, parsed.problem
    with transaction(factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        feed = Feed(name="Community Care (RSS)", url="https://www.communitycare.co.uk/feed/")
        session.add(feed)
        spec = FeedConfig(
            name=feed.name, url=feed.url, newsletter="caspar", section="News", publisher=PUBLISHER
        )
        apply_feed(feed, spec, newsletter, [])
        feed.publisher = spec.publisher
        feed.title = "Latest from Community Care — news, jobs and more"  # the feed's <title>
        session.flush()
        store_entries(session, [feed_entries(feed, parsed.entries)], NOW)
        session.flush()
        placements = list(session.scalars(select(Placement).order_by(Placement.id)))
        topic = session.scalar(select(Topic).where(Topic.slug == "neglect"))
        ids = [p.id for p in placements]
        decisions.set_topics(session, ids, [topic.id], "librarian")
        decisions.set_status(session, ids, ItemStatus.ACCEPTED, "librarian")
        edition = compose.build_draft(session, newsletter, "editor", NOW)
        compose.set_text(
            session,
            edition,
            "CASPAR: week commencing 23 November 2026",
            "Referrals are at a record high this week.\nAlso: a review of adolescent neglect.",
            "editor",
        )
        compose.approve(session, edition, "editor", now=NOW)
        subscriber = Subscriber(email=ADDRESS, name="Siân")
        subscriber.subscriptions.append(
            Subscription(
                newsletter=newsletter, status=SubscriberStatus.ACTIVE, confirmed_at=CONFIRMED
            )
        )
        session.add(subscriber)
        return edition.id


def delivered(factory: sessionmaker[Session], edition_id: int) -> email.message.EmailMessage:
    """The subscriber's copy, as the bytes sent, parsed."""
    with factory() as session:
        edition = session.get(Edition, edition_id)
        subscription = session.scalar(select(Subscription).join(Subscriber))
        rendered = render_cut(edition, None, archive_url(edition, SETTINGS))
        raw = build_message(edition, subscription, rendered, SETTINGS, KEYS, NOW)
    return email.message_from_bytes(raw, policy=default)


def bodies(message: email.message.EmailMessage) -> tuple[str, str]:
    """(text, html) of a message."""
    return (
        message.get_body(("plain",)).get_content(),
        message.get_body(("html",)).get_content(),
    )
