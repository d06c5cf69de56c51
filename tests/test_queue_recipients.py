"""Starting a send queues exactly the right people, each with the items of their topics: the
same on SQLite and on PostgreSQL (where the queue is written by COPY)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from delivery_helpers import add_subscribers, approved_edition, caspar
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from digest.curation.topics import add_topic
from digest.db import transaction
from digest.delivery import queue
from digest.delivery.mailevents import Kind, suppress
from digest.editions.render import entries
from digest.models import (
    Delivery,
    Edition,
    EditionState,
    Subscriber,
    SubscriberStatus,
    Subscription,
)

NOW = datetime(2099, 1, 6, 9, tzinfo=UTC)
# What each choice of topics brings (delivery_helpers.TAGGED): a parent brings its child's.
TITLES = {
    frozenset(): {
        "Neglect in adolescence",
        "Sextortion: advice for schools",
        "Serious case review: Child Q",
        "A new statutory duty",
    },
    frozenset({"neglect"}): {"Neglect in adolescence"},
    frozenset({"online-grooming", "online-abuse"}): {"Sextortion: advice for schools"},
    frozenset({"online-abuse"}): {"Sextortion: advice for schools"},
    frozenset({"legislation-and-policy"}): {
        "Serious case review: Child Q",
        "A new statutory duty",
    },
}


def chosen_topics(session, email: str) -> frozenset[str]:
    subscription = session.scalar(
        select(Subscription).join(Subscriber).where(Subscriber.email == email)
    )
    return frozenset(topic.slug for topic in subscription.topics)


def queued(factory, edition_id: int) -> dict[str, tuple[str, set[str]]]:
    """Each delivery's address: its status and the titles of the items it will carry."""
    with factory() as session:
        titles = [item["title"] for item in entries(session.get(Edition, edition_id))]
        rows = session.execute(
            select(Subscriber.email, Delivery.status, Delivery.cut)
            .join(Subscriber)
            .where(Delivery.edition_id == edition_id)
        ).all()
    return {
        email: (status.value, {titles[n] for n in queue.cut_positions(cut, len(titles))})
        for email, status, cut in rows
    }


@pytest.fixture
def mixed(factory) -> tuple[int, set[str], dict[str, str]]:
    """An approved edition; readers who get it (their addresses), and others who must not,
    each with the reason."""
    edition_id = approved_edition(factory)
    readers = set(add_subscribers(factory, 40, seed=7))
    excluded = {
        email: "unsubscribed"
        for email in add_subscribers(factory, 3, SubscriberStatus.UNSUBSCRIBED, "gone")
    }
    excluded |= {
        email: "pending" for email in add_subscribers(factory, 2, SubscriberStatus.PENDING, "new")
    }
    with transaction(factory) as session:
        subscriptions = {
            s.subscriber.email: s for s in session.scalars(select(Subscription).join(Subscriber))
        }
        paused, bounced = sorted(readers)[:2]
        subscriptions[paused].paused = True
        session.flush()
        suppress(session, subscriptions[bounced].subscriber_id, Kind.HARD, "550", None, NOW, "k")
        excluded |= {paused: "paused", bounced: "suppressed"}
    return edition_id, readers - set(excluded), excluded


def test_every_active_reader_is_queued_once_with_the_items_of_their_topics(mixed, factory):
    edition_id, readers, excluded = mixed
    with transaction(factory) as session:
        counts = queue.enqueue(session, session.get(Edition, edition_id), NOW)
    assert counts == {"queued": len(readers)}
    found = queued(factory, edition_id)
    assert set(found) == readers, f"wrongly queued: {set(found) & set(excluded)}"
    with factory() as session:
        for email in readers:
            assert found[email] == ("queued", TITLES[chosen_topics(session, email)]), email
        assert session.get(Edition, edition_id).state is EditionState.SENDING


@pytest.mark.parametrize("note", [True, False])
def test_readers_whose_topics_match_nothing_get_a_note_or_are_skipped(mixed, factory, note):
    edition_id, readers, _ = mixed
    unmatched = sorted(readers)[-2:]
    with transaction(factory) as session:
        bullying = add_topic(session, "bullying", "Bullying", "admin")
        for subscription in session.scalars(
            select(Subscription).join(Subscriber).where(Subscriber.email.in_(unmatched))
        ):
            subscription.topics = [bullying]
        caspar(session).note_when_nothing_matches = note
        counts = queue.enqueue(session, session.get(Edition, edition_id), NOW)
    found = queued(factory, edition_id)
    assert set(found) == readers
    if note:
        assert counts == {"queued": len(readers)}
        assert [found[email] for email in unmatched] == [("queued", set())] * 2
        return
    assert counts == {"queued": len(readers) - 2, "skipped": 2}
    assert [found[email] for email in unmatched] == [("skipped", set())] * 2
    with factory() as session:
        finished = session.scalars(
            select(Delivery.finished_at).join(Subscriber).where(Subscriber.email.in_(unmatched))
        ).all()
    assert finished == [NOW, NOW]  # finished from the start: no worker claims them


def test_starting_again_queues_no_second_copy(mixed, factory):
    edition_id, readers, _ = mixed
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id), NOW)
    with (
        pytest.raises(ValueError, match="only an approved edition"),
        transaction(factory) as session,
    ):
        queue.enqueue(session, session.get(Edition, edition_id), NOW)
    # Even forced back to approved, the edition's queue cannot take anyone twice.
    with pytest.raises(IntegrityError), transaction(factory) as session:
        edition = session.get(Edition, edition_id)
        edition.state = EditionState.APPROVED
        queue.enqueue(session, edition, NOW)
    assert len(queued(factory, edition_id)) == len(readers)


def test_the_same_choice_in_any_order_gets_the_same_items() -> None:
    items = [frozenset({"neglect"}), frozenset({"online-grooming"}), frozenset({"other"})]
    tree = {"online-abuse": None, "online-grooming": "online-abuse", "neglect": None}
    planned = queue.plan(
        [
            (1, 11, "neglect,online-abuse"),
            (2, 12, "online-abuse,neglect"),
            (3, 13, None),
            (4, 14, "bullying"),
        ],
        items,
        tree,
        note_when_nothing_matches=False,
    )
    assert planned == [
        queue.Planned(11, 1, "0,1", False),
        queue.Planned(12, 2, "0,1", False),
        queue.Planned(13, 3, "*", False),
        queue.Planned(14, 4, "", True),
    ]


def test_a_claim_read_on_from_the_last_still_finds_those_given_back(factory) -> None:
    edition_id = approved_edition(factory)
    add_subscribers(factory, 6)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id), NOW)
    with transaction(factory) as session:
        first = [d.id for d in queue.claim(session, "w", 3, now=NOW)]
        queue.release(session, "w", first[:1])  # one of them goes back to the queue
    with transaction(factory) as session:
        later = [d.id for d in queue.claim(session, "w", 3, now=NOW, after=first[-1])]
    with transaction(factory) as session:
        last = [d.id for d in queue.claim(session, "w", 3, now=NOW, after=later[-1])]
    assert later == sorted(later) and min(later) > first[-1]  # read on from there first
    assert last == first[:1]  # then the one given back, below it
    with factory() as session:
        assert queue.progress(session, edition_id)["queued"] == 0
