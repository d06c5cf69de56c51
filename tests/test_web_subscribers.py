"""Staff see their subscribers: search, counts per newsletter and topic, growth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from webapp import make_site

from digest.db import transaction
from digest.models import Newsletter, Role, Subscriber, SubscriberStatus, Subscription, Topic
from digest.subscriptions.overview import growth
from digest.timeutil import utcnow


def test_subscriber_list_counts_and_growth(factory) -> None:
    site = make_site(factory)
    now = utcnow()
    with transaction(factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        neglect = session.scalar(select(Topic).where(Topic.slug == "neglect"))
        for n, (status, topics, weeks_ago) in enumerate(
            [
                (SubscriberStatus.ACTIVE, [neglect], 10),
                (SubscriberStatus.ACTIVE, [], 3),
                (SubscriberStatus.ACTIVE, [neglect], 1),
                (SubscriberStatus.PENDING, [], 0),
            ]
        ):
            subscriber = Subscriber(email=f"person{n}@example.org", name=f"Person {n}")
            subscriber.subscriptions.append(
                Subscription(
                    newsletter=caspar,
                    status=status,
                    topics=topics,
                    confirmed_at=now - timedelta(weeks=weeks_ago),
                )
            )
            session.add(subscriber)
    client = site.client(Role.EDITOR)
    page = client.get("/subscribers").text
    assert "<strong>3</strong> active subscribers of CASPAR" in page
    assert "<li>Neglect: 2</li>" in page
    assert "1 subscriber chose no topic and get everything." in page
    assert "<polyline" in page and "Active subscriptions each week" in page
    found = client.get("/subscribers?q=person2").text
    assert "1 subscriber." in found and "person2@example.org" in found
    assert site.client(Role.LIBRARIAN).get("/subscribers").status_code == 403
    with site.factory() as session:
        weekly = [count for _, count in growth(session, now, weeks=12)]
    assert weekly[0] == 0 and weekly[2] == 1 and weekly[-1] == 3
    assert weekly == sorted(weekly)


def test_growth_is_empty_without_subscribers(factory) -> None:
    with factory() as session:
        assert {count for _, count in growth(session, datetime(2026, 1, 1, tzinfo=UTC))} == {0}
