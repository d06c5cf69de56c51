"""The email itself: each subscriber's cut, and the bytes on the wire (DESIGN.md §4)."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email.policy import default

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from webapp import add_items, entry, placements

from digest.cli import cli
from digest.curation import decisions
from digest.db import transaction
from digest.editions import compose
from digest.editions.message import MailSettings, archive_url, build_message, subscriber_links
from digest.editions.render import HTML_BUDGET, render_cut
from digest.models import (
    Edition,
    ItemStatus,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.subscriptions.manage import subscription_for
from digest.subscriptions.tokens import InvalidToken, check_token, subscription_token

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
KEYS = ["old-key", "current-key"]
SETTINGS = MailSettings("https://digest.example.org")
ITEMS = [  # title, section, topic
    ("Sextortion: advice for schools", "Policy", "online-grooming"),
    ("Neglect in adolescence", "Research", "neglect"),
    ("Serious case review: Child Q", "Practice", "neglect"),
    ("Online abuse statistics", "News", "online-abuse"),
]


@pytest.fixture
def edition_id(factory) -> int:
    ids = add_items(
        factory,
        [
            entry(
                title, f"https://example.org/{n}", f"<p>Summary of <b>{title}</b> &amp; more.</p>"
            )
            for n, (title, _, _) in enumerate(ITEMS)
        ],
    )
    with transaction(factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        sections = {s.name: s.id for s in newsletter.sections}
        topics = {t.slug: t for t in session.scalars(select(Topic))}
        chosen = placements(factory, ids)
        for placement_id, (_, section, topic) in zip(chosen, ITEMS, strict=True):
            decisions.place(session, placement_id, sections[section], "librarian")
            decisions.set_topics(session, [placement_id], [topics[topic].id], "librarian")
        decisions.set_status(session, chosen, ItemStatus.ACCEPTED, "librarian")
        edition = compose.build_draft(session, newsletter, "editor", NOW)
        compose.set_text(
            session,
            edition,
            "CASPAR: week commencing 23 November 2026",
            "Welcome to this week's round-up.",
            "editor",
        )
        compose.approve(session, edition, "editor", now=NOW)
        for email_address, name, chosen in [
            ("all@example.org", "Ann O'Neil", []),
            ("neglect@example.org", "Ben", ["neglect"]),
            ("legal@example.org", "", ["legislation-and-policy"]),
        ]:
            subscriber = Subscriber(email=email_address, name=name)
            subscriber.subscriptions.append(
                Subscription(
                    newsletter=newsletter,
                    status=SubscriberStatus.ACTIVE,
                    topics=[topics[slug] for slug in chosen],
                )
            )
            session.add(subscriber)
        return edition.id


def message_for(factory, edition_id: int, address: str) -> bytes:
    with factory() as session:
        edition = session.get(Edition, edition_id)
        subscription = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == address)
        )
        topics = frozenset(t.slug for t in subscription.topics)
        rendered = render_cut(edition, topics, archive_url(edition, SETTINGS))
        return build_message(edition, subscription, rendered, SETTINGS, KEYS, NOW)


def parts(raw: bytes) -> tuple[email.message.EmailMessage, str, str]:
    message = email.message_from_bytes(raw, policy=default)
    text = message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    return message, text, page


def test_headers_are_complete_and_list_unsubscribe_is_never_encoded(factory, edition_id) -> None:
    raw = message_for(factory, edition_id, "all@example.org")
    message, _, _ = parts(raw)
    for header in (
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Auto-Submitted",
    ):
        assert message[header], header
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Id"] == "CASPAR <caspar.digest.test>"
    assert re.fullmatch(
        rf"<edition-{edition_id}\.subscription-\d+\.[0-9a-f]{{16}}@digest\.test>",
        message["Message-ID"],
    )
    line = next(line for line in raw.split(b"\r\n") if line.startswith(b"List-Unsubscribe:"))
    assert re.fullmatch(
        rb"List-Unsubscribe: <https://digest\.example\.org/u/[\w.-]+>, "
        rb"<mailto:unsubscribe\+[\w.-]+@digest\.test>",
        line,
    ), line
    assert b"=?" not in line
    https_token = re.search(rb"/u/([\w.-]+)>", line)[1].decode()
    assert b"all@example.org" not in https_token.encode()
    with factory() as session:
        assert subscription_for(session, https_token, KEYS).subscriber.email == "all@example.org"


def test_parts_are_quoted_printable_text_then_html(factory, edition_id) -> None:
    raw = message_for(factory, edition_id, "all@example.org")
    message = email.message_from_bytes(raw, policy=default)
    assert message.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in message.iter_parts()]
    assert types == ["text/plain", "text/html"]
    for part in message.iter_parts():
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content_charset() == "utf-8"
    assert b"base64" not in raw.lower()


def test_text_and_html_say_the_same(factory, edition_id) -> None:
    _, text, page = parts(message_for(factory, edition_id, "all@example.org"))
    for title, section, _ in ITEMS:
        assert title in text and title in page.replace("&amp;", "&")
        assert section in text and section in page
    assert "Summary of Neglect in adolescence & more." in text
    assert "Source: Test feed · " in text and "Source: Test feed" in page
    assert "Dear Ann O'Neil," in text and "Dear Ann O'Neil," in page
    assert "Welcome to this week's round-up." in text
    for words in ("Unsubscribe", "Manage your preferences", "View this edition online"):
        assert words in text and words in page
    assert '<html lang="en"' in page and 'role="presentation"' in page
    assert 'name="color-scheme"' in page
    assert "style=" in page  # CSS is inlined
    assert len(page.encode()) < HTML_BUDGET


def test_each_subscriber_gets_the_cut_of_their_topics(factory, edition_id) -> None:
    _, text, page = parts(message_for(factory, edition_id, "neglect@example.org"))
    assert "Neglect in adolescence" in text and "Serious case review: Child Q" in text
    assert "Sextortion" not in text and "Online abuse statistics" not in page
    assert "== Policy ==" not in text and ">Policy<" not in page  # empty sections go
    assert "== Research ==" in text and "== Practice ==" in text
    _, text, _ = parts(message_for(factory, edition_id, "legal@example.org"))
    assert "There is nothing in your topics this week." in text
    assert "Dear colleague," in text


def test_sections_come_in_the_newsletters_order_whatever_the_items_order(
    factory, edition_id
) -> None:
    with transaction(factory) as session:  # the editor's order turned upside down
        entries = session.get(Edition, edition_id).entries
        for position, entry in enumerate(reversed(entries)):
            entry.position = position
    _, text, page = parts(message_for(factory, edition_id, "all@example.org"))
    configured = ["Policy", "Research", "Practice", "News"]
    assert re.findall(r"^== (.+) ==\r?$", text, re.MULTILINE) == configured
    assert re.findall(r'<h2 [^>]*class="section"[^>]*>([^<]+)</h2>', page) == configured


def test_rendering_once_per_cut_equals_rendering_per_subscriber(factory, edition_id) -> None:
    with factory() as session:
        edition = session.get(Edition, edition_id)
        for subscription in session.scalars(select(Subscription)):
            topics = frozenset(t.slug for t in subscription.topics)
            links = subscriber_links(subscription, edition, SETTINGS, KEYS)
            shared = render_cut(edition, topics, archive_url(edition, SETTINGS))
            naive = render_cut(edition, topics, archive_url(edition, SETTINGS), values=links)
            assert shared.personalise(links) == (naive.html, naive.text)


@pytest.mark.parametrize(
    "keys", [KEYS, KEYS[:1]], ids=["signed with the newest key", "signed before a rotation"]
)
def test_a_token_signed_under_a_current_key_is_accepted(keys: list[str]) -> None:
    check_token(subscription_token(7, "row-secret", keys), 7, "row-secret", KEYS)


@pytest.mark.parametrize(
    "bad",
    [
        subscription_token(7, "row-secret", KEYS)[:-2] + "xx",
        subscription_token(7, "row-secret", ["attacker-key"]),
        subscription_token(7, "another-row", KEYS),
        "nonsense",
    ],
    ids=["damaged signature", "an unknown key", "another row's secret", "not a token"],
)
def test_forged_and_damaged_tokens_are_refused(bad: str) -> None:
    with pytest.raises(InvalidToken):
        check_token(bad, 7, "row-secret", KEYS)


def test_cli_render_writes_the_bytes_that_would_be_sent(
    factory, edition_id, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("DIGEST_TOKEN_KEYS", ",".join(KEYS))
    monkeypatch.setenv("DIGEST_BASE_URL", SETTINGS.base_url)
    out = tmp_path / "neglect.eml"
    db = factory.kw["bind"].url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            db,
            "edition",
            "render",
            str(edition_id),
            "--subscriber",
            "Neglect@Example.org",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 items" in result.output
    written = out.read_bytes()
    expected = message_for(factory, edition_id, "neglect@example.org")
    strip_date = re.compile(rb"^Date: .*$", re.MULTILINE)
    assert strip_date.sub(b"", written) == strip_date.sub(b"", expected)
    missing = CliRunner().invoke(
        cli,
        [
            "--db",
            db,
            "edition",
            "render",
            str(edition_id),
            "--subscriber",
            "nobody@example.org",
            "--out",
            str(out),
        ],
    )
    assert missing.exit_code == 2 and "is not subscribed to caspar" in missing.output


def test_each_copy_decodes_to_exactly_that_subscribers_render(factory, edition_id) -> None:
    with transaction(factory) as session:  # a name that needs escaping and encoding
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == "all@example.org"))
        subscriber.name = "Zoë <Ann> & Co = “Safeguarding” " + "x" * 90
    with factory() as session:
        for subscription in session.scalars(select(Subscription)):
            topics = frozenset(t.slug for t in subscription.topics)
            rendered = render_cut(edition_for(session, edition_id), topics, "https://a.example/1")
            raw = build_message(
                edition_for(session, edition_id), subscription, rendered, SETTINGS, KEYS, NOW
            )
            links = subscriber_links(subscription, edition_for(session, edition_id), SETTINGS, KEYS)
            page, text = rendered.personalise(links)
            message = email.message_from_bytes(raw, policy=default)
            decoded = [p.get_payload(decode=True).decode() for p in message.iter_parts()]
            assert decoded == [text.replace("\n", "\r\n"), page.replace("\n", "\r\n")]
            assert max(len(line) for line in raw.split(b"\r\n")) <= 998
            body = raw.split(b"\r\n\r\n", 1)[1]
            assert [line for line in body.split(b"\r\n") if len(line) > 76] == []


def edition_for(session, edition_id: int) -> Edition:
    return session.get(Edition, edition_id)


OLD_PLACEHOLDERS = [
    "DIGEST-PLACEHOLDER-UNSUBSCRIBE-URL",
    "DIGEST-PLACEHOLDER-PREFERENCES-URL",
    "DIGEST-PLACEHOLDER-NAME",
]


def test_content_can_never_plant_a_subscribers_links_or_name(factory, edition_id) -> None:
    with factory() as session:  # the stand-ins a render of this edition uses
        edition = session.get(Edition, edition_id)
        used = list(render_cut(edition, None, archive_url(edition, SETTINGS)).placeholders.values())
    planted = " ".join(OLD_PLACEHOLDERS + used)
    title = f"Report {planted}"
    link = "https://feed-author.example/collect?" + "&".join(
        f"p{n}={value}" for n, value in enumerate(OLD_PLACEHOLDERS + used)
    )
    (item_id,) = add_items(factory, [entry(title, link, f"<p>Summary {planted}</p>")], "Feed 2")
    with transaction(factory) as session:
        edition = session.get(Edition, edition_id)
        compose.unapprove(session, edition, "editor")
        compose.add_item(session, edition, item_id, "editor")
        compose.approve(session, edition, "editor", now=NOW)
    raw = message_for(factory, edition_id, "all@example.org")
    _, text, page = parts(raw)
    with factory() as session:
        subscription = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == "all@example.org")
        )
        token = subscription_token(subscription.id, subscription.link_secret, KEYS)
    assert title in text and f"Summary {planted}" in text and link in text
    assert title in page and link.replace("&", "&amp;") in page
    # The subscriber's token appears in their own links only: never in the planted link.
    for line in text.splitlines():
        if "feed-author.example" in line or "Report " in line or "Summary " in line:
            assert token not in line and "Ann O'Neil" not in line
