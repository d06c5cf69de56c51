"""Staff see their subscribers (search, counts per newsletter and topic, growth), add a person
who gave consent elsewhere, and export a newsletter's list as the command line does."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime, timedelta

import pytest
from delivery_helpers import add_subscribers
from flask.testing import FlaskClient
from sqlalchemy import select
from webapp import STAFF, Site, csrf_token, export_subscribers, make_site

from digest.db import transaction
from digest.models import (
    ConsentEvent,
    Newsletter,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.subscriptions import lists, suppression
from digest.subscriptions.overview import PAGE_SIZE, growth
from digest.timeutil import utcnow

KEY = "test-secret-key"  # what make_site's settings key the suppression list with


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
    assert "1 subscriber chose no topic and gets everything." in page
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


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def add(client: FlaskClient, **form: str | list[str]):
    fields = {"email": "", "name": "", "newsletter": ["caspar"], "source": "", **form}
    return client.post(
        "/subscribers/add",
        data={"csrf_token": csrf_token(client, "/subscribers/add"), **fields},
    )


def subscriptions(site: Site) -> list[tuple[str, str, str, str]]:
    with site.factory() as session:
        return [
            (email, name, slug, status.value)
            for email, name, slug, status in session.execute(
                select(Subscriber.email, Subscriber.name, Newsletter.slug, Subscription.status)
                .join(Subscription, Subscription.subscriber_id == Subscriber.id)
                .join(Newsletter, Newsletter.id == Subscription.newsletter_id)
                .order_by(Subscriber.email, Newsletter.slug)
            )
        ]


def test_adding_a_person_records_where_they_gave_consent_and_opens_their_page(
    site: Site,
) -> None:
    client = site.client(Role.EDITOR)
    added = add(
        client,
        email="Zoe@例え.jp",
        name="Zoë Ødegård",
        newsletter=["caspar", "new-in-the-library"],
        topic=["neglect"],
        source="Paper form at the conference — Tromsø",
    )
    assert added.status_code == 302
    page = client.get(added.headers["Location"]).text
    assert "Added Zoë Ødegård &lt;Zoe@例え.jp&gt; to CASPAR and New in the Library." in page
    assert subscriptions(site) == [
        ("zoe@例え.jp", "Zoë Ødegård", "caspar", "active"),
        ("zoe@例え.jp", "Zoë Ødegård", "new-in-the-library", "active"),
    ]
    with site.factory() as session:
        forms = set(session.scalars(select(ConsentEvent.form)))
    assert forms == {f"added by {STAFF[Role.EDITOR]}: Paper form at the conference — Tromsø"}
    assert "Paper form at the conference — Tromsø" in page  # the consent history shows it


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"email": ""}, "email", "Enter the person’s email address."),
        ({"email": "not an address"}, "email", "is not an email address"),
        ({"newsletter": []}, "newsletter", "Choose at least one newsletter."),
        ({"source": ""}, "source", "Say where this person gave consent"),
        ({"source": "x" * 300}, "source", "characters, over the 200 taken"),
        ({"source": "form\x07"}, "source", "control character"),
    ],
    ids=["no address", "bad address", "no newsletter", "no source", "long source", "control"],
)
def test_a_bad_field_is_marked_beside_it_and_nothing_typed_is_lost(
    site: Site, form: dict[str, object], field: str, message: str
) -> None:
    typed = {
        "email": "renée@exämple.org",
        "name": "Renée O’Brien",
        "topic": ["online-grooming"],
        "source": "Phone call",
        **form,
    }
    page = add(site.client(Role.EDITOR), **typed)
    assert page.status_code == 400
    text = html.unescape(page.text)
    assert f'<p class="field-error" id="{field}-error">' in page.text
    assert message in text
    assert 'value="Renée O’Brien"' in text
    assert 'value="online-grooming" checked' in text
    if field != "email":
        assert f'value="{typed["email"]}"' in text
    if field != "source":
        assert 'value="Phone call"' in text
    assert subscriptions(site) == []


def test_an_address_on_the_suppression_list_is_refused_for_every_newsletter_asked(
    site: Site,
) -> None:
    with transaction(site.factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        suppression.suppress(
            session, "left@example.org", suppression.Reason.UNSUBSCRIBED, KEY, caspar.id
        )
    page = add(
        site.client(Role.EDITOR),
        email="left@example.org",
        newsletter=["new-in-the-library", "caspar"],
        source="Phone call",
    )
    assert page.status_code == 400
    assert (
        "Not added to New in the Library: left@example.org is on the suppression list "
        "(unsubscribed)" not in page.text
    )
    assert "Not added to CASPAR: left@example.org is on the suppression list (unsubscribed)" in (
        page.text
    )
    assert subscriptions(site) == []  # not even New in the Library: nothing half done


def test_adding_someone_already_subscribed_says_so(site: Site) -> None:
    client = site.client(Role.EDITOR)
    add(client, email="ann@example.org", source="Phone call")
    again = add(client, email="ann@example.org", source="Phone call")
    assert (
        "No change for ann@example.org in CASPAR: they were already subscribed"
        in client.get(again.headers["Location"]).text
    )


def test_adding_needs_the_csrf_token(site: Site) -> None:
    client = site.client(Role.EDITOR)
    refused = client.post(
        "/subscribers/add",
        data={"email": "ann@example.org", "newsletter": "caspar", "source": "Phone call"},
    )
    assert refused.status_code == 400
    assert subscriptions(site) == []


def test_the_export_is_the_command_lines_csv_for_the_search_shown(site: Site, tmp_path) -> None:
    client = site.client(Role.EDITOR)
    for email, name in [("zoe@例え.jp", "Zoë Ødegård"), ("ann@example.org", "=HYPERLINK(1)")]:
        add(client, email=email, name=name, source="Phone call")
    everyone = export_subscribers(client, "newsletter=caspar")
    assert everyone.status_code == 200
    assert everyone.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in everyone.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(everyone.data.decode("utf-8"))))
    assert tuple(rows[0]) == lists.COLUMNS
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("ann@example.org", "'=HYPERLINK(1)"),  # a spreadsheet shows it, never runs it
        ("zoe@例え.jp", "Zoë Ødegård"),
    ]
    with site.factory() as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        lists.write_csv(session, caspar, tmp_path / "cli.csv", actor="test")
    assert everyone.data == (tmp_path / "cli.csv").read_bytes()
    found = export_subscribers(client, "newsletter=caspar&q=Ødegård")
    assert [r[0] for r in csv.reader(io.StringIO(found.data.decode()))][1:] == ["zoe@例え.jp"]


def test_the_export_needs_a_known_newsletter_and_an_editor(site: Site) -> None:
    assert export_subscribers(site.client(Role.EDITOR), "newsletter=nope").status_code == 400
    assert export_subscribers(site.client(Role.LIBRARIAN), "newsletter=caspar").status_code == 403


def test_the_list_pages_on_keeping_the_search(site: Site) -> None:
    add_subscribers(site.factory, PAGE_SIZE + 1)
    client = site.client(Role.EDITOR)
    first = client.get("/subscribers?q=reader").text
    assert f"{PAGE_SIZE + 1} subscribers, page 1 of 2." in first
    assert 'href="/subscribers?q=reader&amp;page=2">Next page</a>' in first
    second = client.get("/subscribers?q=reader&page=2").text
    assert second.count('class="address">reader') == 1
    assert 'href="/subscribers?q=reader&amp;page=1">Previous page</a>' in second
