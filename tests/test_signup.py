"""Signing up: double opt-in over real SMTP, consent records, and no way to probe addresses."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from click.testing import CliRunner
from smtp import smtp_server
from sqlalchemy import func, select
from webapp import Site, make_site

from digest import formlimits
from digest.cli import cli
from digest.db import transaction
from digest.models import (
    ConsentEvent,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.subscriptions import signup
from digest.subscriptions.tokens import InvalidToken
from digest.timeutil import utcnow

KEYS = ["signup-key"]


@pytest.fixture
def mail(factory):
    with smtp_server() as (inbox, url):
        links = {"token_keys": tuple(KEYS), "base_url": "https://digest.example.org"}
        yield make_site(factory, mail_url=url, **links), inbox


def form(client, **fields) -> dict[str, object]:
    page = client.get("/subscribe/caspar").text
    values = {
        "email": "new.reader@example.org",
        "name": "New Reader",
        "consent": "yes",
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page)[1],
    }
    values.update(fields)
    return values


def visible(html: str) -> str:
    """A page with its per-session form tokens removed, to compare what people see."""
    return re.sub(r'"[\w.-]{40,}"', '"TOKEN"', html)


def subscription(site: Site, address: str) -> Subscription | None:
    with site.factory() as session:
        return session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == address)
        )


def test_double_opt_in(mail) -> None:
    site, inbox = mail
    client = site.app.test_client()
    with site.factory() as session:
        grooming = session.scalar(select(Topic.id).where(Topic.slug == "online-grooming"))
    response = client.post(
        "/subscribe/caspar",
        data=form(client, topic=[grooming]),
        headers={"User-Agent": "Test browser"},
    )
    assert response.status_code == 200 and "Check your inbox" in response.text
    site.settle()
    assert subscription(site, "new.reader@example.org").status is SubscriberStatus.PENDING
    (message,) = inbox.messages("new.reader@example.org")
    assert message["Subject"] == "Please confirm your subscription to CASPAR"
    body = message.get_content()
    assert "Online grooming" not in body and "Report" not in body  # no newsletter content
    link = re.search(r"https://digest\.example\.org(/confirm/\S+)", body)[1]
    assert client.get(link).status_code == 200  # a link checker's GET confirms nothing
    assert subscription(site, "new.reader@example.org").status is SubscriberStatus.PENDING
    page = client.get(link).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    confirmed = client.post(link, data={"csrf_token": token})
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    current = subscription(site, "new.reader@example.org")
    assert current.status is SubscriberStatus.ACTIVE and current.confirmed_at is not None
    with site.factory() as session:
        events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
        assert [(e.kind, e.form) for e in events] == [
            ("signup", "sign-up page /subscribe/caspar"),
            ("confirm", "confirmation link"),
        ]
        assert events[0].wording_version == signup.CURRENT_WORDING
        assert events[0].user_agent == "Test browser" and events[0].ip
        assert events[0].detail["topics"] == ["online-grooming"]
        assert "Yes, send me CASPAR by email every week" in events[0].detail["wording"]


def test_known_and_unknown_addresses_get_the_same_page(mail) -> None:
    site, inbox = mail
    client = site.app.test_client()
    first = client.post("/subscribe/caspar", data=form(client, email="known@example.org"))
    site.settle()
    with site.factory() as session:
        session.get(
            Subscription, subscription(site, "known@example.org").id
        ).status = SubscriberStatus.ACTIVE
        session.commit()
    again = client.post("/subscribe/caspar", data=form(client, email="known@example.org"))
    stranger = client.post("/subscribe/caspar", data=form(client, email="other@example.org"))
    site.settle()
    assert first.status_code == again.status_code == stranger.status_code == 200
    assert visible(again.text) == visible(stranger.text)
    # Only the owner of the known address learns it is already subscribed.
    assert inbox.messages("known@example.org")[-1]["Subject"] == "You already receive CASPAR"


def test_robots_and_missing_consent_change_nothing(mail) -> None:
    site, inbox = mail
    client = site.app.test_client()
    trap = client.post("/subscribe/caspar", data=form(client, website="http://spam.example"))
    assert trap.status_code == 200 and "Check your inbox" in trap.text
    no_consent = client.post("/subscribe/caspar", data=form(client, consent=""))
    assert no_consent.status_code == 400
    bad = client.post("/subscribe/caspar", data=form(client, email="not an address"))
    assert bad.status_code == 400 and "not an email address" in bad.text
    site.settle()
    assert inbox.received == []
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_repeated_sign_ups_are_limited(mail) -> None:
    site, inbox = mail
    client = site.app.test_client()
    for _ in range(formlimits.PER_ADDRESS_PER_DAY + 2):
        assert client.post("/subscribe/caspar", data=form(client)).status_code == 200
    site.settle()
    assert len(inbox.messages("new.reader@example.org")) == formlimits.PER_ADDRESS_PER_DAY


def test_confirmation_links_expire_after_7_days(mail, monkeypatch) -> None:
    site, _ = mail
    eight_days_ago = time.time() - 8 * 86400
    with monkeypatch.context() as past:
        past.setattr("itsdangerous.timed.time.time", lambda: eight_days_ago)
        old = signup.confirmation_token(1, None, KEYS)
    with pytest.raises(InvalidToken, match="expired"):
        signup.read_confirmation_token(old, KEYS)
    response = site.app.test_client().get(f"/confirm/{old}")
    assert response.status_code == 400 and "expired" in response.text


def test_lost_link_is_sent_only_to_known_addresses(mail) -> None:
    site, inbox = mail
    client = site.app.test_client()
    client.post("/subscribe/caspar", data=form(client, email="known@example.org"))
    site.settle()
    with site.factory() as session:
        session.get(
            Subscription, subscription(site, "known@example.org").id
        ).status = SubscriberStatus.ACTIVE
        session.commit()
    inbox.received.clear()
    page = client.get("/preferences").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    known = client.post("/preferences", data={"email": "known@example.org", "csrf_token": token})
    unknown = client.post("/preferences", data={"email": "who@example.org", "csrf_token": token})
    site.settle()
    assert visible(known.text) == visible(unknown.text)
    (message,) = inbox.messages()
    assert "CASPAR: https://digest.example.org/p/" in message.get_content()


def test_embedded_form_signs_up_without_a_session(mail) -> None:
    site, inbox = mail
    snippet_page = site.app.test_client().get("/subscribe/caspar/embed").text
    assert "action=&#34;https://digest.example.org/subscribe/caspar/embedded&#34;" in snippet_page
    stranger = site.app.test_client(use_cookies=False)  # a visitor on another site
    response = stranger.post(
        "/subscribe/caspar/embedded", data={"email": "embedded@example.org", "consent": "yes"}
    )
    assert response.status_code == 200 and "Check your inbox" in response.text
    site.settle()
    assert subscription(site, "embedded@example.org").status is SubscriberStatus.PENDING
    with site.factory() as session:
        event = session.scalar(select(ConsentEvent))
        assert event.form == "embedded form for /subscribe/caspar"
    assert len(inbox.messages("embedded@example.org")) == 1


def test_unconfirmed_sign_ups_are_forgotten_after_seven_days(factory) -> None:
    eight_days_ago = utcnow() - timedelta(days=8)
    with transaction(factory) as session:
        caspar, library = (
            session.scalar(select(Newsletter).where(Newsletter.slug == slug))
            for slug in ("caspar", "new-in-the-library")
        )

        def person(email: str, *subscriptions: Subscription) -> None:
            session.add(Subscriber(email=email, subscriptions=list(subscriptions)))

        person("stale@example.org", Subscription(newsletter=caspar, created_at=eight_days_ago))
        person("fresh@example.org", Subscription(newsletter=caspar))
        person(
            "reader@example.org",
            Subscription(newsletter=caspar, created_at=eight_days_ago),
            Subscription(newsletter=library, status=SubscriberStatus.ACTIVE),
        )
    db = factory.kw["bind"].url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["--db", db, "subscribers", "expire"])
    assert result.exit_code == 0 and "Removed 2 unconfirmed sign-ups." in result.output
    with factory() as session:
        held = {
            (s.subscriber.email, s.newsletter.slug, s.status.value)
            for s in session.scalars(select(Subscription))
        }
        assert held == {
            ("fresh@example.org", "caspar", "pending"),
            ("reader@example.org", "new-in-the-library", "active"),
        }
        assert (
            session.scalar(select(Subscriber).where(Subscriber.email == "stale@example.org"))
            is None
        )


@pytest.mark.parametrize(
    ("address", "noted"),
    [("jürgen@bücher.example", True), ("用户@例子.广告", True), ("reader@bücher.example", False)],
)
def test_sign_up_says_at_once_what_happens_to_an_international_address(
    mail, address, noted
) -> None:
    site, inbox = mail  # this server offers SMTPUTF8: the confirmation reaches them all
    client = site.app.test_client()
    page = client.post("/subscribe/caspar", data=form(client, email=address))
    assert page.status_code == 200 and "Check your inbox" in page.text
    assert ("SMTPUTF8" in page.text) == noted
    site.settle()
    (message,) = inbox.messages()
    assert "/confirm/" in message.get_content()


def test_a_confirmation_the_server_cannot_carry_leaves_the_same_page(factory) -> None:
    with smtp_server(enable_SMTPUTF8=False) as (inbox, url):
        site = make_site(factory, mail_url=url, token_keys=tuple(KEYS))
        client = site.app.test_client()
        page = client.post("/subscribe/caspar", data=form(client, email="jürgen@bücher.example"))
        site.settle()
    assert page.status_code == 200 and "Check your inbox" in page.text
    assert "SMTPUTF8" in page.text and inbox.received == []
    with factory() as session:  # kept pending: a later try, or another server, may reach it
        assert session.scalar(select(Subscriber).where(Subscriber.email == "jürgen@bücher.example"))
