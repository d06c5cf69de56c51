"""What the email says, built from real-shaped feed entries: short summaries, no feed
boilerplate, clean links, the publisher as source, the title as the only link to an item, a
preview line, "View online", and a footer naming the sender and the subscriber."""

from __future__ import annotations

import re

import pytest
from email_world import ADDRESS, PUBLISHER, bodies, delivered, make_edition
from sqlalchemy import select

from digest.db import transaction
from digest.editions import compose
from digest.editions.render import preheader
from digest.models import Edition, Item, Subscriber


@pytest.fixture
def edition_id(factory) -> int:
    return make_edition(factory)


@pytest.fixture
def text_and_page(factory, edition_id) -> tuple[str, str]:
    return bodies(delivered(factory, edition_id))


def test_a_long_feed_paragraph_becomes_a_short_summary_and_the_whole_text_is_kept(
    factory, edition_id, text_and_page
) -> None:
    text, page = text_and_page
    assert "Councils in England received a record number of referrals last year, e.g. from" in text
    assert "pathfinder areas" not in text and "pathfinder areas" not in page
    with factory() as session:
        item = session.query(Item).filter(Item.guid == "cc-1").one()
        assert len(item.summary_text) <= 300 and item.summary_text.endswith(".")
        assert "pathfinder areas" in item.full_text_html  # kept for the librarian


def test_feed_boilerplate_is_not_in_the_email(text_and_page) -> None:
    text, page = text_and_page
    for boilerplate in ("appeared first on", "Publication date:", "Author(s):"):
        assert boilerplate not in text and boilerplate not in page
    assert "Neglect in adolescence is under-recognised." in text
    assert "Yn ôl i’r brig</a>" not in page and "Yn ôl i’r brig" in page  # a dead anchor's text
    assert "#top" not in page and "<p></p>" not in page


def test_no_link_in_the_email_carries_tracking_parameters(factory, text_and_page) -> None:
    _, page = text_and_page
    links = re.findall(r'href="([^"]+)"', page)
    assert "https://www.communitycare.co.uk/2026/11/20/referrals-record/" in links
    assert "https://example.org/cy/canllawiau?id=7" in links
    assert "https://example.org/pdf?lang=cy" in links
    for link in links:
        assert not re.search(r"[?&](utm_|fbclid|gclid|dgcid|mc_cid|mc_eid)", link), link
    with factory() as session:  # what readers follow from every page is stored clean
        assert all("utm_" not in (link or "") for link in session.scalars(select(Item.link)))


def test_the_source_is_the_configured_publisher_not_the_feeds_title(text_and_page) -> None:
    text, page = text_and_page
    assert f"Source: {PUBLISHER} · " in text and f"Source: {PUBLISHER} " in page
    assert "Latest from Community Care" not in text + page


def test_each_item_is_linked_once_by_its_title(text_and_page) -> None:
    text, page = text_and_page
    assert "Read more" not in text + page
    link = "https://www.communitycare.co.uk/2026/11/20/referrals-record/"
    assert page.count(f'href="{link}"') == 1
    assert re.search(rf'<a href="{re.escape(link)}"[^>]*>Referrals to children', page)


def test_view_online_comes_first_and_the_preheader_is_the_intros_first_line(
    factory, edition_id, text_and_page
) -> None:
    text, page = text_and_page
    body = page[page.index("<body") :]
    hidden = re.search(r'<div class="preheader"[^>]*>([^<]*)', body)
    # After the line, invisible fillers keep mail programs from showing the body's text.
    assert hidden and hidden[1].split("\u034f")[0] == "Referrals are at a record high this week."
    assert "display: none" in body[: body.index(">", body.index('class="preheader"'))]
    archive = f"https://news.example.org/archive/caspar/{edition_id}"
    assert body.index(">View online</a>") < body.index("<h1")
    assert text.splitlines()[2] == f"View online: {archive}"


def test_the_editor_can_set_the_preheader_and_clear_it_again(factory, edition_id) -> None:
    with transaction(factory) as session:
        edition = session.get(Edition, edition_id)
        edition.state = edition.state.DRAFT  # editable again, as un-approving does
        compose.set_text(session, edition, edition.subject, edition.intro, "editor", "  Read  on ")
        assert preheader(edition) == "Read on"
        compose.set_text(session, edition, edition.subject, edition.intro, "editor", "")
        assert edition.preheader is None
        assert preheader(edition) == "Referrals are at a record high this week."
        compose.set_text(session, edition, edition.subject, "New intro", "editor")  # untouched
        assert preheader(edition) == "New intro"


def test_the_footer_names_the_sender_and_why_the_subscriber_gets_it(text_and_page) -> None:
    text, page = text_and_page
    why = f"you subscribed to CASPAR as {ADDRESS} on Fri 7 Mar 2025."
    assert why in text
    assert why.replace("'", "&#x27;") in page or why in page
    for line in ("Llyfrgell Plant — Children’s Library", "Tŷ Gwyn, 1 Heol y Frenhines"):
        assert line in text and line in page
    for words in ("Manage your preferences", "Unsubscribe", "View this edition online"):
        assert words in text and f">{words}</a>" in page


def test_the_subscribers_address_is_escaped_in_the_html(factory, edition_id) -> None:
    with transaction(factory) as session:
        subscriber = session.query(Subscriber).one()
        subscriber.email = "tom&jerry@example.org"
    text, page = bodies(delivered(factory, edition_id))
    assert "as tom&amp;jerry@example.org on" in page and "as tom&jerry@example.org on" in text


def test_the_masthead_wears_the_newsletters_colour_and_logo(factory, edition_id) -> None:
    with transaction(factory) as session:
        newsletter = session.get(Edition, edition_id).newsletter
        newsletter.colour, newsletter.logo = "#006e3c", "logos/caspar.png"
    _, page = bodies(delivered(factory, edition_id))
    masthead = page[page.index('class="masthead"') :]
    assert masthead.split(">", 1)[0].count("background: #006e3c") == 1
    logo = 'src="https://news.example.org/static/logos/caspar.png"'
    assert logo in masthead and 'alt="Llyfrgell Plant — Children’s Library"' in masthead
