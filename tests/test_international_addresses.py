"""International addresses: IDN domains go as A-labels, a UTF-8 local part goes with SMTPUTF8
where the server offers it and is otherwise failed with the reason, and nobody else's mail
waits for it (RFC 6531, RFC 6532; DESIGN.md §4)."""

from __future__ import annotations

import email
import mailbox
from datetime import timedelta
from email.policy import default

import pytest
from delivery_helpers import add_subscriber, add_subscribers, approved_edition, edition_state
from smtp import smtp_server
from sqlalchemy import select

from digest.addresses import AddressError, entry_note, on_the_wire
from digest.db import transaction
from digest.delivery import queue
from digest.delivery.notices import send_notice
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import DeliveryError, Transport
from digest.editions.message import MailSettings
from digest.models import Delivery, Edition, Subscriber, SubscriberStatus

KEYS = ["international-key"]
IDN_DOMAIN = "reader@bücher.example"  # an ASCII local part: no SMTPUTF8 needed
UTF8_LOCAL = ["jürgen@bücher.example", "用户@例子.广告", "øyvind@example.org"]
ON_THE_WIRE = {
    "reader@bücher.example": "reader@xn--bcher-kva.example",
    "jürgen@bücher.example": "jürgen@xn--bcher-kva.example",
    "用户@例子.广告": "用户@xn--fsqu00a.xn--4rr70v",
    "øyvind@example.org": "øyvind@example.org",
    "Reader@Example.ORG": "Reader@Example.ORG",
    "a.b+tag@sub.example.org": "a.b+tag@sub.example.org",
}


@pytest.mark.parametrize(("given", "wire"), ON_THE_WIRE.items())
def test_domains_go_on_the_wire_as_a_labels(given, wire) -> None:
    assert on_the_wire(given) == wire


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("reader@example.org\r\nBcc: everyone@example.org", "line break"),
        ("x" * 390 + "@example.org", "at most 254"),
        ("no-at-sign.example.org", "not an email address"),
        ("reader@exa mple.org", "not a domain name"),
        ("reader@example.org\udcff", "not valid text"),
    ],
    ids=["header injection", "400 characters", "no @", "space in domain", "lone surrogate"],
)
def test_an_address_no_server_could_take_is_refused_with_the_reason(address, reason) -> None:
    with pytest.raises(AddressError, match=reason):
        on_the_wire(address)


def send(factory, transport: Transport) -> dict[str, int]:
    return dict(
        Worker(
            factory.kw["bind"],
            Settings(
                KEYS,
                MailSettings("https://digest.example.org"),
                "test-hash-key",
                retry_delays=[timedelta(0)] * 4,
            ),
            {None: transport},
        ).run(until_idle=True)
    )


def queued_edition(factory) -> tuple[int, list[str]]:
    """An edition queued for ASCII readers with the international ones in between them."""
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, 3, prefix="before")
    for address in [IDN_DOMAIN, *UTF8_LOCAL]:
        add_subscriber(factory, address, name="Jürgen")
    readers += add_subscribers(factory, 3, prefix="after")
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
    return edition_id, readers


def outcome(factory, address: str) -> tuple[str, str | None]:
    with factory() as session:
        delivery = session.scalar(
            select(Delivery).join(Subscriber).where(Subscriber.email == address)
        )
        return delivery.status.value, delivery.last_error


def test_a_server_offering_smtputf8_gets_every_international_address(factory) -> None:
    edition_id, readers = queued_edition(factory)
    with smtp_server(enable_SMTPUTF8=True) as (inbox, url):
        counts = send(factory, Transport(url, connections=1))
    assert counts == {"sent": len(readers) + 1 + len(UTF8_LOCAL)}
    assert edition_state(factory, edition_id) == "sent"
    by_recipient = {
        to: (options, email.message_from_bytes(raw, policy=default))
        for (_, (to,), raw), options in zip(inbox.received, inbox.mail_options, strict=True)
    }
    options, message = by_recipient["reader@xn--bcher-kva.example"]
    assert "SMTPUTF8" not in options and message["To"] == "reader@xn--bcher-kva.example"
    for address in UTF8_LOCAL:
        options, message = by_recipient[ON_THE_WIRE[address]]
        assert "SMTPUTF8" in options
        assert message["To"] == ON_THE_WIRE[address]


