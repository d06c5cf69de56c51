"""The item page: the summary edited as plain text (its paragraphs kept, nothing typed taken as
markup), suggested topics confirmed there too, and "Back to triage" to the list as it was."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select
from webapp import Site, add_items, csrf_token, entry, make_site

from digest.curation.suggest import suggest_new_items
from digest.curation.wording import editable_text, edited_summary, normal_text, text_to_html
from digest.db import transaction
from digest.models import AuditEntry, Item, Placement, Role, TopicSource


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("<p>One.</p><p>Two.</p>", "One.\n\nTwo."),
        ("<p>A line<br>another<br/>a third</p>", "A line\nanother\na third"),
        ("<p>Safe &amp; sound &lt;b&gt; — ŵ 学校 🙂</p>", "Safe & sound <b> — ŵ 学校 🙂"),
        (
            '<p>See <a href="https://example.org/">the report</a>, <em>now</em>.</p>',
            "See the report, now.",
        ),
        ("<ul><li>First</li><li>Second</li></ul><p>After.</p>", "First\n\nSecond\n\nAfter."),
        ("Plain words, no tags.", "Plain words, no tags."),
        ("<p>  spaced \n  out  </p>", "spaced out"),
        ("", ""),
    ],
    ids=["paragraphs", "line breaks", "entities", "link", "list", "plain", "spaces", "empty"],
)
def test_a_stored_summary_is_edited_as_text_with_its_paragraphs(stored: str, shown: str) -> None:
    assert editable_text(stored) == shown


@pytest.mark.parametrize(
    "typed",
    [
        "One paragraph.",
        "First.\n\nSecond, after a blank line.",
        "A line\nthen another\n\nand a paragraph",
        "<script>alert(1)</script> & <b>bold</b> \"quoted\" 'single'",
        "Cymraeg ŵ ŷ — “curly” ’apostrophe’ 学校 🙂 é",
        "Windows\r\nline ends\r\n\r\nkept",
        "  too   many   spaces  \n\n\n\n  and blank lines  ",
    ],
    ids=["one", "two paragraphs", "line breaks", "markup", "non-ascii", "crlf", "untidy"],
)
def test_typed_text_comes_back_as_typed_and_is_stored_as_safe_html(typed: str) -> None:
    stored = text_to_html(typed, "https://example.org/")
    assert editable_text(stored) == normal_text(typed)  # the round trip
    assert "<script" not in stored and "<b>" not in stored  # typed markup is text
    tags = set(re.findall(r"</?([a-z]+)", stored))
    assert tags <= {"p", "br"}
    assert stored.count("<p>") == normal_text(typed).count("\n\n") + 1


def test_an_unchanged_summary_keeps_its_links_and_emphasis() -> None:
    stored = '<p>See <a href="https://example.org/r" rel="noopener noreferrer nofollow">the report</a>.</p>'
    assert edited_summary(stored, "See the report.") == stored
    assert edited_summary(stored, "  See the report.  \n") == stored
    assert edited_summary(stored, "See the new report.") == "<p>See the new report.</p>"


@pytest.fixture
def site(factory) -> Site:
    site = make_site(factory)
    add_items(
        factory,
        [
            entry(
                "Online grooming: a briefing for schools",
                "https://example.org/grooming",
                "<p>First paragraph.</p><p>Second <em>paragraph</em>.</p>",
            )
        ],
    )
    with transaction(factory) as session:
        suggest_new_items(session)
    return site


def the_item(site: Site) -> tuple[int, int]:
    with site.factory() as session:
        placement = session.scalar(select(Placement))
        return placement.item_id, placement.id


def textarea(page: str) -> str:
    found = re.search(r'<textarea name="summary"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no summary box"
    return html.unescape(found[1])


def test_the_item_page_shows_the_summary_as_text_and_saves_it_so(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    item_id, _ = the_item(site)
    assert textarea(client.get(f"/items/{item_id}").text) == "First paragraph.\n\nSecond paragraph."
    saved = client.post(
        f"/items/{item_id}/edit",
        data={
            "title": "Online grooming — a briefing ŵ",
            "summary": "Rewritten <img src=x onerror=alert(1)>.\n\nAnd a second.",
            "csrf_token": csrf_token(client, f"/items/{item_id}"),
            "back": f"/items/{item_id}?back=/items%3Fstatus%3Dall",
        },
        follow_redirects=True,
    )
    assert "Saved: the title and summary." in saved.text
    assert textarea(saved.text) == "Rewritten <img src=x onerror=alert(1)>.\n\nAnd a second."
    assert 'href="/items?status=all" class="back-to-triage"' in saved.text  # the way back kept
    with site.factory() as session:
        item = session.get(Item, item_id)
        assert item.summary_html == (
            "<p>Rewritten &lt;img src=x onerror=alert(1)&gt;.</p><p>And a second.</p>"
        )
        assert item.summary_text == "Rewritten <img src=x onerror=alert(1)>. And a second."
        assert (
            item.original_summary_html == "<p>First paragraph.</p><p>Second <em>paragraph</em>.</p>"
        )


def test_saving_only_the_title_keeps_the_summary_as_it_was(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    item_id, _ = the_item(site)
    page = client.get(f"/items/{item_id}").text
    client.post(
        f"/items/{item_id}/edit",
        data={"title": "A new title", "summary": textarea(page), "csrf_token": csrf_token(client)},
    )
    with site.factory() as session:
        item = session.get(Item, item_id)
        assert item.title == "A new title"
        assert item.summary_html == "<p>First paragraph.</p><p>Second <em>paragraph</em>.</p>"


def test_a_suggested_topic_is_confirmed_on_the_item_page(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    item_id, placement_id = the_item(site)
    page = client.get(f"/items/{item_id}").text
    confirm = re.search(r'action="(/placements/\d+/suggestions/(\d+)/confirm)"', page)
    assert confirm, "no Confirm on the item page"
    done = client.post(
        confirm[1],
        data={"csrf_token": csrf_token(client), "back": f"/items/{item_id}"},
        follow_redirects=True,
    )
    assert "Topic confirmed." in done.text
    with site.factory() as session:
        links = session.get(Placement, placement_id).topic_links
        assert {link.topic_id: link.source for link in links}[int(confirm[2])] is TopicSource.MANUAL
        assert session.scalars(
            select(AuditEntry.action).where(AuditEntry.object_type == "item")
        ).all() == ["item.confirm_topic"]


@pytest.mark.parametrize(
    ("back", "link"),
    [
        (
            "/items?status=all&q=grooming&page=2#placement-7",
            "/items?status=all&amp;q=grooming&amp;page=2#placement-7",
        ),
        ("/items?q=%C5%B5yr+%E5%AD%A6%E6%A0%A1", "/items?q=%C5%B5yr+%E5%AD%A6%E6%A0%A1"),
        ("https://evil.example/items", "/items"),
        ("//evil.example/items", "/items"),
        ("/\\evil.example/items", "/items"),
        ("/admin/users", "/items"),
        ("javascript:alert(1)", "/items"),
        (None, "/items"),
    ],
    ids=[
        "filters page and row",
        "non-ascii words",
        "another site",
        "scheme-relative",
        "backslash",
        "another page",
        "script",
        "none",
    ],
)
def test_back_to_triage_leads_only_to_the_triage_list_as_it_was(
    site: Site, back: str | None, link: str
) -> None:
    item_id, _ = the_item(site)
    page = site.client(Role.LIBRARIAN).get(
        f"/items/{item_id}", query_string={} if back is None else {"back": back}
    )
    assert f'<a href="{link}" class="back-to-triage">Back to triage</a>' in page.text


def test_a_rows_title_leads_to_its_item_with_the_way_back(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    item_id, placement_id = the_item(site)
    page = client.get("/items?status=all&q=grooming").text
    found = re.search(rf'href="(/items/{item_id}\?back=[^"]+)" class="title"', page)
    assert found, "no link to the item"
    item_page = client.get(html.unescape(found[1])).text
    expected = f"/items?status=all&amp;q=grooming#placement-{placement_id}"
    assert f'<a href="{expected}" class="back-to-triage">' in item_page
    # A row refreshed by an action keeps the way back to the page it is on.
    row = client.post(
        f"/placements/{placement_id}/status",
        data={"status": "accepted", "csrf_token": csrf_token(client)},
        headers={
            "HX-Request": "true",
            "HX-Current-URL": "http://localhost/items?status=all&q=grooming",
        },
    ).text
    assert html.unescape(found[1]) in html.unescape(row)
