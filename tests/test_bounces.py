"""Returned mail: VERP and RFC 3464 bounces, soft bounces in a row, complaints, and
unsubscribes by email to the List-Unsubscribe address."""

from __future__ import annotations

import imaplib
import mailbox
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from delivery_helpers import add_subscribers, approved_edition
from imap import imap_server
from mail_links import email_links
from smtp import smtp_server
from sqlalchemy import select

from digest.cli import cli
from digest.db import transaction
from digest.delivery import queue
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.delivery.verp import return_path
from digest.editions.message import MailSettings
from digest.models import (
    ConsentEvent,
    Delivery,
    Edition,
    MailEvent,
    Subscriber,
    SubscriberStatus,
    Subscription,
)

KEYS = ["bounce-test-key"]


def dsn(to: str, failed: str, status: str) -> bytes:
    """A delivery status notification as mail servers send them (RFC 3464)."""
    action = "failed" if status.startswith("5") else "delayed"
    return (
        f"From: MAILER-DAEMON@mx.example.net\nTo: {to}\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--b1\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; {failed}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {status} mailbox problem\n\n--b1--\n"
    ).encode()


def sent_edition(factory, count: int = 4) -> tuple[int, list[str]]:
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, count)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
        for delivery in session.scalars(select(Delivery)):
            delivery.status = "sent"
    return edition_id, readers


def delivery_for(factory, email: str, edition_id: int) -> int:
    with factory() as session:
        return session.scalar(
            select(Delivery.id)
            .join(Subscriber)
            .where(Subscriber.email == email, Delivery.edition_id == edition_id)
        )


def verp_for(factory, email: str, edition_id: int) -> str:
    """The return path the message of that delivery was sent with."""
    delivery_id = delivery_for(factory, email, edition_id)
    with factory() as session:
        secret = session.get(Delivery, delivery_id).subscription.link_secret
    return return_path(delivery_id, secret, "digest.test", KEYS[0])


def process(factory, messages: list[EmailMessage | bytes], folder) -> str:
    box = mailbox.Maildir(folder, create=True)
    for message in messages:
        box.add(message)
    return process_mailbox(factory, str(folder))


def process_mailbox(factory, source: str) -> str:
    """`digest bounces process SOURCE`; its output."""
    db = factory.kw["bind"].url.render_as_string(hide_password=False)
    result = CliRunner(env={"DIGEST_TOKEN_KEYS": ",".join(KEYS)}).invoke(
        cli, ["--db", db, "bounces", "process", source]
    )
    assert result.exit_code == 0, result.output
    return result.output


def unsubscribe_request(factory, email: str) -> EmailMessage:
    """What a mail client sends to the `mailto:` address in `email`'s List-Unsubscribe."""
    request = EmailMessage()
    request["From"] = email
    request["To"] = email_links(factory, email, KEYS).mailto
    request["Subject"] = "unsubscribe"
    request.set_content("")
    return request


def thank_you_note() -> EmailMessage:
    note = EmailMessage()
    note["From"], note["To"], note["Subject"] = "a@b.example", "digest@digest.test", "Thanks!"
    note.set_content("Great newsletter.")
    return note


def status_of(factory, email: str) -> set[SubscriberStatus]:
    with factory() as session:
        subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
        return {s.status for s in subscriber.subscriptions}


def test_a_hard_bounce_to_the_verp_address_suppresses_at_once(factory, tmp_path) -> None:
    edition_id, readers = sent_edition(factory)
    bounced = readers[0]
    verp = verp_for(factory, bounced, edition_id)
    forged = verp.replace("bounces+d", "bounces+d9")  # a token whose signature does not match
    output = process(
        factory,
        [dsn(verp, bounced, "5.1.1"), dsn(forged, "someone@else.example", "5.1.1")],
        tmp_path / "bounces",
    )
    assert "2 messages: 2 hard-bounce" in output and "1 subscriber suppressed" in output
    assert status_of(factory, bounced) == {SubscriberStatus.SUPPRESSED}
    assert status_of(factory, readers[1]) == {SubscriberStatus.ACTIVE}
    with factory() as session:
        delivery = session.get(Delivery, delivery_for(factory, bounced, edition_id))
        assert delivery.status.value == "bounced"
        (event,) = session.scalars(select(MailEvent)).all()
        assert event.kind == "hard-bounce" and event.delivery_id == delivery.id
    # The one dealt with is removed; the forged one, acted on by no one, is left for a person.
    (left,) = list(mailbox.Maildir(tmp_path / "bounces"))
    assert "someone@else.example" in left.as_string()


def test_a_report_without_verp_is_matched_by_the_failed_address(factory, tmp_path) -> None:
    _, readers = sent_edition(factory)
    process(factory, [dsn("digest@digest.test", readers[2], "5.0.0")], tmp_path / "b")
    assert status_of(factory, readers[2]) == {SubscriberStatus.SUPPRESSED}


