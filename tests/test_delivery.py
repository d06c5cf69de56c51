"""Sending an approved edition: every subscriber exactly once, through a misbehaving server."""

from __future__ import annotations

import mailbox
import threading
from datetime import timedelta

import pytest
from delivery_helpers import add_subscribers, approved_edition, edition_state
from smtp import Faults, smtp_server
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from digest.curation.topics import add_topic
from digest.db import transaction
from digest.delivery import queue
from digest.delivery.bounces import delivery_named
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    MailEvent,
    Subscriber,
    SubscriberStatus,
    Subscription,
)

KEYS = ["delivery-test-key"]
SETTINGS = MailSettings("https://digest.example.org")
NO_WAIT = [timedelta(0)] * 4  # retries due at once, so a test sees all five tries


def start_sending(factory, edition_id: int) -> dict[str, int]:
    with transaction(factory) as session:
        return dict(queue.enqueue(session, session.get(Edition, edition_id)))


def worker(factory, url: str, name: str = "worker", **transport: object) -> Worker:
    return Worker(
        factory.kw["bind"],
        Settings(KEYS, SETTINGS, "test-hash-key", retry_delays=NO_WAIT, batch_size=20),
        {None: Transport(url, **transport)},
        name=name,
    )


def statuses(factory, edition_id: int) -> dict[str, str]:
    with factory() as session:
        return dict(
            session.execute(
                select(Subscriber.email, Delivery.status)
                .join(Subscriber)
                .where(Delivery.edition_id == edition_id)
            ).all()
        )


def test_every_subscriber_gets_one_message_with_their_own_cut(factory) -> None:
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, 40)
    add_subscribers(factory, 3, SubscriberStatus.UNSUBSCRIBED, prefix="gone")
    add_subscribers(factory, 2, SubscriberStatus.PENDING, prefix="unconfirmed")
    assert start_sending(factory, edition_id) == {"queued": 40}
    assert edition_state(factory, edition_id) == "sending"
    with smtp_server() as (inbox, url):
        counts = worker(factory, url).run(until_idle=True)
    assert counts == {"sent": 40}
    assert sorted(to for _, (to,), _ in inbox.received) == sorted(readers)
    with factory() as session:
        for sender, (to,), raw in inbox.received:
            delivery = delivery_named(session, sender, KEYS)  # VERP names it
            assert delivery.subscriber.email == to
            assert delivery.status is DeliveryStatus.SENT
            topics = {t.slug for t in delivery.subscription.topics}
            if "neglect" in topics:
                assert b"Neglect in adolescence" in raw and b"Child Q" not in raw
        edition = session.get(Edition, edition_id)
        assert edition.state.value == "sent" and edition.sent_at is not None
        assert queue.progress(session, edition_id)["sent"] == 40


def test_a_second_copy_cannot_be_queued(factory) -> None:
    edition_id = approved_edition(factory)
    add_subscribers(factory, 2)
    start_sending(factory, edition_id)
    with pytest.raises(ValueError, match="only an approved edition"):
        start_sending(factory, edition_id)
    with pytest.raises(IntegrityError), transaction(factory) as session:
        first = session.scalar(select(Delivery))
        session.add(
            Delivery(
                edition_id=edition_id,
                subscriber_id=first.subscriber_id,
                subscription_id=first.subscription_id,
            )
        )


def test_nothing_in_their_topics_is_skipped_when_the_newsletter_sends_no_note(factory) -> None:
    edition_id = approved_edition(factory)
    with transaction(factory) as session:
        session.get(Edition, edition_id).newsletter.note_when_nothing_matches = False
    add_subscribers(factory, 5)
    with transaction(factory) as session:  # one reader chooses a topic no item has
        subscription = session.scalar(select(Subscription).order_by(Subscription.id))
        # (Not "online-abuse": its child "online-grooming" is on an item, so its readers get it.)
        subscription.topics = [add_topic(session, "bullying", "Bullying", "admin")]
        skipped = subscription.subscriber.email
    assert start_sending(factory, edition_id) == {"queued": 4, "skipped": 1}
    with smtp_server() as (inbox, url):
        worker(factory, url).run(until_idle=True)
    assert inbox.count(skipped) == 0 and len(inbox.received) == 4
    assert statuses(factory, edition_id)[skipped] == "skipped"


