"""Editors in the web app: build, order, preview each cut, send a test, approve."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
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
from digest.wording import date_text

TAGGED = [("First item", "neglect"), ("Second item", "online-grooming"), ("Third item", "neglect")]


@pytest.fixture
def site(factory) -> Site:
    return editions_site(factory)


def editions_site(factory, **given: object) -> Site:
    """The app on `given` settings, three accepted items and three subscribers."""
    site = make_site(factory, **given)
    accept_tagged(factory, TAGGED)
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


def titles(site: Site) -> list[str]:
    with site.factory() as session:
        return [e.item.title for e in session.scalar(select(Edition)).entries]


def test_build_preview_order_and_approve(site: Site) -> None:
    client = site.client(Role.EDITOR)
    token = csrf_token(client, "/")
    built = client.post("/editions/build", data={"newsletter": "caspar", "csrf_token": token})
    assert built.status_code == 302
    page = client.get(built.headers["Location"]).text
    assert "First item" in page and "Second item" in page
    assert ">Neglect</a> — 2 subscribers, 2 items<" in page
    assert ">All topics</a> — 1 subscriber, 3 items<" in page
    assert "KB of HTML" in page
    edition_id = edition(site).id

    preview = client.get(f"/editions/{edition_id}/preview?topics=neglect")
    assert "First item" in preview.text and "Second item" not in preview.text
    assert "style-src 'unsafe-inline'" in preview.headers["Content-Security-Policy"]
    assert "script-src" not in preview.headers["Content-Security-Policy"]
    text = client.get(f"/editions/{edition_id}/preview?format=text").text
    assert "First item" in text and "Second item" in text

    # As the email groups them: Neglect (newest first), then Online grooming.
    assert titles(site) == ["Third item", "First item", "Second item"]
    first = edition(site).entries[1].item_id
    moved = client.post(
        f"/editions/{edition_id}/items",
        data={"item": first, "action": "up", "csrf_token": token},
        follow_redirects=True,
    )
    assert "Moved “First item” up." in moved.text
    assert titles(site) == ["First item", "Third item", "Second item"]

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


def test_the_preview_line_is_set_on_the_edition_page_and_shown_in_the_email(site: Site) -> None:
    client = site.client(Role.EDITOR)
    token = csrf_token(client, "/")
    built = client.post("/editions/build", data={"newsletter": "caspar", "csrf_token": token})
    path = built.headers["Location"]
    assert 'name="preheader"' in client.get(path).text
    client.post(
        f"{path}/text",
        data={
            "subject": "This week",
            "intro": "Hello.",
            "preheader": "Neglect, grooming and more — Siân’s pick",
            "csrf_token": token,
        },
    )
    assert edition(site).preheader == "Neglect, grooming and more — Siân’s pick"
    email = client.get(f"{path}/preview").text
    assert "Neglect, grooming and more — Siân’s pick" in email


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


def built(site: Site) -> tuple[FlaskClient, str, int]:
    """An editor's client, its form token, and this week's draft built by it."""
    client = site.client(Role.EDITOR)
    token = csrf_token(client, "/")
    client.post("/editions/build", data={"newsletter": "caspar", "csrf_token": token})
    return client, token, edition(site).id


def item_forms(page: str, edition_id: int) -> list[str]:
    """The forms and script hooks on a page that would change an edition's content."""
    return re.findall(
        rf'action="/editions/{edition_id}/(?:items|text)"|hx-post|data-move-url', page
    )


@pytest.mark.parametrize("state", ["approved", "sending", "sent", "cancelled"])
def test_a_frozen_edition_is_shown_read_only(site: Site, state: str) -> None:
    client, token, edition_id = built(site)
    client.post(
        f"/editions/{edition_id}/text",
        data={"subject": "Frozen — ŵ", "intro": "Hello <b>all</b>", "csrf_token": token},
    )
    client.post(f"/editions/{edition_id}/state", data={"action": "approve", "csrf_token": token})
    with transaction(site.factory) as session:
        session.get(Edition, edition_id).state = EditionState(state)
    page = client.get(f"/editions/{edition_id}").text
    assert item_forms(page, edition_id) == []
    assert ">Up<" not in page and ">Remove<" not in page and ">Add<" not in page
    assert "<dd>Frozen — ŵ</dd>" in page and "<dd>Hello &lt;b&gt;all&lt;/b&gt;</dd>" in page
    assert "Third item" in page  # the items are still listed, grouped as the email shows them
    assert ("Un-approve to change it" in page) is (state == "approved")


def test_un_approving_brings_the_controls_back(site: Site) -> None:
    client, token, edition_id = built(site)
    client.post(f"/editions/{edition_id}/state", data={"action": "approve", "csrf_token": token})
    assert item_forms(client.get(f"/editions/{edition_id}").text, edition_id) == []
    client.post(f"/editions/{edition_id}/state", data={"action": "unapprove", "csrf_token": token})
    page = client.get(f"/editions/{edition_id}").text
    assert f'action="/editions/{edition_id}/text"' in page
    assert page.count(f'action="/editions/{edition_id}/items"') == 3  # one form per item