def test_three_soft_bounces_in_a_row_suppress(factory, tmp_path) -> None:
    first, readers = sent_edition(factory, 2)
    reader = readers[0]
    with factory() as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == reader))
        subscription_id = session.scalar(
            select(Subscription.id).where(Subscription.subscriber_id == subscriber_id)
        )
    editions = [first]
    with transaction(factory) as session:  # two more editions went to the same reader
        for n in (1, 2):
            edition = Edition(
                newsletter_id=session.get(Edition, first).newsletter_id,
                period_start=session.get(Edition, first).period_start.replace(year=2030 + n),
                created_by="editor",
                state="sent",
            )
            session.add(edition)
            session.flush()
            session.add(
                Delivery(
                    edition_id=edition.id,
                    subscriber_id=subscriber_id,
                    subscription_id=subscription_id,
                    status="sent",
                )
            )
            editions.append(edition.id)
    for count, edition_id in enumerate(editions, start=1):
        verp = verp_for(factory, reader, edition_id)
        process(factory, [dsn(verp, reader, "4.2.2")], tmp_path / f"soft{count}")
        expected = SubscriberStatus.SUPPRESSED if count == 3 else SubscriberStatus.ACTIVE
        assert status_of(factory, reader) == {expected}, count


def test_mail_to_the_list_unsubscribe_address_unsubscribes(factory, tmp_path) -> None:
    _, readers = sent_edition(factory, 2)
    request = unsubscribe_request(factory, readers[1])
    output = process(factory, [request], tmp_path / "u")
    assert "1 unsubscribe" in output
    assert status_of(factory, readers[1]) == {SubscriberStatus.UNSUBSCRIBED}
    with factory() as session:
        event = session.scalar(select(ConsentEvent).where(ConsentEvent.kind == "unsubscribe"))
        assert event.form == "email to the List-Unsubscribe address"


def test_mail_not_understood_is_left_for_a_person(factory, tmp_path) -> None:
    output = process(factory, [thank_you_note()], tmp_path / "n")
    assert "1 not understood" in output
    assert len(list(mailbox.Maildir(tmp_path / "n"))) == 1


def test_an_imap_mailbox_is_read_on_a_real_server_and_what_was_done_is_removed(factory) -> None:
    edition_id, readers = sent_edition(factory, 3)
    verp = verp_for(factory, readers[0], edition_id)
    with imap_server() as url:
        parts = urlsplit(url)
        client = imaplib.IMAP4(parts.hostname, parts.port)
        client.login(parts.username, parts.password)
        for message in (
            dsn(verp, readers[0], "5.1.1"),
            unsubscribe_request(factory, readers[1]).as_bytes(),
            thank_you_note().as_bytes(),
        ):
            client.append("INBOX", None, None, message.replace(b"\n", b"\r\n"))
        output = process_mailbox(factory, url)
        client.select("INBOX")
        _, left = client.search(None, "ALL")
        _, subject = client.fetch(left[0].split()[0], "(BODY[HEADER.FIELDS (SUBJECT)])")
        client.logout()
    assert "3 messages" in output and "1 subscriber suppressed" in output
    assert status_of(factory, readers[0]) == {SubscriberStatus.SUPPRESSED}
    assert status_of(factory, readers[1]) == {SubscriberStatus.UNSUBSCRIBED}
    assert status_of(factory, readers[2]) == {SubscriberStatus.ACTIVE}
    assert len(left[0].split()) == 1 and b"Thanks!" in subject[0][1]  # left for a person


def put(kind: str, path, messages: list[EmailMessage | bytes]) -> str:
    """`messages` in a new Maildir folder or mbox file at `path`; the source to process."""
    box = mailbox.Maildir(path, create=True) if kind == "maildir" else mailbox.mbox(path)
    for message in messages:
        box.add(message)
    box.flush()
    box.close()
    return str(path)


def left_in(kind: str, source: str) -> list[str]:
    """The subjects of the messages still in the mailbox."""
    box = mailbox.Maildir(source, create=False) if kind == "maildir" else mailbox.mbox(source)
    return sorted(str(message["Subject"]) for message in box)


def recased(request: EmailMessage, change) -> EmailMessage:
    local, _, domain = request["To"].partition("@")
    del request["To"]
    request["To"] = f"{change(local)}@{domain}"
    return request


CASES = {"as sent": str, "lower case": str.lower, "upper case": str.upper}


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
@pytest.mark.parametrize("case", CASES)
def test_the_mailto_unsubscribe_works_whatever_case_the_server_gives_it(
    factory, tmp_path, kind: str, case: str
) -> None:
    _, readers = sent_edition(factory, 2)
    request = recased(unsubscribe_request(factory, readers[0]), CASES[case])
    source = put(kind, tmp_path / "box", [request])
    assert "1 unsubscribe" in process_mailbox(factory, source)
    assert status_of(factory, readers[0]) == {SubscriberStatus.UNSUBSCRIBED}
    assert status_of(factory, readers[1]) == {SubscriberStatus.ACTIVE}
    assert left_in(kind, source) == []


