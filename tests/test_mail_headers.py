"""Every header Digest writes carries any script: non-ASCII text goes out as RFC 2047 UTF-8
encoded words folded within 78 characters, and reads back exactly as it was written; the
List-Unsubscribe lines stay plain ASCII on one line (DESIGN.md §4)."""

from __future__ import annotations

import email
import re
from email.header import decode_header, make_header
from email.policy import compat32, default

import pytest
from delivery_helpers import add_subscribers, approved_edition, caspar
from smtp import smtp_server
from sqlalchemy import select
from webapp import STAFF, accept_tagged, csrf_token, make_site

from digest.db import transaction
from digest.delivery import queue
from digest.delivery.notices import send_notice
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.headers import address_header
from digest.editions.message import MailSettings, archive_url, build_message
from digest.editions.render import render_cut
from digest.models import Edition, Role, Subscriber, SubscriberStatus, Subscription

SETTINGS = MailSettings("https://digest.example.org")
KEYS = ["header-test-key"]
# The scripts people write in: punctuation, accents, Welsh, CJK (no spaces to fold at), emoji.
SCRIPTS = {
    "em dash": "Safeguarding — policy and practice",
    "curly apostrophe": "Children’s services round-up",
    "e acute": "Café des enfants, résumé de la semaine",
    "Welsh": "Gwasanaeth ŵyr a wyresau: Diogelu",
    "CJK": "子ども保護の最新情報と研究と実践の週刊まとめ",
    "emoji": "Weekly round-up 📬 with news 🧒",
}
LONG = 3  # each text three times over: long enough to need folding


def header_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def assert_well_folded(raw: bytes) -> None:
    """Headers in 7-bit ASCII, each line within 78 characters, except the raw
    List-Unsubscribe line (whole on one line) and a single word too long to fold."""
    for line in header_lines(raw):
        assert line.isascii(), line
        if line.startswith(b"List-Unsubscribe:"):
            assert b"=?" not in line and len(line) <= 998
        elif len(line) > 78:
            assert b"=?" not in line and len(line.split()[-1]) > 70, line


def raw_headers(raw: bytes) -> email.message.Message:
    """The headers as written, unfolded but not decoded."""
    return email.message_from_bytes(raw, policy=compat32)


def address_read_back(raw_value: str) -> tuple[str, str]:
    """(display name, address) of an address header read as RFC 2047 6.2 says: the space
    between two adjacent encoded words is not part of the text. (Python's structured parser
    keeps it, CPython gh-128110; mail clients, and its own `decode_header`, do not.)"""
    value = re.sub(r"\r?\n(?=[ \t])", "", raw_value)
    (address,) = default.header_factory("From", value).addresses
    if "=?" not in value:
        return address.display_name, address.addr_spec
    phrase = value.rpartition("<")[0]
    return str(make_header(decode_header(phrase))).strip(), address.addr_spec


def list_id_read_back(raw_value: str) -> tuple[str, str]:
    """(phrase, id) of a List-Id: its phrase is read as a display name is (RFC 2919)."""
    phrase, address = address_read_back(re.sub(r"<([^<>@]+?)\.([^<>]+)>$", r"<\1@\2>", raw_value))
    return phrase, address.replace("@", ".")


def edition_mail(factory, words: str) -> tuple[bytes, dict[str, str]]:
    """The bytes of one subscriber's copy, with `words` in every header that takes text."""
    edition_id = approved_edition(factory)
    written = {
        "title": f"{words} {words}"[:200],
        "subject": " ".join([words] * LONG),
        "from_name": words,
        "reply_name": f"{words} (library)",
    }
    with transaction(factory) as session:
        newsletter = caspar(session)
        newsletter.title = written["title"]
        newsletter.from_address = f"{written['from_name']} <caspar@digest.test>"
        newsletter.reply_to = f"{written['reply_name']} <library@digest.test>"
        session.get(Edition, edition_id).subject = written["subject"]
        subscriber = Subscriber(email="reader@example.org", name=words)
        subscriber.subscriptions.append(
            Subscription(newsletter=newsletter, status=SubscriberStatus.ACTIVE)
        )
        session.add(subscriber)
    with factory() as session:
        edition = session.get(Edition, edition_id)
        subscription = session.scalar(select(Subscription))
        rendered = render_cut(edition, None, archive_url(edition, SETTINGS))
        return build_message(edition, subscription, rendered, SETTINGS, KEYS), written


