"""The staff app in a real browser (Debian's Chromium driven by Playwright) over real HTTP."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from chromium import shot, sign_in
from delivery_helpers import add_subscribers
from sqlalchemy import select
from webapp import Site, accept_tagged, add_items, entry, make_site
from webserver import served_over_http

from digest.curation.suggest import suggest_new_items
from digest.db import transaction
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import Feed, Item, ItemStatus, Placement, Role


@contextmanager
def serving(sqlite_factory, **given: object) -> Iterator[tuple[Site, str]]:
    """The app on `given` settings, with three suggested items, served over HTTP; yields it
    and its address."""
    site = make_site(sqlite_factory, **given)
    add_items(
        sqlite_factory,
        [
            entry("Online grooming: what practitioners need to know", "https://example.org/1"),
            entry("Neglect in adolescence: a practice briefing", "https://example.org/2"),
            entry("Spam about gardening", "https://example.org/3"),
        ],
    )
    with transaction(sqlite_factory) as session:
        suggest_new_items(session)
    with served_over_http(site.app) as address:
        yield site, address


@pytest.fixture
def served(sqlite_factory) -> Iterator[tuple[Site, str]]:
    with serving(sqlite_factory) as site_and_address:
        yield site_and_address


def status_of(site: Site, title_start: str) -> ItemStatus:
    with site.factory() as session:
        return session.scalar(
            select(Placement.status).join(Item).where(Item.title.startswith(title_start))
        )


def test_librarian_triages_with_the_keyboard(served, browser) -> None:
    site, base = served
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, base, Role.LIBRARIAN)
    shot(page, "dashboard")
    page.click("nav >> text=Triage")
    page.wait_for_selector("tr.item-row")
    shot(page, "triage")
    titles = page.locator("tr.item-row a.title").all_inner_texts()

    page.keyboard.press("j")  # the first item
    page.keyboard.press("a")  # accept it, and move on to the second
    page.wait_for_selector(f"tr.item-row.status-accepted >> text={titles[0][:20]}")
    page.keyboard.press("r")  # reject the second, and move on to the third
    page.wait_for_selector(f"tr.item-row.status-rejected >> text={titles[1][:20]}")
    page.keyboard.press("t")  # tag the third
    page.keyboard.type("Neglect")
    page.keyboard.press("Enter")
    third = page.locator("tr.item-row").nth(2)
    third.locator(".topic", has_text="Neglect").wait_for()
    assert page.evaluate("document.activeElement.id") == third.get_attribute("id")
    shot(page, "triage-after-keys")

    assert status_of(site, titles[0][:20]) is ItemStatus.ACCEPTED
    assert status_of(site, titles[1][:20]) is ItemStatus.REJECTED

    page.goto(f"{base}/items?status=all")
    # One click confirms a suggested topic; its reason was shown beside it.
    grooming = page.locator("tr.item-row", has_text="Online grooming: what practitioners")
    assert "keyword “online grooming” in the title" in grooming.inner_text()
    grooming.locator("button.confirm[title='Confirm Online grooming']").click()
    page.locator("tr.item-row", has_text="Online grooming: what practitioners").locator(
        ".topic-manual", has_text="Online grooming"
    ).wait_for()

    # Edit a summary on the item's page; the feed's wording stays viewable.
    third = page.locator("tr.item-row", has_text=titles[2][:20])
    third.locator("a.title").click()
    page.fill("textarea[name=summary]", "A briefing for practitioners.")
    page.click("text=Save text")
    page.wait_for_selector("text=A briefing for practitioners.")
    page.click("summary:has-text('original wording')")
    assert page.locator(".original").inner_text() == "Summary."
    shot(page, "item")

    # Admin pages are not for librarians.
    response = page.goto(f"{base}/admin/feeds")
    assert response.status == 403
    assert page.locator("text=Your role does not allow this.").is_visible()

    page.click("text=Sign out")
    page.wait_for_selector("h1:has-text('Sign in')")
    assert page.goto(f"{base}/items").url.startswith(f"{base}/login")
    # The only console errors are the 403 we asked for: no script failed.
    assert [e for e in errors if "403" not in e] == []


def test_admin_pauses_a_feed(served, browser) -> None:
    site, base = served
    page = browser.new_page()  # type: ignore[attr-defined]
    sign_in(page, base, Role.ADMIN)
    page.click("nav >> text=Feeds")
    row = page.locator("tr", has_text="Test feed")
    row.locator("button", has_text="Pause").click()
    page.wait_for_selector("text=Paused “Test feed”.")
    shot(page, "feeds")
    with site.factory() as session:
        assert session.scalar(select(Feed.paused).where(Feed.name == "Test feed"))
    page.click("nav >> text=Audit log")
    assert page.locator("td", has_text="feed.pause").count() == 1
    shot(page, "audit")


def test_editor_sends_an_edition_and_reads_it_in_the_outbox(
    sqlite_factory, browser, tmp_path
) -> None:
    outbox = {"demo": True, "mail_url": f"maildir:{tmp_path / 'mail'}"}  # the Outbox's folder
    with serving(sqlite_factory, **outbox) as (site, base):
        send_and_read_in_the_outbox(site, base, browser, Transport(outbox["mail_url"]))


def send_and_read_in_the_outbox(site: Site, base: str, browser: object, transport) -> None:
    accept_tagged(site.factory, [("Alpha briefing", "neglect"), ("Beta report", "neglect")])
    add_subscribers(site.factory, 3)
    stop = threading.Event()
    worker = Worker(
        site.factory.kw["bind"],
        Settings(["k"], MailSettings(base), "test-hash-key", idle_wait=0.2),
        {None: transport},
    )
    sending = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    sending.start()
    try:
        page = browser.new_page()  # type: ignore[attr-defined]
        sign_in(page, base, Role.EDITOR)
        page.click("nav >> text=Editions")
        page.click("button:has-text('Build')")
        page.click("button:has-text('Approve')")
        page.wait_for_selector("text=Approved: it goes out at the time shown.")
        page.click("button:has-text('Send now')")
        assert page.locator("h1").inner_text() == "Send to 3 subscribers now?"
        page.click("button:has-text('Send to 3 subscribers now')")
        page.wait_for_selector("text=Sending has started")
        page.wait_for_selector("#send-progress h2:has-text('Sent')", timeout=20_000)
        assert page.locator("td.count-sent").inner_text() == "3"
        shot(page, "edition-sent")
        page.click("nav >> text=Outbox")
        rows = page.locator("tbody tr")
        assert rows.count() >= 3  # three readers, and the report to the editors
        assert page.locator("a", has_text="Sent: CASPAR").count() == 2  # report: editor, admin
        page.get_by_role("link", name=re.compile("^CASPAR: week commencing")).first.click()
        page.wait_for_selector("iframe.preview")
        shot(page, "outbox-message")
        frame = page.frame_locator("iframe.preview")
        frame.locator("a", has_text="Unsubscribe").wait_for()
    finally:
        stop.set()
        sending.join(timeout=10)


def test_librarian_compares_possible_duplicates_merges_and_undoes(served, browser) -> None:
    site, base = served
    words = "<p>Guidance for parents and carers on children's safety online, games and chat.</p>"
    add_items(
        site.factory,
        [entry("Keeping children safe online — a guide", "https://gov.example.org/safe", words)],
        feed_name="GOV.UK",
    )
    add_items(
        site.factory,
        [entry("Keeping children safe online: a guide", "https://news.example.org/s", words)],
        feed_name="Sector news",
    )
    page = browser.new_page()  # type: ignore[attr-defined]
    sign_in(page, base, Role.LIBRARIAN)
    page.goto(f"{base}/items")
    page.locator("text=compare them").first.click()
    page.wait_for_selector("text=One publication or two?")
    shot(page, "possible-duplicates")
    page.locator("article.compare", has_text="gov.example.org").locator(
        "text=Merge, keeping this one"
    ).click()
    page.wait_for_selector("text=Merged: one item now, with every source")
    found_in = page.locator("h2:has-text('Found in') + ul").inner_text()
    assert "GOV.UK" in found_in and "Sector news" in found_in
    page.click("text=Undo: split them again")
    page.wait_for_selector("text=Split: the two items are separate again")
    with site.factory() as session:
        keeping = session.scalars(select(Item).where(Item.title.startswith("Keeping"))).all()
        assert len(keeping) == 2 and all(i.merged_into_id is None for i in keeping)
