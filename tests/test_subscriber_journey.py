"""A subscriber's whole journey in a real browser, with mail through a real SMTP server:
sign up, confirm from the email, choose topics, receive an edition, leave with one click.
Accessibility of the public pages and of the email is checked with axe-core."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from chromium import launched, require_chromium, serious_violations, shot
from smtp import free_port, smtp_server
from sqlalchemy import select
from webapp import add_items, entry, make_site
from webserver import served_over_http

from digest.curation import decisions
from digest.db import transaction
from digest.delivery.transport import Transport
from digest.editions import compose
from digest.editions.message import archive_url, build_message
from digest.editions.render import render_cut
from digest.models import (
    Edition,
    ItemStatus,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.web import context

ADDRESS = "journey@example.org"


@pytest.fixture
def world(sqlite_factory):
    require_chromium()

    with smtp_server() as (inbox, url), launched() as browser:
        port = free_port()  # the site's address is in its settings, so it is chosen first
        base = f"http://127.0.0.1:{port}"
        site = make_site(sqlite_factory, base_url=base, token_keys=("journey-key",), mail_url=url)
        _this_weeks_edition(sqlite_factory)
        with served_over_http(site.app, port):
            page = browser.new_context(bypass_csp=True).new_page()
            yield site, base, inbox, page


def _this_weeks_edition(factory) -> None:
    """Two accepted items, one on each topic, in an approved edition."""
    ids = add_items(
        factory,
        [
            entry("Neglect in adolescence", "https://example.org/n", "<p>Older children.</p>"),
            entry("Grooming on gaming platforms", "https://example.org/g", "<p>Games.</p>"),
        ],
    )
    with transaction(factory) as session:
        topics = {t.slug: t.id for t in session.scalars(select(Topic))}
        decisions.set_topics(session, ids[:1], [topics["neglect"]], "librarian")
        decisions.set_topics(session, ids[1:], [topics["online-grooming"]], "librarian")
        decisions.set_status(session, ids, ItemStatus.ACCEPTED, "librarian")
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        edition = compose.build_draft(
            session, newsletter, "editor", datetime(2026, 11, 22, tzinfo=UTC)
        )
        compose.approve(session, edition, "editor", now=datetime(2026, 11, 22, tzinfo=UTC))


def test_sign_up_confirm_choose_receive_and_leave(world) -> None:
    site, base, inbox, page = world

    # Sign up.
    page.goto(f"{base}/subscribe/caspar")
    assert serious_violations(page) == []
    page.fill("input[name=email]", ADDRESS)
    page.fill("input[name=name]", "Jo Reader")
    page.check("label:has-text('Neglect') input")
    page.check("input[name=consent]")
    page.click("button:has-text('Subscribe')")
    page.wait_for_selector("h1:has-text('Check your inbox')")
    shot(page, "public-check-inbox")

    # Confirm from the email that arrived over SMTP (sent off the request path).
    site.settle()
    (confirmation,) = inbox.messages(ADDRESS)
    link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/\S+)", confirmation.get_content())[1]
    page.goto(link)
    page.click("button:has-text('Yes, subscribe me')")
    page.wait_for_selector("h1:has-text('You are subscribed')")

    # Choose topics in the preference centre.
    page.click("text=Choose your topics")
    page.wait_for_selector("h1:has-text('Your CASPAR preferences')")
    assert serious_violations(page) == []
    page.check("label:has-text('Online grooming') input")
    page.click("button:has-text('Save my choices')")
    page.wait_for_selector("text=Saved.")
    shot(page, "public-preferences")
    with site.factory() as session:
        subscription = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == ADDRESS)
        )
        assert subscription.status is SubscriberStatus.ACTIVE
        assert [t.slug for t in subscription.topics] == ["neglect", "online-grooming"]
        subscription_id = subscription.id

    # Receive this week's edition.
    with site.factory() as session:
        subscription = session.get(Subscription, subscription_id)
        edition = session.scalars(select(Edition)).one()
        settings = site.app.extensions[context.SETTINGS]
        rendered = render_cut(
            edition,
            frozenset(t.slug for t in subscription.topics),
            archive_url(edition, settings.mail),
        )
        raw = build_message(edition, subscription, rendered, settings.mail, settings.link_keys())
    Transport.default(settings).send("caspar@digest.test", ADDRESS, raw)
    delivered = inbox.messages(ADDRESS)[-1]
    assert delivered["Subject"].startswith("CASPAR: week commencing")

    # The email itself is accessible.
    page.set_content(delivered.get_body(("html",)).get_content())
    assert serious_violations(page) == []
    shot(page, "email")

    # Leave with one click, the way a mail provider does it: POST to the header's address.
    unsubscribe = re.search(r"<(http://[^>]+)>", delivered["List-Unsubscribe"])[1]
    response = httpx.post(
        unsubscribe,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and not response.is_redirect
    with site.factory() as session:
        assert session.get(Subscription, subscription_id).status is SubscriberStatus.UNSUBSCRIBED
