"""Subscriber lists in and out: CSV from Mailchimp, listmonk or our own export, and CSV out;
and staff adding one person by hand, which is a list of one.

Each bad row is reported by its number and the others are imported; every import records
where its consent came from, dated when the person gave it. No list brings back anyone on the
suppression list: such rows are held back and counted by reason. Rows that say a person left
(unsubscribed, cleaned, blocklisted) put them on it.

A list is read a row at a time and written BATCH rows at a time, each batch with a handful of
statements whatever its length, so that time grows with the list and memory does not. Rows
are checked before they are written (listfiles); should the database refuse a batch even so,
it is written again row by row, each in a savepoint, and only the row it refuses is left out.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select, true
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from digest import csvfiles
from digest.addresses import import_note
from digest.db import begin_writing, first_line, refresh_statistics
from digest.errors import Invalid, Refused
from digest.models import (
    ConsentEvent,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionTopic,
    Topic,
)
from digest.subscriptions import staffaudit
from digest.subscriptions.listbatch import Rehearsal, Target, apply_rows, load_target
from digest.subscriptions.listfiles import (
    COLUMNS,
    MAX_SOURCE,
    ListRow,
    RowError,
    person,
    read_list,
)
from digest.subscriptions.listreport import ImportReport, Outcome
from digest.subscriptions.overview import matching
from digest.subscriptions.suppression import email_hash

__all__ = [
    "COLUMNS",
    "HeldBack",
    "ImportReport",
    "Outcome",
    "add_subscriber",
    "email_hash",
    "import_csv",
]

BATCH = 1000  # rows written together
# What a database says of a row it will not take; a lost connection or a lock fails the whole
# import instead, as retrying each row could not help.
_REFUSED = (IntegrityError, DataError)
_WRITTEN = ("subscribers", "subscriptions", "suppressions", "consent_events")
_CONSENT_KINDS = ("signup", "import")  # the events that say when consent was given
_SUBSCRIBERS = Subscriber.__table__
_SUBSCRIPTIONS = Subscription.__table__


class HeldBack(Refused, ValueError):
    """Staff tried to add someone the suppression list holds back."""


def import_csv(
    session: Session,
    source: csvfiles.CsvFile | str,
    newsletter: Newsletter,
    origin: str,
    hash_key: str,
    *,
    actor: str,
    file_name: str = "",
    dry_run: bool = False,
) -> ImportReport:
    """Import subscribers of `newsletter` from a CSV file (or its text); `origin` names where
    the list came from, and `hash_key` keys the suppression list. The audit log gets one
    entry for the import, naming `actor` and `file_name`. With `dry_run`, every row
    is decided just the same and nothing is written: the report says what an import would do
    (its fingerprint is the import's, as long as the file and the subscribers stay as they
    are). CsvFileError when the file cannot be read as a list at all; ValueError for an
    `origin` the database cannot take."""
    check_origin(origin)
    if isinstance(source, str):
        source = csvfiles.read_csv(io.StringIO(source, newline=""))
    found = read_list(source)
    report = ImportReport(format=found.format.value)
    target = load_target(session, newsletter, origin, hash_key)
    rehearsal = Rehearsal() if dry_run else None
    if not dry_run:
        begin_writing(session)
    for number, batch in enumerate(csvfiles.read_ahead(found.rows, BATCH), start=1):
        if number & (number - 1) == 0 and number > 1 and not dry_run:  # 2nd, 4th, 8th...
            refresh_statistics(session, _WRITTEN)
        rows = [r for r in batch if isinstance(r, ListRow)]
        errors = [r for r in batch if isinstance(r, RowError)]
        if rehearsal is not None:
            decided = apply_rows(session, rows, target, rehearsal)
            report.add(decided.report)
            report.add_errors(errors + decided.errors)
        else:
            report.add_errors(errors + _import_batch(session, rows, target, report))
    if report.international:
        report.notes.append(import_note(report.international))
    if not dry_run:
        staffaudit.imported(session, actor, newsletter, report, file_name, origin)
    return report


def check_origin(origin: str) -> None:
    """ValueError when the database cannot take `origin` as where consent came from."""
    if len(origin) > MAX_SOURCE:
        raise Invalid(f"the source has {len(origin)} characters, over the {MAX_SOURCE} taken")
    if problem := csvfiles.control_problem({"the source": origin}, ["the source"]):
        raise Invalid(problem)


def _import_batch(
    session: Session, rows: list[ListRow], target: Target, report: ImportReport
) -> list[RowError]:
    """Apply and write `rows`; returns the rows' errors. A batch the database refuses is
    written again a row at a time, so that only the row it refuses is left out."""
    try:
        with session.begin_nested():
            batch = apply_rows(session, rows, target)
    except _REFUSED:
        errors = []
        for row in rows:
            try:
                with session.begin_nested():
                    one = apply_rows(session, [row], target)
            except _REFUSED as exc:
                errors.append(RowError(row.number, f"not stored: {first_line(exc)}"))
            else:
                report.add(one.report)
                errors += one.errors
        return errors
    report.add(batch.report)
    return batch.errors


def add_subscriber(
    session: Session,
    newsletter: Newsletter,
    address: str,
    name: str,
    topics: Sequence[str],
    source: str,
    hash_key: str,
    *,
    actor: str,
) -> Outcome:
    """Staff (`actor`) add one person who gave consent elsewhere (`source` says where);
    returns whether they are new to the newsletter, updated or unchanged, and says so in the
    audit log unless unchanged. HeldBack when the suppression list holds the address back;
    ValueError for a bad address or topic."""
    row = person(address, name, topics, source)
    check_origin(source)
    batch = apply_rows(session, [row], load_target(session, newsletter, source, hash_key))
    if batch.errors:
        raise Invalid(batch.errors[0].message)
    if batch.report.held_back:
        (reason,) = batch.report.held_back
        raise HeldBack(
            f"{row.email} is on the suppression list ({reason}): only the person can come "
            f"back, by signing up at /subscribe/{newsletter.slug}"
        )
    (outcome,) = batch.report.outcomes
    if outcome is not Outcome.UNCHANGED:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.email == row.email))
        assert subscriber_id is not None  # just written
        staffaudit.added(
            session,
            actor,
            subscriber_id,
            newsletter,
            (row.email, row.name),
            row.topics,
            source,
            outcome,
        )
    return outcome


def export_rows(
    session: Session, newsletter: Newsletter, words: str = ""
) -> Iterator[dict[str, str]]:
    """Every subscription to the newsletter (of subscribers whose address or name holds
    `words`, when given), by address, with where and when consent was first given; read
    BATCH at a time."""
    after = ""
    wanted = matching(words)
    while True:
        page = session.execute(
            select(
                Subscriber.id,
                Subscriber.email,
                Subscriber.name,
                Subscription.id,
                Subscription.status,
                Subscription.confirmed_at,
            )
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscription.newsletter_id == newsletter.id, Subscriber.email > after)
            .where(wanted if wanted is not None else true())
            .order_by(Subscriber.email)
            .limit(BATCH)
        ).all()
        if not page:
            return
        topics = _topic_slugs(session, [row[3] for row in page])
        consents = _first_consents(session, [row[0] for row in page], newsletter.id)
        for subscriber_id, email, name, subscription_id, status, confirmed_at in page:
            first = consents.get(subscriber_id)
            yield {
                "email": email,
                "name": name,
                "status": SubscriberStatus(status).value,
                "topics": ";".join(topics.get(subscription_id, [])),
                # Where consent was first given: an imported row keeps the source its list named.
                "consent_source": ((first[2] or {}).get("consent_source") or first[1])
                if first
                else "",
                "consent_at": first[0].isoformat() if first else "",
                "consent_ip": (first[3] or "") if first else "",
                "confirmed_at": confirmed_at.isoformat() if confirmed_at else "",
            }
        after = page[-1][1]


def _topic_slugs(session: Session, subscription_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for subscription_id, slug in session.execute(
        select(SubscriptionTopic.subscription_id, Topic.slug)
        .join(Topic, Topic.id == SubscriptionTopic.topic_id)
        .where(SubscriptionTopic.subscription_id.in_(subscription_ids))
        .order_by(Topic.slug)
    ):
        found.setdefault(subscription_id, []).append(slug)
    return found


def _first_consents(
    session: Session, subscriber_ids: list[int], newsletter_id: int
) -> dict[int, tuple[Any, ...]]:
    """Each subscriber's first consent to the newsletter: (at, form, detail, ip)."""
    first: dict[int, tuple[Any, ...]] = {}
    for subscriber_id, *event in session.execute(
        select(
            ConsentEvent.subscriber_id,
            ConsentEvent.at,
            ConsentEvent.form,
            ConsentEvent.detail,
            ConsentEvent.ip,
        )
        .where(
            ConsentEvent.subscriber_id.in_(subscriber_ids),
            ConsentEvent.newsletter_id == newsletter_id,
            ConsentEvent.kind.in_(_CONSENT_KINDS),
        )
        .order_by(ConsentEvent.subscriber_id, ConsentEvent.at, ConsentEvent.id)
    ):
        first.setdefault(subscriber_id, tuple(event))
    return first


def export(
    session: Session, newsletter: Newsletter, handle: TextIO, *, actor: str, words: str = ""
) -> int:
    """Write the newsletter's subscribers (those `words` find, when given) to `handle` as
    CSV, and say in the audit log who took how many: personal data is leaving the service.
    Returns the rows written."""
    count = csvfiles.write_rows(handle, COLUMNS, export_rows(session, newsletter, words))
    staffaudit.exported(session, actor, newsletter, count, words)
    return count


def write_csv(session: Session, newsletter: Newsletter, path: Path, *, actor: str) -> int:
    """`export` to a file."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        return export(session, newsletter, handle, actor=actor)
