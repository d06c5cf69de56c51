"""Triage through a morning's reading, in a real browser (Chromium driven by Playwright) over
real HTTP: compact rows a keyboard moves through, the item page and back, and a session that
ends under an open page without losing what was being done."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from chromium import serious_violations, shot, sign_in
from playwright.sync_api import Page, expect
from sqlalchemy import select, update
from webapp import PASSWORD, STAFF, Site, add_items, entry, make_site
from webserver import served_over_http

from digest.curation.suggest import suggest_new_items
from digest.db import transaction
from digest.models import (
    Item,
    ItemStatus,
    Placement,
    PlacementTopic,
    Role,
    TopicSource,
    WebSession,
)

WINDOW = {"width": 1280, "height": 800}
SUMMARY = (
    "<p>A long look at how practitioners spot online grooming early, what schools and "
    "social workers told the researchers, and what changed after the training was given "
    "in three local authorities over two years.</p><p>Second paragraph.</p>"
)
ROWS = 14


@pytest.fixture
def morning(sqlite_factory) -> Iterator[tuple[Site, str]]:
    """A morning's reading: fourteen new items with long summaries, some with suggested
    topics, served over HTTP."""
    site = make_site(sqlite_factory)
    add_items(
        sqlite_factory,
        [
            entry(
                f"Report {n:02d}: online grooming and neglect — what we learnt ({'é' * (n % 3)})",
                f"https://example.org/report/{n}",
                SUMMARY,
            )
            for n in range(ROWS)
        ],
    )
    with transaction(sqlite_factory) as session:
        suggest_new_items(session)
    with served_over_http(site.app) as address:
        yield site, address


def librarian_page(browser, base: str) -> tuple[Page, list[str]]:
    """A signed-in librarian's tab at 1280×800, and the console errors it logs."""
    page = browser.new_context(viewport=WINDOW).new_page()  # a context: tabs to open
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, Role.LIBRARIAN)
    return page, errors


def status_of(site: Site, placement_id: int) -> ItemStatus:
    with site.factory() as session:
        return session.get(Placement, placement_id).status


def row_ids(page: Page) -> list[str]:
    return page.eval_on_selector_all("tr.item-row", "rows => rows.map(r => r.id)")


def focused(page: Page) -> str:
    return page.evaluate("document.activeElement.id")


def placement_number(row_id: str) -> int:
    return int(row_id.removeprefix("placement-"))


def test_about_ten_compact_rows_fit_a_screen_with_summaries_folded(morning, browser) -> None:
    _, base = morning
    page, errors = librarian_page(browser, base)
    page.goto(f"{base}/items")
    heights = page.eval_on_selector_all(
        "tr.item-row", "rows => rows.map(r => r.getBoundingClientRect().height)"
    )
    assert len(heights) == ROWS
    assert max(heights) <= 80, heights  # were some 250 px each
    at_first = page.eval_on_selector_all(
        "tr.item-row",
        "rows => rows.filter(r => r.getBoundingClientRect().bottom <= window.innerHeight).length",
    )
    assert at_first >= 6  # below the filters, on first sight (were two)
    page.locator("tr.item-row").first.scroll_into_view_if_needed()
    page.evaluate("document.querySelector('tr.item-row').scrollIntoView({block: 'start'})")
    whole = page.eval_on_selector_all(
        "tr.item-row",
        "rows => rows.filter(r => { const b = r.getBoundingClientRect();"
        " return b.top >= 0 && b.bottom <= window.innerHeight; }).length",
    )
    assert whole >= 10
    # A summary shows one line; opened, the whole of it.
    summary = page.locator("tr.item-row details.row-summary > summary").first
    folded = summary.bounding_box()["height"]
    assert folded <= 24
    summary.click()
    assert summary.bounding_box()["height"] >= 2 * folded  # this one takes two lines, whole
    assert "what changed after the training" in summary.inner_text()
    shot(page, "triage-compact")
    assert errors == []


