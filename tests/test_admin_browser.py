"""The admin and password-reset pages in a real browser at a phone's width (390 px): each
passes axe-core with nothing serious or critical, and none scrolls sideways. The reset link
comes by real SMTP."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from chromium import launched, require_chromium, shot
from smtp import free_port, smtp_server
from sqlalchemy import select
from webapp import PASSWORD, STAFF, add_items, entry, make_site
from webserver import served_over_http

from digest import audit
from digest.db import transaction
from digest.models import Feed, Role, Topic

PHONE = {"width": 390, "height": 844}


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes']][:3]})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def overflow(page) -> int:
    """How many pixels the whole page, its header too, is wider than the window (0: no
    sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def check(page, name: str) -> None:
    shot(page, f"admin-{name}")
    assert serious_violations(page) == [], name
    assert overflow(page) <= 0, name


@pytest.fixture
def world(sqlite_factory):
    require_chromium()
    with smtp_server() as (inbox, url), launched() as browser:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        site = make_site(sqlite_factory, base_url=base, mail_url=url)
        add_items(sqlite_factory, [entry("Neglect — “a briefing” ’é", "https://example.org/1")])
        with transaction(sqlite_factory) as session:
            audit.record(
                session,
                actor=STAFF[Role.ADMIN],
                action=audit.Action.ITEM_EDIT,
                object_type=audit.ObjectType.ITEM,
                object_id=1,
                summary="<b>A title</b>",
                before={"title": "Old <title>", "topics": ["neglect"], "summary": "long " * 60},
                after={"title": "New — “title” 東京", "topics": ["neglect", "online-abuse"]},
            )
        with served_over_http(site.app, port):
            page = browser.new_context(bypass_csp=True, viewport=PHONE).new_page()
            yield site, base, inbox, page


def test_a_forgotten_password_in_the_browser(world) -> None:
    site, base, inbox, page = world
    page.goto(f"{base}/login")
    page.click("text=Forgotten your password?")
    check(page, "forgot-password")
    page.fill("input[name=email]", STAFF[Role.EDITOR])
    page.click("button[type=submit]")
    page.wait_for_selector("text=we have emailed it a link")
    check(page, "forgot-password-sent")
    site.settle()
    link = re.search(
        r"http://\S+/login/reset/\S+", inbox.messages(STAFF[Role.EDITOR])[-1].get_content()
    )[0]
    page.goto(link)
    check(page, "reset-password")
    page.fill("input[name=new_password]", "short")
    page.fill("input[name=confirm_password]", "short")
    page.evaluate(
        "document.querySelectorAll('input[minlength]').forEach(i => i.removeAttribute('minlength'))"
    )
    page.click("button[type=submit]")
    page.wait_for_selector("text=at least 12 characters")
    check(page, "reset-password-refused")
    page.fill("input[name=new_password]", "a new and long passphrase")
    page.fill("input[name=confirm_password]", "a new and long passphrase")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Your new password is set")
    page.goto(link)
    page.wait_for_selector("text=This link was used already")
    check(page, "reset-password-used")


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", STAFF[Role.ADMIN])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    # Signed in: who is signed in is named in the header (the menu may be folded on a phone).
    page.wait_for_selector("header .who-name", state="attached")


def test_the_admin_pages_and_their_questions_in_the_browser(world) -> None:
    site, base, _, page = world
    _sign_in(page, base)
    page.goto(f"{base}/admin/topics")
    check(page, "topics")
    with site.factory() as session:
        neglect = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
        feed_id = session.scalar(select(Feed.id))
    row = page.locator(f"form[action='/admin/topics/{neglect}']").last
    row.locator("select[name=into]").select_option(label="Online abuse")
    row.locator("button[value=merge]").click()
    page.wait_for_selector("text=Merge “Neglect” into “Online abuse”?")
    check(page, "merge-question")
    page.click("text=No, go back")
    page.goto(f"{base}/admin/feeds")
    check(page, "feeds")
    page.locator(f"form[action='/admin/feeds/{feed_id}/delete'] button").click()
    page.wait_for_selector("text=Its 1 item stays")
    check(page, "delete-feed-question")
    page.goto(f"{base}/admin/feeds/new")
    page.evaluate(
        "document.querySelectorAll('[required]').forEach(i => i.removeAttribute('required'))"
    )
    page.fill("input[name=url]", "ftp://example.org")
    page.fill("input[name=poll_interval]", "often")
    page.click("form.feed-form button[type=submit]")
    page.wait_for_selector("text=things need correcting")
    check(page, "feed-form-problems")
    page.goto(f"{base}/admin/users")
    check(page, "users")
    page.goto(f"{base}/admin/audit")
    # "Show all", as a person taps it: the middle of the whole summary, wrapped over lines
    # in its narrow column, can fall between two of them.
    page.click(".long-value summary .more")
    check(page, "audit")
