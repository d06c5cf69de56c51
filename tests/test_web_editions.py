"""Editors in the web app: build, order, preview each cut, send a test, approve."""

from __future__ import annotations

import pytest
from smtp import smtp_server
from sqlalchemy import select
from webapp import STAFF, Site, accept_tagged, csrf_token, make_site

from digest.db import transaction
from digest.models import (
    Edition,
    EditionState,
    Newsletter,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)


@pytest.fixture
def site(factory) -> Site:
    return editions_site(factory)


def editions_site(factory, **given: object) -> Site:
    """The app on `given` settings, two accepted items and three subscribers."""
    site = make_site(factory, **given)
    accept_tagged(factory, [("First item", "neglect"), ("Second item", "online-grooming")])
    with transaction(factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        topics = {t.slug: t for t in session.scalars(select(Topic))}
        for n, chosen in enumerate([["neglect"], ["neglect"], []]):
            subscriber = Subscriber(email=f"s{n}@example.org")
            subscriber.subscriptions.append(
                Subscription(
                    newsletter=newsletter,
                    status=SubscriberStatus.ACTIVE,
                    topics=[topics[slug] for slug in chosen],
                )
            )
            session.add(subscriber)
    return site


def edition(site: Site) -> Edition:
    with site.factory() as session:
        found = session.scalar(select(Edition))
        found.entries  # noqa: B018  (load while the session is open)
        return found


def test_build_preview_order_and_approve(site: Site) -> None:
    client = site.client(Role.EDITOR)
    token = csrf_token(client, "/")
    built = client.post("/editions/build", data={"newsletter": "caspar", "csrf_token": token})
    assert built.status_code == 302
    page = client.get(built.headers["Location"]).text
    assert "First item" in page and "Second item" in page
    assert "neglect</a>: 2 subscribers" in page and "all topics</a>: 1 subscriber<" in page
    assert "KB of HTML" in page
    edition_id = edition(site).id

    preview = client.get(f"/editions/{edition_id}/preview?topics=neglect")
    assert "First item" in preview.text and "Second item" not in preview.text
    assert "style-src 'unsafe-inline'" in preview.headers["Content-Security-Policy"]
    assert "script-src" not in preview.headers["Content-Security-Policy"]
    text = client.get(f"/editions/{edition_id}/preview?format=text").text
    assert "First item" in text and "Second item" in text

    first, second = [e.item_id for e in edition(site).entries]
    client.post(
        f"/editions/{edition_id}/items", data={"item": second, "action": "up", "csrf_token": token}
    )
    assert [e.item_id for e in edition(site).entries] == [second, first]

    client.post(f"/editions/{edition_id}/state", data={"action": "approve", "csrf_token": token})
    assert edition(site).state is EditionState.APPROVED
    assert edition(site).approved_by == STAFF[Role.EDITOR]
    refused = client.post(
        f"/editions/{edition_id}/text",
        data={"subject": "Changed", "intro": "", "csrf_token": token},
        follow_redirects=True,
    )
    assert "frozen until it is un-approved" in refused.text
    assert edition(site).subject != "Changed"


def test_send_a_test_to_myself(factory) -> None:
    with smtp_server() as (inbox, url):
        site = editions_site(factory, mail_url=url)
        client = site.client(Role.EDITOR)
        token = csrf_token(client, "/")
        client.post("/editions/build", data={"newsletter": "caspar", "csrf_token": token})
        sent = client.post(
            f"/editions/{edition(site).id}/test", data={"csrf_token": token}, follow_redirects=True
        )
    assert f"A test was sent to {STAFF[Role.EDITOR]}." in sent.text
    (message,) = inbox.messages(STAFF[Role.EDITOR])
    assert message["Subject"].startswith("[TEST] CASPAR: week commencing")  # not the real send
    # Its personal links say where they came from instead of failing mysteriously.
    unsubscribe = message["List-Unsubscribe"].split(">")[0].strip("<")
    page = site.client().get(unsubscribe.removeprefix("http://127.0.0.1:8000"))
    assert "This link came from a test send" in page.text
    with site.factory() as session:  # the test left no subscriber behind
        assert (
            session.scalar(select(Subscriber).where(Subscriber.email == STAFF[Role.EDITOR])) is None
        )