def test_accepting_or_rejecting_by_key_moves_to_the_next_item(morning, browser) -> None:
    site, base = morning
    page, errors = librarian_page(browser, base)
    page.goto(f"{base}/items")
    ids = row_ids(page)
    page.keyboard.press("j")
    assert focused(page) == ids[0]
    page.keyboard.press("a")
    page.locator(f"#{ids[0]}.status-accepted").wait_for()
    expect(page.locator(f"#{ids[1]}")).to_be_focused()
    page.keyboard.press("r")
    page.locator(f"#{ids[1]}.status-rejected").wait_for()
    expect(page.locator(f"#{ids[2]}")).to_be_focused()
    page.keyboard.press("a")
    page.locator(f"#{ids[2]}.status-accepted").wait_for()
    expect(page.locator(f"#{ids[3]}")).to_be_focused()
    assert [status_of(site, placement_number(i)) for i in ids[:4]] == [
        ItemStatus.ACCEPTED,
        ItemStatus.REJECTED,
        ItemStatus.ACCEPTED,
        ItemStatus.NEW,
    ]
    # The last row has no next one: the focus stays on it.
    page.locator(f"#{ids[-1]}").focus()
    page.keyboard.press("a")
    page.locator(f"#{ids[-1]}.status-accepted").wait_for()
    expect(page.locator(f"#{ids[-1]}")).to_be_focused()
    assert errors == []


def test_an_unknown_topic_is_said_on_the_row_and_can_be_corrected(morning, browser) -> None:
    _, base = morning
    page, errors = librarian_page(browser, base)
    page.goto(f"{base}/items")
    ids = row_ids(page)
    page.locator(f"#{ids[1]}").focus()
    page.keyboard.press("t")
    page.keyboard.type("Gardening ŵ")
    page.keyboard.press("Enter")
    problem = page.locator(f"#{ids[1]} .row-problem")
    expect(problem).to_have_text("No topic called “Gardening ŵ”: choose one from the list.")
    box = page.locator(f"#{ids[1]} .tag-input")
    expect(box).to_be_focused()  # ready to be corrected, what was typed still there
    expect(box).to_have_value("Gardening ŵ")
    page.keyboard.type("neglect")  # the box's text was selected: this replaces it
    page.keyboard.press("Enter")
    page.locator(f"#{ids[1]} .topic-manual", has_text="Neglect").wait_for()
    expect(page.locator(f"#{ids[1]} .row-problem")).to_have_count(0)
    expect(page.locator(f"#{ids[1]}")).to_be_focused()
    assert errors == []


def test_select_all_and_a_bulk_topic_that_must_be_chosen(morning, browser) -> None:
    site, base = morning
    page, errors = librarian_page(browser, base)
    page.goto(f"{base}/items")
    boxes = page.locator("input[name=placement]")
    page.get_by_label("Select every item on this page").check()
    assert all(boxes.nth(n).is_checked() for n in range(ROWS))
    boxes.nth(0).uncheck()
    assert page.get_by_label("Select every item on this page").evaluate("b => b.indeterminate")
    page.get_by_label("Select every item on this page").check()
    topic = page.get_by_label("Topic for the selected items")
    expect(topic).to_have_value("")
    expect(topic.locator("option:checked")).to_have_text("Choose a topic…")
    page.evaluate("window.stillThisPage = true")
    page.locator("form#bulk button", has_text="Tag").click()
    # The browser says so and sends nothing: the page is the same one, nothing was tagged.
    assert topic.evaluate("s => s.validity.valueMissing && s.validationMessage !== ''")
    assert page.evaluate("window.stillThisPage === true")
    with site.factory() as session:
        assert all(
            link.source is not TopicSource.MANUAL
            for link in session.scalars(select(PlacementTopic))
        )
    topic.select_option(label="Neglect")
    page.locator("form#bulk button", has_text="Tag").click()
    page.get_by_text(f"{ROWS} items tagged “Neglect”.").wait_for()
    with site.factory() as session:
        assert session.scalar(select(Placement.status).limit(1)) is ItemStatus.NEW
    assert errors == []


