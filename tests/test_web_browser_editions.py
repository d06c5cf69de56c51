"""An editor orders an edition in a real browser (Chromium, Playwright) over real HTTP: the
items grouped as the email groups them, moved within a group by mouse and by keyboard, stored
without reloading the page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chromium import (
    launched,
    serious_violations,
    shot,
    sign_in,
)
from playwright.sync_api import Page
from sqlalchemy import select
from webapp import Site, add_items, entry, make_site, placements
from webserver import served_over_http

from digest.curation import decisions
from digest.db import transaction
from digest.models import Edition, ItemStatus, Newsletter, Role, Topic

ITEMS = [  # title, section, topic; in the order they arrive (the last is the newest)
    ("News of the week", "News", "neglect"),
    ("Research: neglect at home", "Research", "neglect"),
    ("Research: neglect at school", "Research", "neglect"),
    ("Policy: online abuse guidance", "Policy", "online-abuse"),
    ("Policy: neglect — the review", "Policy", "neglect"),
    ("Policy: neglect — the statistics", "Policy", "neglect"),
    ("Policy: neglect — the guidance", "Policy", "neglect"),
]


def accept_placed(site: Site) -> None:
    """ITEMS accepted into CASPAR, each in its section with its topic."""
    ids = add_items(
        site.factory,
        [entry(title, f"https://example.org/order/{n}") for n, (title, _, _) in enumerate(ITEMS)],
    )
    chosen = placements(site.factory, ids)
    with transaction(site.factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        sections = {s.name: s.id for s in newsletter.sections}
        topics = {t.slug: t.id for t in session.scalars(select(Topic))}
        for placement, (_, section, topic) in zip(chosen, ITEMS, strict=True):
            decisions.place(session, placement, sections[section], "librarian")
            decisions.set_topics(session, [placement], [topics[topic]], "librarian")
        decisions.set_status(session, chosen, ItemStatus.ACCEPTED, "librarian")


@pytest.fixture
def served(sqlite_factory) -> Iterator[tuple[Site, str]]:
    site = make_site(sqlite_factory)
    accept_placed(site)
    with served_over_http(site.app) as address:
        yield site, address


@pytest.fixture
def chromium() -> Iterator[object]:
    with launched() as browser:
        yield browser


def stored_order(site: Site) -> list[str]:
    with site.factory() as session:
        return [e.item.title for e in session.scalar(select(Edition)).entries]


def group_titles(page: Page, group: str) -> list[str]:
    return page.locator(f"#{group} li .edition-item-title").all_inner_texts()


def build(page: Page, base: str) -> None:
    sign_in(page, base, Role.EDITOR)
    page.click("nav >> text=Editions")
    page.click("button:has-text('Build')")
    page.wait_for_selector(".edition-group")


def test_the_page_shows_the_emails_groups_in_the_configured_order(served, chromium) -> None:
    _, base = served
    page = chromium.new_page()  # type: ignore[attr-defined]
    build(page, base)
    assert page.locator(".edition-section h3").all_inner_texts() == ["Policy", "Research", "News"]
    topics = page.locator(".edition-section").first.locator(".edition-topic")
    assert [t.split(" (")[0] for t in topics.all_inner_texts()] == ["Neglect", "Online abuse"]
    assert group_titles(page, "group-1") == [
        "Policy: neglect — the guidance",
        "Policy: neglect — the statistics",
        "Policy: neglect — the review",
    ]


def test_an_editor_drags_an_item_within_its_group_without_a_reload(served, chromium) -> None:
    site, base = served
    page = chromium.new_page(viewport={"width": 1100, "height": 420})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    build(page, base)
    before = group_titles(page, "group-1")
    page.evaluate("window.stillThisPage = true")
    page.locator("#group-1").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 40)")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0

    items = page.locator("#group-1-list > li")
    with page.expect_response(lambda r: r.url.endswith("/items") and r.status == 200):
        items.nth(2).drag_to(
            items.nth(0), source_position={"x": 12, "y": 8}, target_position={"x": 12, "y": 2}
        )
    page.wait_for_function(
        "title => document.querySelector('#group-1 li .edition-item-title').textContent === title",
        arg=before[2],
    )
    after = [before[2], before[0], before[1]]
    assert group_titles(page, "group-1") == after
    assert page.evaluate("window.stillThisPage") is True  # the page was not reloaded
    assert abs(page.evaluate("window.scrollY") - scrolled) <= 2
    assert (
        page.locator("#edition-moved").inner_text()
        == f"Moved “{before[2]}” to place 1 in its group."
    )
    assert stored_order(site)[:3] == after
    # The other groups kept their places and their order.
    assert page.locator(".edition-section h3").all_inner_texts() == ["Policy", "Research", "News"]
    shot(page, "edition-dragged")

    # An item dragged into another group is not taken there.
    research = page.locator("#group-3-list > li")
    research.nth(0).drag_to(items.nth(0), source_position={"x": 12, "y": 8})
    page.wait_for_timeout(300)
    assert stored_order(site)[:3] == after
    assert len(group_titles(page, "group-1")) == 3

    page.reload()
    assert group_titles(page, "group-1") == after
    assert errors == []  # nothing the Content-Security-Policy refused, no script failed


def test_an_editor_moves_an_item_with_the_keyboard(served, chromium) -> None:
    site, base = served
    page = chromium.new_page(viewport={"width": 1100, "height": 420})  # type: ignore[attr-defined]
    build(page, base)
    before = group_titles(page, "group-1")
    page.evaluate("window.stillThisPage = true")
    page.locator("#group-1").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 40)")
    scrolled = page.evaluate("window.scrollY")
    first = page.locator("#group-1-list > li").first.get_attribute("data-item")
    page.focus(f"#down-{first}")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "title => document.querySelectorAll('#group-1 li .edition-item-title')[1].textContent"
        " === title",
        arg=before[0],
    )
    assert page.evaluate("document.activeElement.id") == f"down-{first}"  # focus stays
    assert page.locator("#edition-moved").inner_text() == f"Moved “{before[0]}” down."
    page.keyboard.press("Enter")  # to the end of its group: Down is disabled there
    page.wait_for_function(
        "title => document.querySelectorAll('#group-1 li .edition-item-title')[2].textContent"
        " === title",
        arg=before[0],
    )
    assert page.locator(f"#down-{first}").is_disabled()
    # Not lost to the page: on the item's other button.
    page.wait_for_function("id => document.activeElement.id === id", arg=f"up-{first}")
    assert page.evaluate("window.stillThisPage") is True
    assert abs(page.evaluate("window.scrollY") - scrolled) <= 2
    assert stored_order(site)[:3] == [before[1], before[2], before[0]]
    shot(page, "edition-keyboard")


def test_the_edition_page_has_no_serious_accessibility_problems(served, chromium) -> None:
    _, base = served
    # axe-core is injected as a script, which the site's Content-Security-Policy forbids.
    page = chromium.new_context(bypass_csp=True).new_page()  # type: ignore[attr-defined]
    build(page, base)
    assert serious_violations(page) == []
    shot(page, "edition-groups")
