"""Pages and emails tell the time one way, on the right clock: a newsletter's own (Berlin, New
York, across their clock changes), else the configured default. Once an edition is sending or
sent, every page that said when it goes out says since when, or when it went. Counts meet their
nouns in the right number; a failure and a success look different; a sentence shown alone
starts with a capital; the send over time is charted for a short and a long send alike."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from delivery_helpers import add_subscribers, approved_edition, sent_edition_over_time
from webapp import add_items, csrf_token, entry, make_site

from digest.db import transaction
from digest.delivery import queue
from digest.delivery.timeline import MOST_BARS
from digest.editions.render import render_cut
from digest.models import Edition, EditionState, Role

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(
    p for p in (ROOT / "templates").rglob("*") if p.suffix in (".html", ".txt") and p.is_file()
)
# A template formatting a time itself, or cutting ISO text, instead of using `|date`/`|datetime`.
OWN_FORMAT = re.compile(r"strftime|isoformat|\[:10\]|\.(day|month|year|hour|minute)\b")
# `{{ something_at }}` with no filter: Python's own "2026-12-01 09:00:00+00:00".
UNFILTERED = re.compile(r"\{\{-?\s*([\w.]+|[\w.]+\[[^\]]*\])\s*-?\}\}")
TIME_NAMES = re.compile(r"(_at|\.at|published|period_start|\.start|\.end|\.first)$")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# "1 items": a count of one with a plural noun (words that follow a number and end in s anyway
# are left out).
ONE_PLURAL = re.compile(r"(?<![\d,.])\b1 ((?!was\b|has\b|does\b)[a-z]{3,}s)\b")


def text_of(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_no_template_writes_a_time_its_own_way(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    own = [m.group(0) for m in OWN_FORMAT.finditer(source)]
    raw = [m[1] for m in UNFILTERED.finditer(source) if TIME_NAMES.search(m[1])]
    assert own == [] and raw == [], f"use |date or |datetime: {own + raw}"


def set_edition(factory, edition_id: int, **values: object) -> None:
    with transaction(factory) as session:
        edition = session.get(Edition, edition_id)
        zone = values.pop("timezone", None)
        if zone:
            edition.newsletter.timezone = zone
        for name, value in values.items():
            setattr(edition, name, value)


STARTED = datetime(2026, 12, 1, 5, 26, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"state": EditionState.SENDING}, "Sending since Tue 1 Dec 2026, 05:26 GMT"),
        (
            {"state": EditionState.SENT, "sent_at": STARTED + timedelta(minutes=4)},
            "Sent Tue 1 Dec 2026, 05:30 GMT",
        ),
    ],
)
def test_once_sending_every_page_says_since_when_or_when_it_went(
    factory, changes: dict[str, object], words: str
) -> None:
    site = make_site(factory)
    edition_id = approved_edition(factory)  # approved to go out on Tue 6 Jan 2099
    editor = site.client(Role.EDITOR)
    assert "Goes out Tue 6 Jan 2099, 09:00 GMT" in text_of(editor.get("/editions").text)
    set_edition(factory, edition_id, sending_started_at=STARTED, **changes)
    for path in ("/", "/editions", f"/editions/{edition_id}"):
        shown = text_of(editor.get(path).text)
        assert words in shown, path
        assert "Goes out" not in shown and "2099" not in shown, path


def test_the_dashboard_gives_the_following_week_once_this_weeks_edition_is_sent(factory) -> None:
    site = make_site(factory)
    edition_id = approved_edition(factory)
    set_edition(factory, edition_id, state=EditionState.SENT, sending_started_at=STARTED)
    set_edition(factory, edition_id, sent_at=STARTED)
    shown = text_of(site.client(Role.LIBRARIAN).get("/").text)
    assert "This week's edition: Sent Tue 1 Dec 2026, 05:26 GMT" in shown
    with site.factory() as session:
        week = session.get(Edition, edition_id).period_start
    following = re.search(r"Next edition goes out \w{3} (\d+) (\w{3}) (\d{4}), 09:00 GMT", shown)
    assert following, shown
    assert datetime.strptime(" ".join(following.groups()), "%d %b %Y").date() > week + timedelta(
        days=6
    )  # not this week's slot, which the sent edition took


@pytest.mark.parametrize(
    ("zone", "send_at", "words"),
    [
        ("America/New_York", datetime(2026, 10, 27, 13, tzinfo=UTC), "Tue 27 Oct 2026, 09:00 EDT"),
        ("America/New_York", datetime(2026, 11, 3, 14, tzinfo=UTC), "Tue 3 Nov 2026, 09:00 EST"),
        ("Europe/Berlin", datetime(2026, 10, 20, 7, tzinfo=UTC), "Tue 20 Oct 2026, 09:00 CEST"),
        ("Europe/Berlin", datetime(2026, 10, 27, 8, tzinfo=UTC), "Tue 27 Oct 2026, 09:00 CET"),
    ],
)
def test_an_editions_time_is_on_its_newsletters_clock_across_its_clock_change(
    factory, zone: str, send_at: datetime, words: str
) -> None:
    site = make_site(factory)
    edition_id = approved_edition(factory)
    set_edition(factory, edition_id, timezone=zone, send_at=send_at)
    editor = site.client(Role.EDITOR)
    for path in ("/editions", f"/editions/{edition_id}"):
        assert f"Goes out {words}" in text_of(editor.get(path).text), path
    assert f"Next edition goes out {words}" in text_of(editor.get("/").text)


def test_the_email_and_the_archive_write_dates_in_the_one_style(factory) -> None:
    site = make_site(factory)
    edition_id = approved_edition(factory)
    late = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)  # already the 19th in Berlin
    with transaction(factory) as session:
        edition = session.get(Edition, edition_id)
        edition.newsletter.timezone = "Europe/Berlin"
        for each in edition.entries:
            each.frozen = {**each.frozen, "published": late.isoformat()}
        edition.state, edition.sent_at = EditionState.SENT, STARTED
        mail = render_cut(edition, None, "https://digest.example.org/archive")
        monday = edition.period_start
    week = f"Week commencing Mon {monday.day} {monday:%b %Y}"
    for part in (mail.html, mail.text):
        assert week in text_of(part) and "Thu 19 Nov 2026" in part
        assert ISO_DATE.findall(text_of(part)) == []
    archived = site.client().get(f"/archive/caspar/{edition_id}").text
    assert "Date: Thu 19 Nov 2026" in archived and ISO_DATE.findall(text_of(archived)) == []


def test_staff_pages_about_no_one_newsletter_use_the_configured_timezone(factory) -> None:
    site = make_site(factory, timezone="America/New_York")
    approved_edition(factory)  # written in the audit log
    page = text_of(site.client(Role.ADMIN).get("/admin/audit").text)
    assert re.search(r"\w{3} \d+ \w{3} \d{4}, \d\d:\d\d:\d\d E[SD]T", page), page


@pytest.mark.parametrize("n", [0, 1, 2])
def test_counts_meet_their_nouns_in_the_right_number(factory, n: int) -> None:
    site = make_site(factory)
    add_items(factory, [entry(f"Item {k}", f"https://example.org/{k}") for k in range(n)])
    if n:
        add_subscribers(factory, n)
    editor = site.client(Role.EDITOR)
    noun = {1: "item"}.get(n, "items")
    pages = {
        "/": f"{n} new {noun} waiting",
        "/items?status=all": f"{n} {noun}.",
        "/subscribers": f"{n} subscriber{'' if n == 1 else 's'}.",
        "/duplicates": "",
        "/editions": "",
    }
    for path, expected in pages.items():
        shown = text_of(editor.get(path).text)
        assert expected in shown, (path, expected)
        assert ONE_PLURAL.findall(shown) == [], path


def test_an_edition_with_one_item_and_one_subscriber_says_so(factory) -> None:
    site = make_site(factory)
    edition_id = approved_edition(factory)
    with transaction(factory) as session:
        edition = session.get(Edition, edition_id)
        del edition.entries[1:]
        edition.state, edition.sent_at = EditionState.SENT, STARTED
    add_subscribers(factory, 1)
    shown = text_of(site.client(Role.EDITOR).get(f"/editions/{edition_id}").text)
    assert "1 subscriber" in shown and ONE_PLURAL.findall(shown) == []
    archive = text_of(site.client().get("/archive/caspar").text)
    assert "1 edition." in archive and "(1 item)" in archive
    assert ONE_PLURAL.findall(archive) == []
    feed = site.client().get("/archive/caspar/feed.atom").text
    assert "1 item." in feed and "1 items" not in feed


def test_an_error_and_a_success_look_different(factory) -> None:
    site = make_site(factory)
    edition_id = approved_edition(factory)
    editor = site.client(Role.EDITOR)
    refused = editor.post(
        f"/editions/{edition_id}/state",
        data={"action": "approve", "csrf_token": csrf_token(editor, "/")},
        follow_redirects=True,
    ).text
    assert re.search(r'<p class="flash error" role="alert">Not changed: [^<]+\.</p>', refused)
    signed_out = editor.post(
        "/logout", data={"csrf_token": csrf_token(editor, "/")}, follow_redirects=True
    ).text
    assert '<p class="flash success" role="status">You are signed out.</p>' in signed_out


# Calls whose string arguments a person reads as sentences of their own (flash: its first;
# the second is its category).
SHOWN = {"flash", "decide_then_back", "_change", "_page"}
SHOWN_KEYWORDS = {"error", "message", "reason", "note"}


def _sentences(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, opening text) of each string a person reads as a sentence on its own."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        values = list(node.args[:1] if name == "flash" else node.args) if name in SHOWN else []
        values += [k.value for k in node.keywords if k.arg in SHOWN_KEYWORDS]
        for value in values:
            if isinstance(value, ast.IfExp):
                values += [value.body, value.orelse]
            elif isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.append((node.lineno, value.value))
            elif isinstance(value, ast.JoinedStr) and isinstance(value.values[0], ast.Constant):
                found.append((node.lineno, str(value.values[0].value)))
    return found


@pytest.mark.parametrize(
    "path", sorted((ROOT / "digest" / "web").glob("*.py")), ids=lambda p: p.name
)
def test_every_message_shown_alone_starts_with_a_capital(path: Path) -> None:
    sentences = _sentences(ast.parse(path.read_text(encoding="utf-8")))
    lower = [(line, text) for line, text in sentences if text[:1].islower()]
    assert lower == [], f"{path.name}: sentences starting in lower case: {lower}"


def test_a_links_reason_shown_alone_starts_with_a_capital(factory) -> None:
    site = make_site(factory)
    page = text_of(site.client().get("/confirm/not-a-real-token").text)
    assert "This link is not valid." in page


@pytest.mark.parametrize(
    ("spacing", "every", "labels"),
    [
        (timedelta(seconds=1), "second", ("09:00:00", "09:00:40")),  # 40 seconds
        (timedelta(seconds=270), "5 minutes", ("09:00", "12:00")),  # nearly 3 hours
    ],
)
def test_the_send_over_time_is_charted_for_a_short_and_a_long_send(
    factory, spacing: timedelta, every: str, labels: tuple[str, str]
) -> None:
    site = make_site(factory)
    edition_id = sent_edition_over_time(factory, spacing)
    with site.factory() as session:
        line = queue.timeline(session, edition_id)
    assert sum(line.counts) == 40 and line.interval == every
    assert 10 <= len(line) <= MOST_BARS  # some dozens of bars, not one square
    page = site.client(Role.EDITOR).get(f"/editions/{edition_id}/progress").text
    assert f"Messages finished every {every}" in page
    assert page.count("<rect") == len(line)
    axis = re.search(r'<div class="timeline-x"[^>]*>(.*?)</div>', page, re.S)
    assert axis and text_of(axis[1]).split()[0] == labels[0]
    assert text_of(axis[1]).split()[-1] == labels[1]
    assert re.search(r'<div class="timeline-y"[^>]*><span>\d+</span><span>0</span>', page)
