"""Leaving and choosing: one-click unsubscribe (RFC 8058) and the preference centre."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email.policy import default

import pytest
from sqlalchemy import select
from webapp import Site, make_site

from digest.db import transaction
from digest.editions.message import MailSettings, build_message
from digest.editions.render import RenderedCut
from digest.models import (
    ConsentEvent,
    Edition,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.subscriptions.tokens import subscription_token

KEYS = ["key-one", "key-two"]


@pytest.fixture
def site(factory) -> Site:
    site = make_site(factory, token_keys=tuple(KEYS))
    with transaction(factory) as session:
        newsletters = {n.slug: n for n in session.scalars(select(Newsletter))}
        subscriber = Subscriber(email="reader@example.org", name="Reader")
        for newsletter in newsletters.values():
            subscriber.subscriptions.append(
                Subscription(
                    newsletter=newsletter,
                    status=SubscriberStatus.ACTIVE,
                    confirmed_at=datetime(2026, 1, 5, tzinfo=UTC),
                )
            )
        session.add(subscriber)
    return site


def subscription(site: Site, slug: str = "caspar") -> Subscription:
    with site.factory() as session:
        return session.scalar(select(Subscription).join(Newsletter).where(Newsletter.slug == slug))


def token(site: Site, slug: str = "caspar") -> str:
    found = subscription(site, slug)
    return subscription_token(found.id, found.link_secret, KEYS)


def consent_kinds(site: Site) -> list[tuple[str, str]]:
    with site.factory() as session:
        return [
            (e.kind, e.form)
            for e in session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
        ]


def list_unsubscribe_url(site: Site) -> str:
    """The HTTPS address from the List-Unsubscribe header of a real message."""
    with site.factory() as session:
        edition = Edition(
            newsletter=session.scalar(select(Newsletter).where(Newsletter.slug == "caspar")),
            period_start=datetime(2026, 11, 23).date(),
            created_by="editor",
            subject="CASPAR",
        )
        sub = session.get(Subscription, subscription(site).id)
        raw = build_message(
            edition,
            sub,
            RenderedCut("<p>x</p>", "x", 0),
            MailSettings("https://digest.example.org"),
            KEYS,
            datetime(2026, 11, 24, tzinfo=UTC),
        )
    header = email.message_from_bytes(raw, policy=default)["List-Unsubscribe"]
    return re.search(r"<(https://[^>]+)>", header)[1].removeprefix("https://digest.example.org")


def test_get_asks_and_changes_nothing(site: Site) -> None:
    response = site.app.test_client().get(f"/u/{token(site)}")
    assert response.status_code == 200
    assert "Unsubscribe from CASPAR?" in response.text
    assert subscription(site).status is SubscriberStatus.ACTIVE
    assert consent_kinds(site) == []


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_one_click_post_unsubscribes_at_once_without_cookies(site: Site, encoding: str) -> None:
    path = list_unsubscribe_url(site)
    client = site.app.test_client(use_cookies=False)
    if encoding == "urlencoded":
        response = client.post(
            path,
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = client.post(
            path, data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
        )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "You are unsubscribed" in response.text
    assert "no more emails from CASPAR at" in response.text
    assert subscription(site).status is SubscriberStatus.UNSUBSCRIBED
    assert subscription(site, "new-in-the-library").status is SubscriberStatus.ACTIVE
    assert consent_kinds(site) == [("unsubscribe", "one-click (RFC 8058)")]
    # Repeating it is harmless.
    assert (
        client.post(
            path,
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        ).status_code
        == 200
    )
    assert len(consent_kinds(site)) == 1


def test_forged_and_foreign_tokens_change_nothing(site: Site) -> None:
    client = site.app.test_client(use_cookies=False)
    good = token(site)
    for bad in (
        good[:-3] + "abc",
        subscription_token(subscription(site).id, subscription(site).link_secret, ["stolen-key"]),
        "garbage",
    ):
        response = client.post(
            f"/u/{bad}",
            data="List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 400 and "This link is not valid" in response.text
        assert site.app.test_client().get(f"/p/{bad}").status_code == 400
    assert subscription(site).status is SubscriberStatus.ACTIVE
    assert consent_kinds(site) == []
    # A link is bound to one newsletter: the other subscription is untouched.
    client.post(
        f"/u/{token(site, 'new-in-the-library')}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert subscription(site).status is SubscriberStatus.ACTIVE


def test_preference_centre_changes_topics_and_pause(site: Site) -> None:
    client = site.app.test_client()
    page = client.get(f"/p/{token(site)}")
    assert page.status_code == 200 and "Your CASPAR preferences" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    with site.factory() as session:
        neglect = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
    saved = client.post(
        f"/p/{token(site)}",
        data={"topic": [neglect], "paused": "on", "action": "save", "csrf_token": csrf},
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    with site.factory() as session:
        current = session.get(Subscription, subscription(site).id)
        assert [t.slug for t in current.topics] == ["neglect"] and current.paused
    assert consent_kinds(site) == [("change", "preference centre")]
    # Without its form token the preference form changes nothing.
    refused = client.post(f"/p/{token(site)}", data={"action": "unsubscribe"})
    assert refused.status_code == 400
    assert subscription(site).status is SubscriberStatus.ACTIVE
    client.post(f"/p/{token(site)}", data={"action": "unsubscribe", "csrf_token": csrf})
    assert subscription(site).status is SubscriberStatus.UNSUBSCRIBED


def test_preference_centre_adds_another_newsletter(site: Site) -> None:
    other = subscription(site, "new-in-the-library")
    with transaction(site.factory) as session:
        session.delete(session.get(Subscription, other.id))
    client = site.app.test_client()
    page = client.get(f"/p/{token(site)}").text
    assert "Subscribe to New in the Library" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    joined = client.post(
        f"/p/{token(site)}",
        data={"action": "join", "newsletter": "new-in-the-library", "csrf_token": csrf},
    )
    assert joined.status_code == 200
    assert "You receive it." in joined.text
    added = subscription(site, "new-in-the-library")
    assert added.status is SubscriberStatus.ACTIVE and added.confirmed_at is not None
    assert consent_kinds(site) == [("signup", "preference centre")]
    assert subscription(site).status is SubscriberStatus.ACTIVE  # the first one is untouched


def test_a_hostile_user_agent_does_not_stop_an_unsubscribe(site: Site) -> None:
    client = site.app.test_client(use_cookies=False)
    client.environ_base["HTTP_USER_AGENT"] = "\x00Mail\x01 scanner " + "é" * 5000
    response = client.post(f"/u/{token(site)}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert subscription(site).status is SubscriberStatus.UNSUBSCRIBED
    with site.factory() as session:
        agent = session.scalar(select(ConsentEvent.user_agent))
    assert agent.startswith("Mail scanner éé") and len(agent) == 500