def test_up_and_down_are_disabled_at_the_ends_of_each_group(site: Site) -> None:
    client, _, edition_id = built(site)
    page = client.get(f"/editions/{edition_id}").text
    disabled = dict(re.findall(r'id="((?:up|down)-\d+)"[^>]*?( disabled)?>', page))
    third, first, second = [e.item_id for e in edition(site).entries]
    assert disabled[f"up-{third}"] and not disabled[f"down-{third}"]  # first of Neglect
    assert not disabled[f"up-{first}"] and disabled[f"down-{first}"]  # last of Neglect
    assert disabled[f"up-{second}"] and disabled[f"down-{second}"]  # alone in Online grooming


def test_a_move_by_script_answers_with_the_group_alone(site: Site) -> None:
    client, token, edition_id = built(site)
    third = edition(site).entries[0].item_id
    answer = client.post(
        f"/editions/{edition_id}/items",
        data={"item": third, "action": "down", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    assert "<html" not in answer.text and 'class="edition-group" id="group-1"' in answer.text
    assert answer.text.index("First item") < answer.text.index("Third item")
    assert "Second item" not in answer.text  # another group
    assert 'hx-swap-oob="innerHTML">Moved “Third item” down.</p>' in answer.text
    assert titles(site) == ["First item", "Third item", "Second item"]
    # Said in place, for screen readers: not kept to be flashed on the next page as well.
    assert "Moved “Third item” down." not in client.get(f"/editions/{edition_id}").text


def test_a_drag_posts_the_place_within_the_group(site: Site) -> None:
    client, token, edition_id = built(site)
    third = edition(site).entries[0].item_id
    client.post(
        f"/editions/{edition_id}/items",
        data={"item": third, "action": "move", "position": "1", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert titles(site) == ["First item", "Third item", "Second item"]


def test_a_refused_move_by_script_reloads_the_page_which_says_why(site: Site) -> None:
    client, token, edition_id = built(site)
    client.post(f"/editions/{edition_id}/state", data={"action": "approve", "csrf_token": token})
    answer = client.post(
        f"/editions/{edition_id}/items",
        data={"item": edition(site).entries[0].item_id, "action": "down", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 409 and answer.headers["HX-Refresh"] == "true"
    assert "its content is frozen until it is un-approved" in client.get("/editions").text


def test_building_a_cancelled_week_asks_then_revives_it(site: Site) -> None:
    client, token, edition_id = built(site)
    client.post(
        f"/editions/{edition_id}/text",
        data={"subject": "Special — ŵ", "intro": "Kept.", "csrf_token": token},
    )
    client.post(
        f"/editions/{edition_id}/state",
        data={"action": "cancel", "confirmed": "yes", "csrf_token": token},
    )
    form = {"newsletter": "caspar", "csrf_token": token}
    asked = client.post("/editions/build", data=form)
    assert asked.status_code == 200
    week = date_text(edition(site).period_start)
    assert (
        f"The edition for the week of {week} was cancelled. Build a new draft for it?" in asked.text
    )
    assert "Cancel it again to undo this." in asked.text
    assert "“Special — ŵ” becomes a draft again" in asked.text
    assert "cannot be undone" not in asked.text
    assert edition(site).state is EditionState.CANCELLED  # asking changed nothing

    done = client.post("/editions/build", data={**form, "confirmed": "yes"})
    assert done.headers["Location"] == f"/editions/{edition_id}"
    page = client.get(done.headers["Location"]).text
    assert f"The cancelled edition for the week of {week} is a draft again, with 3 items." in page
    revived = edition(site)
    assert revived.state is EditionState.DRAFT and revived.intro == "Kept."


@pytest.mark.parametrize(
    ("note", "then"),
    [
        (True, "They get the introduction, with a note that nothing matched their topics."),
        (False, "The newsletter sends them nothing this week."),
    ],
)
def test_a_cut_that_gets_nothing_is_flagged_beside_the_introduction(
    site: Site, note: bool, then: str
) -> None:
    with transaction(site.factory) as session:
        session.scalar(select(Topic).where(Topic.slug == "neglect")).label = "Négligence & ŵ"
        session.scalar(select(Newsletter)).note_when_nothing_matches = note
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        for n in range(2):
            abuse = Subscriber(email=f"abuse{n}@example.org")
            abuse.subscriptions.append(
                Subscription(
                    newsletter=newsletter,
                    status=SubscriberStatus.ACTIVE,
                    topics=[
                        session.scalar(select(Topic).where(Topic.slug == "legislation-and-policy"))
                    ],
                )
            )
            session.add(abuse)
    client, token, edition_id = built(site)
    page = client.get(f"/editions/{edition_id}").text
    assert ">Négligence &amp; ŵ</a> — 2 subscribers, 2 items</li>" in page
    assert (
        '<li class="cut-empty"><a href="/editions/1/preview?topics=legislation-and-policy">Legislation and policy</a>'
        " — 2 subscribers, 0 items: <strong>get nothing in their topics</strong></li>"
    ).replace("/editions/1/", f"/editions/{edition_id}/") in page
    assert "will get no items" not in page  # no introduction promises anything yet

    client.post(
        f"/editions/{edition_id}/text",
        data={"subject": "This week", "intro": "Something for everyone.", "csrf_token": token},
    )
    page = client.get(f"/editions/{edition_id}").text
    warning = f"2 subscribers will get no items: their topics have nothing this week. {then}"
    assert f'<p class="error" id="intro-warning">{warning}</p>' in page
    assert 'aria-describedby="intro-warning"' in page