def test_the_item_page_edits_plain_text_confirms_topics_and_leads_back(morning, browser) -> None:
    site, base = morning
    page, errors = librarian_page(browser, base)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}/items?status=new&q=report")
    ids = row_ids(page)
    chosen = ids[9]  # a row well down the list
    page.locator(f"#{chosen} a.title").click()
    page.wait_for_selector("h2#wording")
    summary = page.locator("textarea[name=summary]")
    written = summary.input_value()
    assert "<p>" not in written and written.endswith(
        "three local authorities over two years.\n\nSecond paragraph."
    )

    # Paragraphs and line breaks survive; what looks like markup is kept as text.
    typed = "First paragraph, rewritten — ŵ é 学校 🙂.\n\nSecond line one\nline two <script>alert(1)</script>"
    summary.fill(typed)
    page.click("text=Save text")
    saved = page.get_by_text("Saved: the title and summary.")
    expect(saved).to_be_in_viewport()
    expect(page.locator("textarea[name=summary]")).to_have_value(typed)
    with site.factory() as session:
        item = session.get(Placement, placement_number(chosen)).item
        assert item.summary_html == (
            "<p>First paragraph, rewritten — ŵ é 学校 🙂.</p>"
            "<p>Second line one<br>line two &lt;script&gt;alert(1)&lt;/script&gt;</p>"
        )
    assert dialogs == []

    # A suggested topic is confirmed here as on its row.
    suggestion = page.locator(".item-suggestions li").first
    label = suggestion.locator("strong").inner_text()
    suggestion.locator("button.confirm").click()
    page.get_by_text("Topic confirmed.").wait_for()
    expect(page.get_by_label(label, exact=True)).to_be_checked()
    with site.factory() as session:
        placement = session.get(Placement, placement_number(chosen))
        assert {link.topic.label: link.source for link in placement.topic_links}[label] is (
            TopicSource.MANUAL
        )

    # Back to the list as it was: the same filters, and the row it was opened from.
    page.click("text=Back to triage")
    page.wait_for_selector("tr.item-row")
    assert page.url == f"{base}/items?status=new&q=report#{chosen}"
    expect(page.locator(f"#{chosen}")).to_be_focused()
    expect(page.locator(f"#{chosen}")).to_be_in_viewport()
    page.keyboard.press("j")  # and the keys carry on from there
    expect(page.locator(f"#{ids[10]}")).to_be_focused()
    assert errors == []


def end_session(site: Site, page: Page, base: str, how: str) -> None:
    """End the librarian's session under the open page: it expires, or is signed out in
    another tab of the same browser."""
    if how == "expired":
        with transaction(site.factory) as session:
            session.execute(
                update(WebSession).values(last_seen_at=datetime(2024, 3, 1, tzinfo=UTC))
            )
        return
    other = page.context.new_page()
    other.goto(f"{base}/")
    other.click("text=Sign out")
    other.wait_for_selector("h1:has-text('Sign in')")
    other.close()


@pytest.mark.parametrize("how", ["expired", "signed out in another tab"])
def test_an_action_after_the_session_ended_says_so_and_carries_on_after_signing_in(
    morning, browser, how: str
) -> None:
    site, base = morning
    page, errors = librarian_page(browser, base)
    page.goto(f"{base}/items")
    ids = row_ids(page)[-3:]  # far down the page: the message must still be seen
    end_session(site, page, base, how)
    page.locator(f"#{ids[0]}").focus()
    page.keyboard.press("a")
    notice = page.locator("#action-problem")
    expect(notice).to_contain_text("Your session has ended, so that was not done.")
    expect(notice).to_be_in_viewport()
    expect(page.locator(f"#{ids[0]}.status-new")).to_have_count(1)
    assert status_of(site, placement_number(ids[0])) is ItemStatus.NEW
    shot(page, f"triage-session-ended-{how.split()[0]}")

    # Trying again while still signed out says so again.
    notice.get_by_role("button", name="Try again").click()
    expect(notice).to_contain_text("You are still signed out")

    with page.context.expect_page() as opened:
        notice.get_by_role("link", name="Sign in again").click()
    tab = opened.value
    tab.fill("input[name=email]", STAFF[Role.LIBRARIAN])
    tab.fill("input[name=password]", PASSWORD)
    tab.click("button[type=submit]")
    tab.get_by_text("You are signed in again").first.wait_for()
    tab.wait_for_load_state("load")  # its script has told the other tabs
    tab.close()

    expect(notice).to_contain_text("You are signed in again.")
    notice.get_by_role("button", name="Try again").click()
    page.locator(f"#{ids[0]}.status-accepted").wait_for()
    expect(notice).to_be_hidden()
    assert status_of(site, placement_number(ids[0])) is ItemStatus.ACCEPTED
    expect(page.locator(f"#{ids[1]}")).to_be_focused()  # and on to the next, as after `a`
    # The page's own token is fresh too: the next action needs no retry.
    page.keyboard.press("r")
    page.locator(f"#{ids[1]}.status-rejected").wait_for()
    # What the console saw: the refused requests, and nothing else.
    assert [e for e in errors if "401" not in e] == []


