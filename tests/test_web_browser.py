"""The staff app in a real browser (Debian's Chromium driven by Playwright) over real HTTP."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from waitress.server import create_server
from webapp import PASSWORD, STAFF, Site, add_items, entry, make_site

from digest.curation.suggest import suggest_new_items
from digest.db import transaction
from digest.models import Feed, Item, ItemStatus, Role

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; under CI=true this is a failure, not a skip")
    pytest.skip(message)


@pytest.fixture
def served(sqlite_factory) -> Iterator[tuple[Site, str]]:
    site = make_site(sqlite_factory)
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
    server = create_server(site.app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield site, f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()


@pytest.fixture
def browser() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield instance
        instance.close()


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def sign_in(page: object, base: str, role: Role) -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("input[name=email]", STAFF[role])  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("text=Dashboard")  # type: ignore[attr-defined]


def status_of(site: Site, title_start: str) -> ItemStatus:
    with site.factory() as session:
        return session.scalar(select(Item.status).where(Item.title.startswith(title_start)))


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
    page.keyboard.press("a")  # accept it
    page.wait_for_selector(f"tr.item-row.status-accepted >> text={titles[0][:20]}")
    page.keyboard.press("j")
    page.keyboard.press("r")  # reject the second
    page.wait_for_selector(f"tr.item-row.status-rejected >> text={titles[1][:20]}")
    page.keyboard.press("j")
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
    page.fill("textarea[name=summary_html]", "<p>A briefing for practitioners.</p>")
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
    page.wait_for_selector("text=Paused Test feed.")
    shot(page, "feeds")
    with site.factory() as session:
        assert session.scalar(select(Feed.paused).where(Feed.name == "Test feed"))
    page.click("nav >> text=Audit log")
    assert page.locator("td", has_text="feed.pause").count() == 1
    shot(page, "audit")