def not_acted_on(factory, reader: str) -> list[EmailMessage | bytes]:
    """Returned mail that names no one we know, carries a link that is not valid, or cannot
    be read: each must stay for a person."""
    forged = recased(unsubscribe_request(factory, reader), lambda local: local[:-3] + "aaa")
    forged.replace_header("Subject", "forged unsubscribe")
    unknown = unsubscribe_request(factory, reader)
    unknown.replace_header("To", "unsubscribe+999999-abcdefghijklmnopqrstuvwx@digest.test")
    unknown.replace_header("Subject", "unsubscribe of no one")
    return [
        forged,
        unknown,
        dsn("digest@digest.test", "stranger@elsewhere.example", "5.1.1").replace(
            b"Subject: Undelivered", b"Subject: stranger Undelivered"
        ),
        thank_you_note(),
        b"Subject: garbage\n" + bytes(range(256)) * 4,
    ]


SUBJECTS_LEFT = sorted(
    [
        "forged unsubscribe",
        "unsubscribe of no one",
        "stranger Undelivered Mail Returned to Sender",
        "Thanks!",
        "garbage",
    ]
)


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_returned_mail_that_was_not_acted_on_is_never_deleted(factory, tmp_path, kind) -> None:
    _, readers = sent_edition(factory, 2)
    acted = unsubscribe_request(factory, readers[1])
    source = put(kind, tmp_path / "box", [*not_acted_on(factory, readers[0]), acted])
    output = process_mailbox(factory, source)
    assert "6 messages" in output and "5 left in the mailbox for a person" in output
    assert left_in(kind, source) == SUBJECTS_LEFT
    assert status_of(factory, readers[0]) == {SubscriberStatus.ACTIVE}
    assert status_of(factory, readers[1]) == {SubscriberStatus.UNSUBSCRIBED}
    # Read again, the same is still there: nothing is lost by a second run either.
    process_mailbox(factory, source)
    assert left_in(kind, source) == SUBJECTS_LEFT


def test_over_imap_only_what_was_acted_on_is_removed_whatever_its_case(factory) -> None:
    _, readers = sent_edition(factory, 3)
    upper = recased(unsubscribe_request(factory, readers[0]), str.upper)
    lower = recased(unsubscribe_request(factory, readers[1]), str.lower)
    with imap_server() as url:
        parts = urlsplit(url)
        client = imaplib.IMAP4(parts.hostname, parts.port)
        client.login(parts.username, parts.password)
        for message in [upper, lower, *not_acted_on(factory, readers[2])]:
            raw = message if isinstance(message, bytes) else message.as_bytes()
            client.append("INBOX", None, None, raw.replace(b"\n", b"\r\n"))
        output = process_mailbox(factory, url)
        client.select("INBOX")
        _, left = client.search(None, "ALL")
        subjects = []
        for number in left[0].split():
            _, data = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects.append(data[0][1].decode().removeprefix("Subject: ").strip())
        _, unseen = client.search(None, "UNSEEN")
        client.logout()
    assert "4 unsubscribe" in output and "5 left in the mailbox for a person" in output
    assert status_of(factory, readers[0]) == {SubscriberStatus.UNSUBSCRIBED}
    assert status_of(factory, readers[1]) == {SubscriberStatus.UNSUBSCRIBED}
    assert status_of(factory, readers[2]) == {SubscriberStatus.ACTIVE}
    assert sorted(subjects) == SUBJECTS_LEFT
    assert len(unseen[0].split()) == 5  # still unread, for the person who reads them


def test_a_late_bounce_for_an_erased_reader_never_suppresses_whoever_gets_its_delivery_id(
    factory, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "bounce-test-secret")
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, 3)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
    with smtp_server() as (inbox, url):
        settings = Settings(KEYS, MailSettings("https://d.example"), "bounce-test-secret")
        Worker(factory.kw["bind"], settings, {None: Transport(url)}).run(until_idle=True)
    # The return path of the message to the reader whose delivery came last.
    last = max(readers, key=lambda r: delivery_for(factory, r, edition_id))
    old_id = delivery_for(factory, last, edition_id)
    (verp,) = [sender for sender, (to,), _ in inbox.received if to == last]
    db = factory.kw["bind"].url.render_as_string(hide_password=False)
    assert (
        CliRunner().invoke(cli, ["--db", db, "subscribers", "erase", last, "--yes"]).exit_code == 0
    )
    stranger = next(r for r in readers if r != last)
    with transaction(factory) as session:  # a later edition's delivery takes the id
        first = session.get(Edition, edition_id)
        later = Edition(
            newsletter_id=first.newsletter_id,
            period_start=first.period_start.replace(year=2031),
            created_by="editor",
            state="sent",
        )
        session.add(later)
        session.flush()
        subscription = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == stranger)
        )
        reused = Delivery(
            edition_id=later.id,
            subscriber_id=subscription.subscriber_id,
            subscription_id=subscription.id,
            status="sent",
        )
        if session.get_bind().dialect.name == "postgresql":  # as a restored database would
            reused.id = old_id
        session.add(reused)
        session.flush()
        assert reused.id == old_id  # on SQLite by itself
    output = process(factory, [dsn(verp, last, "5.1.1")], tmp_path / "late")
    assert "1 left in the mailbox for a person" in output
    assert status_of(factory, stranger) == {SubscriberStatus.ACTIVE}