def test_an_action_after_signing_out_and_in_again_elsewhere_just_works(morning, browser) -> None:
    """The page's form token went with the old session; the action is sent again with the
    new one, and nothing needs saying."""
    site, base = morning
    page, errors = librarian_page(browser, base)
    page.goto(f"{base}/items")
    ids = row_ids(page)
    end_session(site, page, base, "signed out in another tab")
    other = page.context.new_page()
    sign_in(other, base, Role.LIBRARIAN)
    other.close()
    page.locator(f"#{ids[0]}").focus()
    page.keyboard.press("a")
    page.locator(f"#{ids[0]}.status-accepted").wait_for()
    expect(page.locator(f"#{ids[1]}")).to_be_focused()
    expect(page.locator("#action-problem")).to_have_count(0)
    assert status_of(site, placement_number(ids[0])) is ItemStatus.ACCEPTED
    assert [e for e in errors if "400" not in e] == []


def test_the_triage_pages_have_no_serious_accessibility_problems(morning, browser) -> None:
    site, base = morning
    page, _ = librarian_page(browser, base)
    page.goto(f"{base}/items")
    assert serious_violations(page) == []
    ids = row_ids(page)
    page.locator(f"#{ids[0]}").focus()
    page.keyboard.press("t")
    page.keyboard.type("Gardening")
    page.keyboard.press("Enter")
    page.locator(f"#{ids[0]} .row-problem").wait_for()
    end_session(site, page, base, "expired")
    page.locator(f"#{ids[1]}").focus()
    page.keyboard.press("a")
    page.locator("#action-problem").wait_for()
    assert serious_violations(page) == []
    page.goto(f"{base}/items/1")
    assert serious_violations(page) == []


@pytest.mark.parametrize("how", ["expired", "signed out in another tab"])
def test_a_summary_typed_when_the_session_ended_is_back_in_the_form_after_signing_in(
    morning, browser, how: str
) -> None:
    site, base = morning
    page, errors = librarian_page(browser, base)
    page.goto(f"{base}/items")
    chosen = row_ids(page)[3]
    page.locator(f"#{chosen} a.title").click()
    page.wait_for_selector("h2#wording")
    item_page = page.url
    typed = "Typed for an hour — ŵ é 学校.\n\nA second paragraph."
    page.fill("input[name=title]", "A new title: ‘quoted’")
    page.fill("textarea[name=summary]", typed)
    end_session(site, page, base, how)
    page.click("text=Save text")

    page.wait_for_selector("h1:has-text('Sign in')")
    expect(page.get_by_role("alert")).to_contain_text(
        "Your session had ended, so this was not saved."
    )
    with site.factory() as session:
        assert (
            "Typed for an hour"
            not in session.get(Placement, placement_number(chosen)).item.summary_html
        )
    page.fill("input[name=email]", STAFF[Role.LIBRARIAN])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    page.wait_for_selector("h2#wording")
    assert page.url == item_page
    expect(page.locator(".kept-note")).to_contain_text("What you typed before your session ended")
    expect(page.locator("textarea[name=summary]")).to_have_value(typed)
    expect(page.locator("input[name=title]")).to_have_value("A new title: ‘quoted’")
    with site.factory() as session:  # nothing is saved until the person saves it
        assert (
            "Typed for an hour"
            not in session.get(Placement, placement_number(chosen)).item.summary_html
        )
    page.click("text=Save text")
    page.get_by_text("Saved: the title and summary.").wait_for()
    with site.factory() as session:
        item = session.scalar(select(Item).where(Item.title == "A new title: ‘quoted’"))
        assert item.summary_html == "<p>Typed for an hour — ŵ é 学校.</p><p>A second paragraph.</p>"
    assert [e for e in errors if "401" not in e] == []
