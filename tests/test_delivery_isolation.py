"""One bad subscriber never stops a send: whatever goes wrong building, signing or sending
their copy fails that one delivery with a reason a person can read, and everybody else's
mail goes on, and the edition finishes."""

from __future__ import annotations

import pytest
from delivery_helpers import add_subscriber, add_subscribers, approved_edition, edition_state
from smtp import smtp_server
from sqlalchemy import select, text, update

from digest.db import transaction
from digest.delivery import queue
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import Delivery, Edition, Subscriber

READERS = 1000
# What old data or a careless import can leave in a subscriber row: (column, value, what
# the reason says).
POISONS = {
    "a line break in the address": (
        "email",
        "poisoned@example.org\r\nBcc: everyone@example.org",
        "line break",
    ),
    "a 300-character address": ("email", "p" * 288 + "@example.org", "at most 254"),
    "not an address": ("email", "poisoned at example.org", "not an email address"),
    "a control character in the address": ("email", "poi\x1bsoned@example.org", "control"),
}
# Bytes that are not UTF-8, which only SQLite will store (PostgreSQL refuses them).
BAD_BYTES = {
    "a lone surrogate in the name": ("name", "4a75eda080", "name is not valid text"),
    "bytes that are not UTF-8 in the address": (
        "email",
        "706f6973ff6e6564406578616d706c652e6f7267",
        "not valid text",
    ),
}


def send_with_one_poisoned(factory, poison) -> tuple[int, list[str], dict[str, int], tuple]:
    """READERS subscribers with one poisoned one in the middle, sent over real SMTP."""
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, READERS // 2, prefix="before")
    poisoned = add_subscriber(factory, "poisoned@example.org", "Poisoned")
    readers += add_subscribers(factory, READERS - READERS // 2 - 1, prefix="after")
    poison(poisoned)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
    with smtp_server() as (inbox, url):
        counts = Worker(
            factory.kw["bind"],
            Settings(
                ["isolation-key"], MailSettings("https://digest.example.org"), "test-hash-key"
            ),
            {None: Transport(url, connections=2)},
        ).run(until_idle=True)
    with factory() as session:
        delivery = session.execute(
            select(Delivery.status, Delivery.last_error).where(Delivery.subscriber_id == poisoned)
        ).one()
    return edition_id, readers, dict(counts), (delivery, inbox)


def assert_only_the_poisoned_one_failed(factory, result, reason: str) -> None:
    edition_id, readers, counts, (delivery, inbox) = result
    assert counts == {"sent": READERS - 1, "failed": 1}
    assert edition_state(factory, edition_id) == "sent"
    assert sorted(to for _, (to,), _ in inbox.received) == sorted(readers)
    assert delivery.status == "failed"
    assert reason in delivery.last_error
    assert "Traceback" not in delivery.last_error


@pytest.mark.parametrize(("column", "value", "reason"), POISONS.values(), ids=POISONS.keys())
def test_one_poisoned_subscriber_fails_alone_and_the_send_finishes(
    factory, column, value, reason
) -> None:
    def poison(subscriber_id: int) -> None:
        with transaction(factory) as session:
            session.execute(
                update(Subscriber).where(Subscriber.id == subscriber_id).values({column: value})
            )

    result = send_with_one_poisoned(factory, poison)
    assert_only_the_poisoned_one_failed(factory, result, reason)


@pytest.mark.parametrize(
    ("column", "hex_bytes", "reason"), BAD_BYTES.values(), ids=BAD_BYTES.keys()
)
def test_bytes_that_are_not_text_fail_only_their_delivery(
    sqlite_factory, column, hex_bytes, reason
) -> None:
    def poison(subscriber_id: int) -> None:
        with transaction(sqlite_factory) as session:
            session.execute(
                text(
                    f"UPDATE subscribers SET {column} = CAST(X'{hex_bytes}' AS TEXT) WHERE id = :id"
                ),
                {"id": subscriber_id},
            )

    result = send_with_one_poisoned(sqlite_factory, poison)
    assert_only_the_poisoned_one_failed(sqlite_factory, result, reason)


def test_an_edition_whose_message_cannot_be_made_fails_each_delivery_and_finishes(
    sqlite_factory,
) -> None:
    edition_id = approved_edition(sqlite_factory)
    add_subscribers(sqlite_factory, 5)
    with transaction(sqlite_factory) as session:  # as a hand-edited database might hold
        edition = session.get(Edition, edition_id)
        edition.newsletter.from_address = "CASPAR <jürgen@digest.test>"
        queue.enqueue(session, edition)
    with smtp_server() as (inbox, url):
        counts = Worker(
            sqlite_factory.kw["bind"],
            Settings(
                ["isolation-key"], MailSettings("https://digest.example.org"), "test-hash-key"
            ),
            {None: Transport(url)},
        ).run(until_idle=True)
    assert counts == {"failed": 5} and inbox.received == []
    assert edition_state(sqlite_factory, edition_id) == "sent"
    with sqlite_factory() as session:
        reasons = set(session.scalars(select(Delivery.last_error)))
    assert len(reasons) == 1 and "give the newsletter an ASCII address" in reasons.pop()