def test_without_smtputf8_only_the_utf8_local_parts_fail_and_say_why(factory) -> None:
    edition_id, readers = queued_edition(factory)
    with smtp_server(enable_SMTPUTF8=False) as (inbox, url):
        counts = send(factory, Transport(url, connections=1))
    assert counts == {"sent": len(readers) + 1, "failed": len(UTF8_LOCAL)}
    assert edition_state(factory, edition_id) == "sent"
    assert sorted(to for _, (to,), _ in inbox.received) == sorted(
        [*readers, "reader@xn--bcher-kva.example"]
    )
    for address in UTF8_LOCAL:
        status, reason = outcome(factory, address)
        assert status == "failed"
        assert "does not accept international addresses (SMTPUTF8)" in reason
        assert address in reason
    with factory() as session:  # a server's limit is not the subscriber's fault
        for subscriber in session.scalars(select(Subscriber)):
            assert {s.status for s in subscriber.subscriptions} == {SubscriberStatus.ACTIVE}


def test_maildir_keeps_international_addresses_as_they_are(factory, tmp_path) -> None:
    _, readers = queued_edition(factory)
    counts = send(factory, Transport(f"maildir:{tmp_path / 'mail'}"))
    assert counts == {"sent": len(readers) + 1 + len(UTF8_LOCAL)}
    stored = [
        email.message_from_bytes(m.as_bytes(), policy=default)
        for m in mailbox.Maildir(tmp_path / "mail")
    ]
    assert sorted(m["Delivered-To"] for m in stored) == sorted(
        [*readers, *(ON_THE_WIRE[a] for a in [IDN_DOMAIN, *UTF8_LOCAL])]
    )


def test_a_notice_to_a_utf8_local_part_uses_smtputf8_or_says_why_not() -> None:
    with smtp_server(enable_SMTPUTF8=True) as (inbox, url):
        send_notice(
            Transport(url), "CASPAR <caspar@digest.test>", "jürgen@bücher.example", "Hi", "Hello\n"
        )
    ((_, (to,), raw),) = inbox.received
    assert to == "jürgen@xn--bcher-kva.example" and inbox.mail_options == [["SMTPUTF8"]]
    assert email.message_from_bytes(raw, policy=default)["To"] == to
    without = smtp_server(enable_SMTPUTF8=False)
    with without as (inbox, url), pytest.raises(DeliveryError, match="SMTPUTF8"):
        send_notice(
            Transport(url), "CASPAR <caspar@digest.test>", "jürgen@bücher.example", "Hi", "Hello\n"
        )
    assert inbox.received == []


@pytest.mark.parametrize(
    ("address", "noted"),
    [
        ("reader@example.org", False),
        ("reader@bücher.example", False),  # IDN domains are sent as A-labels: nothing to say
        ("jürgen@bücher.example", True),
        ("用户@例子.广告", True),
    ],
)
def test_people_are_told_at_entry_what_happens_to_a_utf8_local_part(address, noted) -> None:
    note = entry_note(address)
    assert (note is not None) == noted
    if noted:
        assert "SMTPUTF8" in note and address in note


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("reader@" + "a" * 64 + ".example.org", "not a domain name"),  # a label over 63
        ("r" * 65 + "@example.org", "bytes before the @"),
        ("reader..name@example.org", "not an email address"),
        ("reader@-example.org", "not a domain name"),
    ],
    ids=["long label", "long local part", "two dots", "hyphen first"],
)
def test_plain_ascii_addresses_that_break_the_rules_are_refused_too(address, reason) -> None:
    with pytest.raises(AddressError, match=reason):
        on_the_wire(address)