@pytest.mark.parametrize("words", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_edition_headers_in_any_script_read_back_as_written(sqlite_factory, words) -> None:
    raw, written = edition_mail(sqlite_factory, words)
    assert_well_folded(raw)
    message, headers = email.message_from_bytes(raw, policy=default), raw_headers(raw)
    assert message["Subject"] == written["subject"]
    assert address_read_back(headers["From"]) == (words, "caspar@digest.test")
    assert address_read_back(headers["Reply-To"]) == (
        written["reply_name"],
        "library@digest.test",
    )
    assert list_id_read_back(headers["List-Id"]) == (written["title"], "caspar.digest.test")
    assert message["To"] == "reader@example.org"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    (unsubscribe,) = [line for line in header_lines(raw) if line.startswith(b"List-Unsubscribe:")]
    assert re.fullmatch(
        rb"List-Unsubscribe: <https://[^>]+/u/[\w.-]+>, <mailto:[^>]+>", unsubscribe
    )
    text = message.get_body(("plain",)).get_content()
    assert f"Dear {words}," in text


@pytest.mark.parametrize(
    "text",
    [
        'CASPAR "weekly" <list>, (news): a; b',  # the specials of a phrase, all ASCII
        "Ann O’Neil-Jones, café — ŵ 子ども 📬",  # several scripts at once
        "x" * 90,  # one word longer than a line
    ],
    ids=["specials", "mixed", "long word"],
)
def test_awkward_names_and_titles_read_back_as_written(sqlite_factory, text) -> None:
    raw, written = edition_mail(sqlite_factory, text)
    assert_well_folded(raw)
    message, headers = email.message_from_bytes(raw, policy=default), raw_headers(raw)
    assert message["Subject"] == written["subject"]
    assert address_read_back(headers["From"]) == (text, "caspar@digest.test")
    assert list_id_read_back(headers["List-Id"]) == (written["title"], "caspar.digest.test")


@pytest.mark.parametrize("words", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_notices_in_any_script_read_back_as_written(words) -> None:
    subject = " ".join([words] * LONG)
    with smtp_server() as (inbox, url):
        send_notice(
            Transport(url),
            f"{words} <caspar@digest.test>",
            "editor@example.org",
            subject,
            f"{words}\n",
        )
    ((_, _, raw),) = inbox.received
    assert_well_folded(raw)
    message = email.message_from_bytes(raw, policy=default)
    assert message["Subject"] == subject
    assert address_read_back(raw_headers(raw)["From"]) == (words, "caspar@digest.test")
    assert message["To"] == "editor@example.org"
    assert message.get_content() == f"{words}\r\n"


def test_confirmations_test_sends_and_reports_carry_any_script(sqlite_factory) -> None:
    """The notices of a newsletter titled in several scripts, end to end over SMTP."""
    title = "Gwasanaeth ŵ — Children’s café 子ども 📬"
    subject = f"{title}: week commencing 23 November"
    with smtp_server() as (inbox, url):
        transports = {None: Transport(url)}
        site = make_site(sqlite_factory, transports=transports)
        accept_tagged(sqlite_factory, [("First item", "neglect")])
        with transaction(sqlite_factory) as session:
            caspar(session).title = title
        editor = site.client(Role.EDITOR)
        token = csrf_token(editor, "/")
        editor.post("/editions/build", data={"newsletter": "caspar", "csrf_token": token})
        with transaction(sqlite_factory) as session:
            edition = session.scalar(select(Edition))
            edition.subject = subject
            edition_id = edition.id
        tested = editor.post(
            f"/editions/{edition_id}/test", data={"csrf_token": token}, follow_redirects=True
        )
        assert tested.status_code == 200 and "A test was sent" in tested.text
        visitor = site.app.test_client()
        form_token = csrf_token(visitor, "/subscribe/caspar")
        visitor.post(
            "/subscribe/caspar",
            data={"email": "new@example.org", "consent": "yes", "csrf_token": form_token},
        )
        site.settle()
        editor.post(
            f"/editions/{edition_id}/state", data={"action": "approve", "csrf_token": token}
        )
        add_subscribers(sqlite_factory, 2)
        with transaction(sqlite_factory) as session:
            queue.enqueue(session, session.get(Edition, edition_id))
        settings = Settings(KEYS, SETTINGS, "test-hash-key")
        Worker(sqlite_factory.kw["bind"], settings, transports).run(until_idle=True)
    subjects = {}
    for _, (to,), raw in inbox.received:
        assert_well_folded(raw)
        subjects.setdefault(to, []).append(email.message_from_bytes(raw, policy=default)["Subject"])
    assert subjects[STAFF[Role.EDITOR]] == [f"[TEST] {subject}", f"Sent: {subject}"]
    assert subjects["new@example.org"] == [f"Please confirm your subscription to {title}"]
    assert subjects["reader0@example.org"] == [subject]


@pytest.mark.parametrize(
    ("config", "written"),
    [
        ("library@digest.test", b"From: library@digest.test\r\n"),
        ("library@bücher.example", b"From: library@xn--bcher-kva.example\r\n"),
        (
            '"Library, NSPCC" <library@digest.test>',
            b'From: "Library, NSPCC" <library@digest.test>\r\n',
        ),
    ],
)
def test_a_sending_address_is_written_as_configured_with_its_domain_in_a_labels(
    config, written
) -> None:
    assert address_header("From", config) == written


@pytest.mark.parametrize(
    "breaker",
    ["\r\n", "\n", "\r", "\x85", "\u2028", "\u2029", "\x0b", "\x00"],
    ids=["CRLF", "LF", "CR", "NEL", "LS", "PS", "VT", "NUL"],
)
def test_a_stored_line_break_cannot_start_a_header_of_its_own(sqlite_factory, breaker) -> None:
    """Titles, names and subjects edited in the web app reach the headers without the config
    file's checks: each line break becomes a space, so no Bcc (or anything) is injected."""
    words = f"CASPAR{breaker}Bcc: victim@example.net"
    raw, _ = edition_mail(sqlite_factory, words)
    assert_well_folded(raw)
    message, headers = email.message_from_bytes(raw, policy=default), raw_headers(raw)
    assert "Bcc" not in headers
    for name in ("Subject", "From", "Reply-To", "List-Id"):
        decoded = str(make_header(decode_header(headers[name])))
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", decoded.replace("\r\n ", " "))
        assert "CASPAR Bcc: victim@example.net" in decoded, (name, decoded)
    assert message["Subject"].startswith("CASPAR Bcc: victim@example.net")