def test_each_fault_ends_in_exactly_one_right_state(factory) -> None:
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, 12)
    deferred_once, always_busy, unknown, dropped = readers[:4]
    faults = Faults(
        refuse_connections=2,  # 421 at connect: connect again
        rcpt={
            deferred_once: ("451 4.7.1 Greylisted, try again", 1),
            always_busy: ("452 4.2.2 Mailbox full", 99),
            unknown: ("550 5.1.1 No such user", 99),
        },
        drop_in_data={dropped: 1},  # the line goes down mid-message: resend on a new one
    )
    start_sending(factory, edition_id)
    with smtp_server(faults) as (inbox, url):
        counts = worker(factory, url, connections=2).run(until_idle=True)
    final = statuses(factory, edition_id)
    assert final[deferred_once] == "sent" and inbox.count(deferred_once) == 1
    assert final[always_busy] == "failed" and inbox.tries[always_busy] == 5
    assert final[unknown] == "bounced" and inbox.tries[unknown] == 1
    assert final[dropped] == "sent" and inbox.count(dropped) == 1
    for reader in readers[4:]:
        assert final[reader] == "sent" and inbox.count(reader) == 1
    assert counts["sent"] == 10 and counts["failed"] == 1 and counts["bounced"] == 1
    with factory() as session:
        failed = session.scalar(
            select(Delivery).join(Subscriber).where(Subscriber.email == always_busy)
        )
        assert failed.attempts == 5 and "gave up after 5 tries" in failed.last_error
        assert "Mailbox full" in failed.last_error
        bounced = session.scalar(select(Subscriber).where(Subscriber.email == unknown))
        assert {s.status for s in bounced.subscriptions} == {SubscriberStatus.SUPPRESSED}
        (event,) = session.scalars(select(MailEvent).where(MailEvent.subscriber_id == bounced.id))
        assert event.kind == "hard-bounce" and "No such user" in event.detail


def test_a_slow_server_is_waited_for_and_one_too_slow_is_retried_later(factory) -> None:
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, 3)
    start_sending(factory, edition_id)
    with smtp_server(Faults(data_delay=0.3)) as (inbox, url):
        Worker(
            factory.kw["bind"],
            Settings(KEYS, SETTINGS, "test-hash-key", retry_delays=[timedelta(hours=1)] * 4),
            {None: Transport(url, connections=1, timeout=0.1)},
        ).run(until_idle=True)
    assert set(statuses(factory, edition_id).values()) == {"deferred"}
    with transaction(factory) as session:  # an hour later, a server with time to answer
        for delivery in session.scalars(select(Delivery)):
            delivery.next_attempt_at -= timedelta(hours=2)
    with smtp_server(Faults(data_delay=0.3)) as (inbox, url):
        worker(factory, url, connections=3, timeout=5).run(until_idle=True)
    assert set(statuses(factory, edition_id).values()) == {"sent"}
    assert sorted(to for _, (to,), _ in inbox.received) == sorted(readers)


def test_two_workers_share_the_work_and_never_send_twice(factory) -> None:
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, 300)
    start_sending(factory, edition_id)
    with smtp_server() as (inbox, url):
        workers = [worker(factory, url, name=f"w{n}", connections=2) for n in range(2)]
        results: list[dict[str, int]] = []
        threads = [
            threading.Thread(target=lambda w=w: results.append(w.run(until_idle=True)))
            for w in workers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(to for _, (to,), _ in inbox.received) == sorted(readers)
    assert sum(r["sent"] for r in results) == 300
    if factory.kw["bind"].dialect.name == "postgresql":
        assert all(r["sent"] > 0 for r in results)  # both took part


def test_maildir_transport_keeps_each_message_with_its_return_path(factory, tmp_path) -> None:
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, 3)
    start_sending(factory, edition_id)
    worker(factory, f"maildir:{tmp_path / 'mail'}").run(until_idle=True)

    stored = list(mailbox.Maildir(tmp_path / "mail"))
    assert sorted(m["To"] for m in stored) == sorted(readers)
    with factory() as session:
        assert all(delivery_named(session, m["Return-Path"], KEYS) for m in stored)
