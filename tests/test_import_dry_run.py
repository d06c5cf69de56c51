"""A list import's dry run is the import itself with the writing left out: it writes nothing,
decides every row as the import then does (across batches too, where an earlier batch's rows
are not in the database yet), and says of each row what it does: new, updated, unchanged,
left, held back or bad."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.db import transaction
from digest.models import (
    ConsentEvent,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)
from digest.subscriptions import lists, suppression
from digest.subscriptions.listreport import Outcome

KEY = "dry-run-key"
HEADER = "email,name,status,topics,consent_source,consent_at,consent_ip,confirmed_at\n"
LIST = HEADER + (
    "zoe@例え.jp,Zoë Ødegård,active,neglect,Paper form — conference,,,\n"
    "ann@example.org,Ann,active,,,,,\n"
    "dan@example.org,Dan,active,online-grooming,,,,\n"
    "not-an-address,Bad,active,,,,,\n"
    "ben@example.org,Ben,active,no-such-topic,,,,\n"
    "bounced@example.org,,active,,,,,\n"
    "cat@example.org,Cat,unsubscribed,,,,,\n"
    "cat@example.org,Cat,active,,,,,\n"
    "zoe@例え.jp,Zoë Ødegård,active,,,,,\n"
)


def caspar(session: Session) -> Newsletter:
    return session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))


@pytest.fixture
def stored(factory):
    """Ann subscribed with no topic, Dan with neglect; a bounced address suppressed."""
    with transaction(factory) as session:
        newsletter = caspar(session)
        neglect = session.scalar(select(Topic).where(Topic.slug == "neglect"))
        for email, name, topics in (
            ("ann@example.org", "Ann", []),
            ("dan@example.org", "", [neglect]),
        ):
            subscriber = Subscriber(email=email, name=name)
            subscriber.subscriptions.append(
                Subscription(newsletter=newsletter, status=SubscriberStatus.ACTIVE, topics=topics)
            )
            session.add(subscriber)
        suppression.suppress(session, "bounced@example.org", suppression.Reason.BOUNCED, KEY)
    return factory


def counts(session: Session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Subscriber, Subscription, ConsentEvent, Suppression)
    )


def run(factory, text: str, dry_run: bool) -> lists.ImportReport:
    with transaction(factory) as session:
        return lists.import_csv(
            session, text, caspar(session), "a list", KEY, actor="test", dry_run=dry_run
        )


def test_a_dry_run_writes_nothing(stored) -> None:
    with stored() as session:
        before = counts(session)
    run(stored, LIST, dry_run=True)
    with stored() as session:
        assert counts(session) == before


@pytest.mark.parametrize("batch", [1, 2, 1000], ids=["rows alone", "pairs", "one batch"])
def test_the_dry_run_decides_every_row_as_the_import_does(stored, monkeypatch, batch) -> None:
    monkeypatch.setattr(lists, "BATCH", batch)
    rehearsed = run(stored, LIST, dry_run=True)
    done = run(stored, LIST, dry_run=False)
    assert rehearsed.fingerprint == done.fingerprint
    assert rehearsed.listed == done.listed
    assert (rehearsed.added, rehearsed.updated, rehearsed.skipped) == (
        done.added,
        done.updated,
        done.skipped,
    )


def test_each_row_is_told_what_it_does(stored) -> None:
    report = run(stored, LIST, dry_run=True)
    shown = {
        outcome: [(r.number, r.email, r.detail) for r in rows]
        for outcome, rows in report.listed.items()
    }
    assert shown[Outcome.NEW] == [(2, "zoe@例え.jp", "active")]
    assert shown[Outcome.UNCHANGED] == [(3, "ann@example.org", "active")]
    assert shown[Outcome.UPDATED] == [
        (4, "dan@example.org", "topics neglect → online-grooming; name added"),
        (10, "zoe@例え.jp", "topics neglect → none"),
    ]
    assert shown[Outcome.HELD_BACK] == [
        (7, "bounced@example.org", "bounced"),
        (9, "cat@example.org", "unsubscribed"),  # the row before said Cat left
    ]
    assert shown[Outcome.LEFT] == [(8, "cat@example.org", "unsubscribed")]
    assert [(r.number, r.detail) for r in report.listed[Outcome.BAD]] == [
        (5, "'not-an-address' is not an email address (An email address must have an @-sign.)"),
        (6, "unknown topic no-such-topic"),
    ]
    assert report.taken == 5


def test_the_fingerprint_changes_when_the_subscribers_do(stored) -> None:
    before = run(stored, LIST, dry_run=True).fingerprint
    with transaction(stored) as session:
        suppression.suppress(
            session, "ann@example.org", suppression.Reason.UNSUBSCRIBED, KEY, caspar(session).id
        )
    after = run(stored, LIST, dry_run=True)
    assert after.fingerprint != before
    assert after.listed[Outcome.HELD_BACK][0].email == "ann@example.org"
