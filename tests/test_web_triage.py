"""Triage through the web app: the list and its filters, and every decision, audited."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select
from webapp import STAFF, Site, add_items, csrf_token, entry, make_site, placements

from digest.curation import decisions, items
from digest.curation.items import ItemFilter, page_of_items, placement_query
from digest.db import transaction
from digest.editions.schedule import next_send_time
from digest.models import (
    AuditEntry,
    Feed,
    Item,
    ItemStatus,
    Placement,
    Role,
    Section,
    Topic,
    TopicSource,
)
from digest.web import triage


@pytest.fixture
def site(factory) -> Site:
    site = make_site(factory)
    add_items(
        factory,
        [
            entry(
                "Sextortion of teenage boys: what schools should know",
                "https://example.org/sextortion",
                "<p>Online coercion and blackmail.</p>",
            ),
            entry(
                "Neglect in adolescence",
                "https://example.org/neglect",
                "<p>Older children and neglect.</p>",
            ),
            entry(
                "Working together to safeguard children",
                "https://example.org/wt",
                "<p>Statutory guidance.</p>",
            ),
        ],
    )
    return site


def ids_by_title(site: Site) -> dict[str, int]:
    """Each item's place in CASPAR (what triage decides on), by the title's first word."""
    with site.factory() as session:
        return {
            title.split(":")[0].split(" ")[0]: placement_id
            for placement_id, title in session.execute(
                select(Placement.id, Item.title).join(Placement.item)
            )
        }


def audit_actions(site: Site) -> list[tuple[str, str]]:
    with site.factory() as session:
        return [
            (e.actor, e.action)
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.object_type == "item").order_by(AuditEntry.id)
            )
        ]


def test_inbox_lists_new_items_with_search_and_filters(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    page = client.get("/items").text
    assert "3 items" in page
    # Newest first; of items stored together, the last stored first.
    titles = [
        "Working together to safeguard children",
        "Neglect in adolescence",
        "Sextortion of teenage boys",
    ]
    assert [page.index(t) for t in titles] == sorted(page.index(t) for t in titles)
    found = client.get("/items?q=blackmail").text
    assert "1 item." in found and "Sextortion of teenage boys" in found
    prefix = client.get("/items?q=neglec").text
    assert "1 item." in prefix, prefix[prefix.index('class="count"') :][:80]  # a prefix
    assert "0 items" in client.get("/items?status=accepted").text
    with site.factory() as session:
        section = session.scalar(select(Section).where(Section.name == "Policy"))
    assert "3 items" in client.get(f"/items?section={section.id}").text
    assert "0 items" in client.get("/items?since=2099-01-01").text


def test_accept_with_htmx_returns_the_new_row(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    placement_id = ids_by_title(site)["Neglect"]
    response = client.post(
        f"/placements/{placement_id}/status",
        data={"status": "accepted", "csrf_token": csrf_token(client, "/")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<tr id="placement-{placement_id}"')
    assert "status-accepted" in response.text
    with site.factory() as session:
        assert session.get(Placement, placement_id).status is ItemStatus.ACCEPTED
    assert audit_actions(site) == [(STAFF[Role.LIBRARIAN], "item.accepted")]


def test_tag_place_and_edit_keep_the_original(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    token = csrf_token(client, "/")
    placement_id = ids_by_title(site)["Sextortion"]
    with site.factory() as session:
        topics = {t.slug: t.id for t in session.scalars(select(Topic))}
        research = session.scalar(select(Section.id).where(Section.name == "Research"))
        item_id = session.get(Placement, placement_id).item_id
    client.post(
        f"/placements/{placement_id}/tag", data={"topic": "Online grooming", "csrf_token": token}
    )
    client.post(
        f"/placements/{placement_id}/topics",
        data={"topic": [topics["online-grooming"], topics["online-abuse"]], "csrf_token": token},
    )
    client.post(
        f"/placements/{placement_id}/place", data={"section": research, "csrf_token": token}
    )
    client.post(
        f"/items/{item_id}/edit",
        data={
            "title": "Sextortion: advice for schools",
            "summary": 'Rewritten <a href="javascript:alert(1)">by us</a>.',
            "csrf_token": token,
        },
    )
    with site.factory() as session:
        item = session.get(Item, item_id)
        placement = session.get(Placement, placement_id)
        assert sorted(
            (link.topic.slug, link.source, link.added_by) for link in placement.topic_links
        ) == [
            ("online-abuse", TopicSource.MANUAL, STAFF[Role.LIBRARIAN]),
            ("online-grooming", TopicSource.MANUAL, STAFF[Role.LIBRARIAN]),
        ]
        assert placement.section.name == "Research"
        assert item.title == "Sextortion: advice for schools"
        # What is typed is text: shown as typed, never taken as markup.
        assert item.summary_html == (
            '<p>Rewritten &lt;a href="javascript:alert(1)"&gt;by us&lt;/a&gt;.</p>'
        )
        assert item.original_title == "Sextortion of teenage boys: what schools should know"
    page = client.get(f"/items/{item_id}").text
    assert "<summary>The feed's original wording</summary>" in page
    assert "Sextortion of teenage boys: what schools should know" in page
    # The search index follows the edit.
    assert "1 item." in client.get("/items?status=all&q=advice schools").text
    assert "0 items" in client.get("/items?status=all&q=teenage boys").text
    assert [action for _, action in audit_actions(site)] == [
        "item.tag",
        "item.tag",
        "item.place",
        "item.edit",
    ]


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("Gardening", "No topic called “Gardening”: choose one from the list."),
        ("  Jardinería   ŵyr  ", "No topic called “Jardinería ŵyr”: choose one from the list."),
        ("<b>Bold</b>", "No topic called “&lt;b&gt;Bold&lt;/b&gt;”: choose one from the list."),
        ("", "Type a topic&#39;s name, or choose one from the list."),
        ("Retired theme", "The topic “Retired theme” is retired: choose another from the list."),
    ],
    ids=["unknown", "non-ascii", "markup", "empty", "retired"],
)
def test_a_topic_name_that_is_no_topic_is_said_on_the_row_at_once(
    site: Site, typed: str, said: str
) -> None:
    with transaction(site.factory) as session:
        session.add(Topic(slug="retired-theme", label="Retired theme", retired=True))
    client = site.client(Role.LIBRARIAN)
    placement_id = ids_by_title(site)["Neglect"]
    response = client.post(
        f"/placements/{placement_id}/tag",
        data={"topic": typed, "csrf_token": csrf_token(client, "/")},
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/items?status=new"},
    )
    assert response.status_code == 200  # htmx swaps it in: the row, saying what is wrong
    row = response.text
    assert row.lstrip().startswith(f'<tr id="placement-{placement_id}"')
    assert f'role="alert">{said}</p>' in row
    assert 'aria-invalid="true"' in row  # and what was typed is still in the box
    assert audit_actions(site) == []
    # Without htmx, the same words at the top of the page the form came from.
    plain = client.post(
        f"/placements/{placement_id}/tag",
        data={"topic": typed, "csrf_token": csrf_token(client, "/"), "back": "/items"},
        follow_redirects=True,
    )
    assert said in plain.text


@pytest.mark.parametrize(
    "typed", ["online grooming", "ONLINE GROOMING", "Online  grooming", "online-grooming"]
)
def test_a_topic_is_found_by_its_label_or_slug_in_any_case_or_spacing(
    site: Site, typed: str
) -> None:
    client = site.client(Role.LIBRARIAN)
    placement_id = ids_by_title(site)["Neglect"]
    row = client.post(
        f"/placements/{placement_id}/tag",
        data={"topic": typed, "csrf_token": csrf_token(client, "/")},
        headers={"HX-Request": "true"},
    ).text
    assert "row-problem" not in row and ">Online grooming</span>" in row
    assert audit_actions(site) == [(STAFF[Role.LIBRARIAN], "item.tag")]


def test_a_topic_with_a_non_ascii_label_is_found_in_any_unicode_form(site: Site) -> None:
    with transaction(site.factory) as session:
        session.add(Topic(slug="cam-drin-plant", label="Cam-drin plant — Lleoliad ŵyr é"))
    client = site.client(Role.LIBRARIAN)
    placement_id = ids_by_title(site)["Neglect"]
    decomposed = "cam-drin plant — lleoliad w\u0302yr e\u0301"  # as some keyboards send it
    row = client.post(
        f"/placements/{placement_id}/tag",
        data={"topic": decomposed, "csrf_token": csrf_token(client, "/")},
        headers={"HX-Request": "true"},
    ).text
    assert "row-problem" not in row and ">Cam-drin plant — Lleoliad ŵyr é</span>" in row


def test_bulk_accept_and_tag(site: Site) -> None:
    client = site.client(Role.EDITOR)
    token = csrf_token(client, "/")
    ids = list(ids_by_title(site).values())
    with site.factory() as session:
        neglect = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
    accepted = client.post(
        "/items/bulk",
        data={"placement": ids[:2], "action": "accepted", "csrf_token": token},
        follow_redirects=True,
    )
    assert "2 items accepted." in accepted.text
    tagged = client.post(
        "/items/bulk",
        data={"placement": ids, "action": "tag", "topic": neglect, "csrf_token": token},
        follow_redirects=True,
    )
    assert "3 items tagged “Neglect”." in tagged.text
    one = client.post(
        "/items/bulk",
        data={"placement": ids[:1], "action": "rejected", "csrf_token": token},
        follow_redirects=True,
    )
    assert "1 item rejected." in one.text
    with site.factory() as session:
        statuses = sorted(s.value for s in session.scalars(select(Placement.status)))
        tagged = [
            [link.topic.slug for link in placement.topic_links]
            for placement in session.scalars(select(Placement))
        ]
    assert statuses == ["accepted", "new", "rejected"]
    assert all("neglect" in slugs for slugs in tagged)


@pytest.mark.parametrize(
    ("topic", "said"),
    [
        (None, "Choose a topic to tag the selected items with."),
        ("", "Choose a topic to tag the selected items with."),
        ("retired", "The topic “Old — ŵ” is retired: choose another from the list."),
    ],
    ids=["absent", "the placeholder", "retired"],
)
def test_bulk_tagging_without_a_topic_chosen_says_so_and_changes_nothing(
    site: Site, topic: str | None, said: str
) -> None:
    client = site.client(Role.LIBRARIAN)
    if topic == "retired":
        with transaction(site.factory) as session:
            retired = Topic(slug="old", label="Old — ŵ", retired=True)
            session.add(retired)
            session.flush()
            topic = str(retired.id)
    data = {"placement": list(ids_by_title(site).values()), "action": "tag", "back": "/items"}
    page = client.post(
        "/items/bulk",
        data={**data, "csrf_token": csrf_token(client, "/items")}
        | ({} if topic is None else {"topic": topic}),
        follow_redirects=True,
    )
    assert page.status_code == 200
    assert said in page.text
    assert audit_actions(site) == []


def test_the_bulk_topic_has_no_topic_chosen_until_one_is(site: Site) -> None:
    page = site.client(Role.LIBRARIAN).get("/items").text
    bulk = page[page.index('<form id="bulk"') :][
        : page[page.index('<form id="bulk"') :].index("</form>")
    ]
    select_start = bulk.index('<select name="topic"')
    assert "required" in bulk[select_start : bulk.index(">", select_start)]
    options = re.findall(r"<option([^>]*)>([^<]*)", bulk)
    assert options[0] == (' value="" selected', "Choose a topic…")
    assert all("selected" not in attributes for attributes, _ in options[1:])


def test_dashboard_counts(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    placement_id = ids_by_title(site)["Neglect"]
    client.post(
        f"/placements/{placement_id}/status",
        data={"status": "accepted", "csrf_token": csrf_token(client, "/")},
    )
    page = client.get("/").text
    assert "<strong>2</strong> new items waiting" in page
    assert "<strong>1</strong> item accepted this week" in page
    assert "Next edition goes out Tue " in page


def test_admin_pauses_and_resumes_a_feed_and_sees_it_in_the_audit_log(site: Site) -> None:
    client = site.client(Role.ADMIN)
    token = csrf_token(client, "/")
    page = client.get("/admin/feeds").text
    assert "Test feed" in page and "Not polled yet." in page
    with site.factory() as session:
        feed_id = session.scalar(select(Feed.id).where(Feed.name == "Test feed"))
    client.post(f"/admin/feeds/{feed_id}/pause", data={"csrf_token": token})
    assert f"Paused by {STAFF[Role.ADMIN]}." in client.get("/admin/feeds").text
    client.post(f"/admin/feeds/{feed_id}/resume", data={"csrf_token": token})
    audit = client.get("/admin/audit?object=feed").text
    assert "feed.pause" in audit and "feed.resume" in audit
    assert "<td>item." not in client.get("/admin/audit?action=feed.").text


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 10, 24, 12, 0, tzinfo=UTC), datetime(2026, 10, 27, 9, 0, tzinfo=UTC)),
        # a Tuesday, a minute before 09:00 BST
        (datetime(2026, 6, 2, 7, 59, tzinfo=UTC), datetime(2026, 6, 2, 8, 0, tzinfo=UTC)),
        (datetime(2026, 6, 2, 8, 0, 1, tzinfo=UTC), datetime(2026, 6, 9, 8, 0, tzinfo=UTC)),
    ],
    ids=[
        "saturday before the October change: GMT",
        "a minute before, in summer: BST",
        "a second after, in summer: next week",
    ],
)
def test_next_send_time_follows_the_local_clock(now: datetime, expected: datetime) -> None:
    # Tuesday 09:00 London: GMT in winter, BST (UTC+1) in summer, across the October change.
    assert next_send_time(1, time(9, 0), "Europe/London", now) == expected


def test_pages_follow_one_another_without_a_count(site: Site) -> None:
    """The list is never counted past the page shown: each page says whether another follows,
    and the pages together are the whole list, newest first, each row once."""

    with site.factory() as session:
        whole = list(session.scalars(placement_query(ItemFilter(), "sqlite")))
        pages = [page_of_items(session, ItemFilter(), number, size=2) for number in (1, 2, 3)]
    assert [p.more for p in pages] == [True, False, False]
    assert [p.total for p in pages] == [2, 3, 4]  # the last: past the end, nothing on it
    assert [x.id for p in pages for x in p.placements] == [x.id for x in whole]
    client = site.client(Role.LIBRARIAN)
    assert "3 items" in client.get("/items").text
    assert 'rel="next"' not in client.get("/items").text


@pytest.mark.parametrize("words", ["neglec", "working", "statutory guid", "SEXTORTION", "zzz"])
@pytest.mark.parametrize("chunks", [1, 100])  # walking gives up at once, or walks to the end
def test_a_search_page_by_page_finds_what_listing_every_match_finds(
    site: Site, monkeypatch: pytest.MonkeyPatch, words: str, chunks: int
) -> None:
    """On SQLite a search walks the list a chunk at a time, and falls back to listing every
    match when the words are rare; either way the pages are the matches, newest first."""

    monkeypatch.setattr(items, "WALK_CHUNK", 1)
    monkeypatch.setattr(items, "WALK_CHUNKS", chunks)
    wanted = items.ItemFilter(text=words)
    with site.factory() as session:
        dialect = session.get_bind().dialect.name
        every = [p.id for p in session.scalars(items.placement_query(wanted, dialect))]
        pages = [items.page_of_items(session, wanted, number, size=1) for number in (1, 2, 3, 4)]
    assert [p.id for page in pages for p in page.placements] == every
    assert len(every) == (0 if words == "zzz" else 1)


OLDER = re.compile(r'<a href="([^"]+)" rel="next">')
NEWER = re.compile(r'<a href="([^"]+)" rel="prev">')
ROW = re.compile(r'<tr id="placement-(\d+)"')


def shown(page: str) -> list[int]:
    return [int(found) for found in ROW.findall(page)]


def follow(client, url: str, link: re.Pattern[str]) -> list[tuple[str, list[int]]]:
    """Every page from `url` on, following `link` until a page has none: (url, rows)."""
    pages = []
    while True:
        page = client.get(url)
        assert page.status_code == 200, url
        pages.append((url, shown(page.text)))
        found = link.search(page.text)
        if found is None:
            return pages
        url = html.unescape(found[1])


@pytest.fixture
def archive_of_a_library(factory) -> Site:
    """Twenty-six items over nine days, three at each moment (a tie broken by id): every
    other one about neglect (its words and its topic), every fifth rejected."""
    moment = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    entries = [
        replace(
            entry(
                f"Report {n}",
                f"https://example.org/report/{n}",
                "<p>Neglect of older children.</p>" if n % 2 else "<p>Online safety.</p>",
            ),
            published=moment - timedelta(days=n // 3),
        )
        for n in range(26)
    ]
    chosen = placements(factory, add_items(factory, entries))
    with transaction(factory) as session:
        neglect = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
        decisions.set_topics(session, chosen[1::2], [neglect], "librarian")
        decisions.set_status(session, chosen[::5], ItemStatus.REJECTED, "librarian")
    return make_site(factory)


@pytest.mark.parametrize("by", ["filters", "words"])
def test_a_filtered_list_pages_through_every_match_once_by_its_links(
    archive_of_a_library: Site, monkeypatch: pytest.MonkeyPatch, by: str
) -> None:
    """Older links lead through every matching item once, newest first, with no repeat and
    no gap, keeping the filters; Newer links lead back through the same pages."""

    monkeypatch.setattr(triage, "PAGE_SIZE", 4)
    monkeypatch.setattr(items, "WALK_CHUNK", 3)  # a search on SQLite walks in several chunks
    site = archive_of_a_library
    with site.factory() as session:
        section = session.scalar(select(Section).where(Section.name == "Policy"))
        neglect = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
        wanted = items.ItemFilter(
            status=ItemStatus.NEW,
            newsletter_id=section.newsletter_id,
            section_id=section.id,
            topic_id=neglect if by == "filters" else None,
            text="neglect" if by == "words" else "",
        )
        dialect = session.get_bind().dialect.name
        every = [p.id for p in session.scalars(items.placement_query(wanted, dialect))]
    assert len(every) == 10  # the thirteen about neglect, less three rejected
    asked = f"status=new&newsletter={section.newsletter_id}&section={section.id}&" + (
        f"topic={neglect}" if by == "filters" else "q=neglect"
    )
    client = site.client(Role.LIBRARIAN)
    older = follow(client, f"/items?{asked}", OLDER)
    assert [rows for _, rows in older] == [every[0:4], every[4:8], every[8:10]]
    for url, _ in older[1:]:  # each link keeps every filter, and counts the pages
        assert all(part in url for part in asked.split("&")), url
    assert [f"page={n}" in url for n, (url, _) in enumerate(older, 1)] == [False, True, True]
    last = client.get(older[-1][0]).text
    assert "Page 3, the last." in last
    newer = follow(client, older[-1][0], NEWER)
    assert [rows for _, rows in newer] == [every[8:10], every[4:8], every[0:4]]
    assert "More than 4 items, page 1." in client.get(newer[-1][0]).text


def test_deciding_a_page_hides_none_of_the_next(archive_of_a_library: Site, monkeypatch) -> None:
    """A librarian accepts every item of the first page, then follows Older: the next page
    is the one that followed them, not one further on."""

    monkeypatch.setattr(triage, "PAGE_SIZE", 4)
    client = archive_of_a_library.client(Role.LIBRARIAN)
    first = client.get("/items").text
    expected = follow(client, "/items", OLDER)[1][1]
    token = csrf_token(client, "/items")
    accepted = client.post(
        "/items/bulk",
        data={
            "csrf_token": token,
            "action": "accepted",
            "placement": shown(first),
            "back": "/items",
        },
    )
    assert accepted.status_code == 302
    older = html.unescape(OLDER.search(first)[1])  # the link on the page as it was read
    assert shown(client.get(older).text) == expected
    assert not set(shown(client.get("/items").text)) & set(shown(first))


@pytest.mark.parametrize("cursor", ["yesterday", "20260601T090000000000", "1-2", "<b>"])
def test_a_broken_place_in_the_list_is_refused_in_words(site: Site, cursor: str) -> None:
    page = site.client(Role.LIBRARIAN).get("/items", query_string={"after": cursor})
    assert page.status_code == 400
    assert "is not a place in the list" in page.text and "<b>" not in page.text
