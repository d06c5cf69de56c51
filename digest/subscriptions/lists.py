"""Subscriber lists in and out: CSV from Mailchimp, listmonk or our own export, and CSV out;
and staff adding one person by hand, which is a list of one.

Each bad row is reported by its number and the others are imported; every import records
where its consent came from, dated when the person gave it. No list brings back anyone on the
suppression list: such rows are held back and counted by reason. Rows that say a person left
(unsubscribed, cleaned, blocklisted) put them on it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from digest import csvfiles
from digest.addresses import entry_note, import_note
from digest.models import (
    ConsentEvent,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Topic,
)
from digest.subscriptions import suppression
from digest.subscriptions.listfiles import COLUMNS, ListRow, person, read_list
from digest.subscriptions.suppression import Held, Reason, email_hash
from digest.timeutil import utcnow

__all__ = ["COLUMNS", "HeldBack", "ImportReport", "add_subscriber", "email_hash", "import_csv"]

_STAYING = (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)
_CONSENT_KINDS = ("signup", "import")  # the events that say when consent was given


class HeldBack(ValueError):
    """Staff tried to add someone the suppression list holds back."""


@dataclass
class ImportReport:
    format: str = ""
    added: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)  # "row N: what is wrong"
    held_back: Counter[str] = field(default_factory=Counter)  # rows left out, by reason
    left: int = 0  # rows saying the person left: recorded, and on the suppression list
    unknown_tags: Counter[str] = field(default_factory=Counter)  # Mailchimp tags, not topics
    international: list[int] = field(default_factory=list)  # rows only SMTPUTF8 can reach
    notes: list[str] = field(default_factory=list)  # what staff should know about rows taken

    def held_back_summary(self) -> str:
        """E.g. "held back 3 rows: 2 unsubscribed, 1 bounced"; "" when none was."""
        total = sum(self.held_back.values())
        if not total:
            return ""
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.held_back.most_common())
        return f"held back {total} row{'' if total == 1 else 's'}: {reasons}"


@dataclass
class _Target:
    """What applying rows to one newsletter needs, loaded once."""

    newsletter: Newsletter
    source: str
    hash_key: str
    topics: dict[str, Topic]
    subscribers: dict[str, Subscriber]
    held: dict[str, Held]


def import_csv(
    session: Session, text: str, newsletter: Newsletter, source: str, hash_key: str
) -> ImportReport:
    """Import subscribers of `newsletter` from CSV text; `source` names where the list came
    from, and `hash_key` keys the suppression list."""
    found = read_list(text)
    report = ImportReport(format=found.format.value if found.format else "", errors=found.errors)
    if found.rows:
        target = _target(session, found.rows, newsletter, source, hash_key)
        _apply(session, found.rows, target, report)
    if report.international:
        report.notes.append(import_note(report.international))
    report.errors.sort(key=_row_number)
    return report


def _row_number(error: str) -> int:
    match = re.match(r"row (\d+)", error)
    return int(match[1]) if match else 0


def add_subscriber(
    session: Session,
    newsletter: Newsletter,
    address: str,
    name: str,
    topics: Sequence[str],
    source: str,
    hash_key: str,
) -> None:
    """Staff add one person who gave consent elsewhere (`source` says where). HeldBack when
    the suppression list holds the address back; ValueError for a bad address or topic."""
    row = person(address, name, topics, source)
    report = ImportReport()
    target = _target(session, [row], newsletter, source, hash_key)
    _apply(session, [row], target, report)
    if report.errors:
        raise ValueError(report.errors[0].split(": ", 1)[1])
    if report.held_back:
        (reason,) = report.held_back
        raise HeldBack(
            f"{row.email} is on the suppression list ({reason}): only the person can come "
            f"back, by signing up at /subscribe/{newsletter.slug}"
        )


def _target(
    session: Session, rows: list[ListRow], newsletter: Newsletter, source: str, hash_key: str
) -> _Target:
    topics = {t.slug: t for t in session.scalars(select(Topic))}
    topics.update({t.label.casefold(): t for t in topics.values()})
    addresses = sorted({row.email for row in rows})
    subscribers: dict[str, Subscriber] = {}
    for start in range(0, len(addresses), suppression.CHUNK):
        subscribers.update(
            (s.email, s)
            for s in session.scalars(
                select(Subscriber)
                .where(Subscriber.email.in_(addresses[start : start + suppression.CHUNK]))
                .options(selectinload(Subscriber.subscriptions))
            )
        )
    held = suppression.held_back(session, addresses, newsletter.id, hash_key)
    return _Target(newsletter, source, hash_key, topics, subscribers, held)


def _apply(session: Session, rows: list[ListRow], target: _Target, report: ImportReport) -> None:
    for row in rows:
        held = target.held.get(row.email)
        # An erased address never comes back, not even as a record that it left.
        if held is not None and (held.reason is Reason.ERASED or row.status in _STAYING):
            report.held_back[held.reason.value] += 1
            continue
        unknown = [t for t in row.topics if t.casefold() not in target.topics]
        if unknown:
            report.errors.append(f"row {row.number}: unknown topic {', '.join(unknown)}")
            continue
        tags = [t for t in row.tags if t.casefold() in target.topics]
        report.unknown_tags.update(t for t in row.tags if t.casefold() not in target.topics)
        chosen = {target.topics[t.casefold()] for t in (*row.topics, *tags)}
        _store(session, row, sorted(chosen, key=lambda t: t.slug), target, report)
        if entry_note(row.email):
            report.international.append(row.number)
        if row.left is not None:
            report.left += 1
            suppression.suppress(
                session, row.email, row.left, target.hash_key, target.newsletter.id, row.left_at
            )
            target.held[row.email] = Held(row.left, row.left in suppression.EVERYWHERE)


def _store(
    session: Session, row: ListRow, topics: list[Topic], target: _Target, report: ImportReport
) -> None:
    newsletter = target.newsletter
    subscriber = target.subscribers.get(row.email)
    if subscriber is None:
        subscriber = target.subscribers[row.email] = Subscriber(email=row.email, name=row.name)
        session.add(subscriber)
        report.added += 1
    else:
        subscriber.name = subscriber.name or row.name
        report.updated += 1
    subscription = next(
        (s for s in subscriber.subscriptions if s.newsletter_id == newsletter.id), None
    )
    if subscription is None:
        subscription = Subscription(newsletter=newsletter)
        subscriber.subscriptions.append(subscription)
    # Leaving never softens: a bounced address stays suppressed, not merely unsubscribed.
    if subscription.status is not SubscriberStatus.SUPPRESSED or row.status in _STAYING:
        subscription.status = row.status
    subscription.confirmed_at = row.confirmed_at or subscription.confirmed_at
    subscription.topics = topics
    session.flush()
    now = utcnow()
    session.add(
        ConsentEvent(
            subscriber_id=subscriber.id,
            newsletter_id=newsletter.id,
            at=row.consent_at or now,
            kind="import",
            form=target.source,
            ip=row.consent_ip,
            detail={
                "status": row.status.value,
                "imported_at": now.isoformat(),
                "consent_at": row.consent_at.isoformat() if row.consent_at else None,
                "consent_source": row.consent_source,
            },
        )
    )
    if row.status is SubscriberStatus.UNSUBSCRIBED and row.left_at is not None:
        session.add(
            ConsentEvent(
                subscriber_id=subscriber.id,
                newsletter_id=newsletter.id,
                at=row.left_at,
                kind="unsubscribe",
                form=target.source,
                detail=row.left_detail or None,
            )
        )


def export_rows(session: Session, newsletter: Newsletter) -> Iterable[dict[str, str]]:
    query = (
        select(Subscription)
        .where(Subscription.newsletter_id == newsletter.id)
        .options(selectinload(Subscription.subscriber), selectinload(Subscription.topics))
        .join(Subscriber)
        .order_by(Subscriber.email)
    )
    for subscription in session.scalars(query):
        first = session.scalar(
            select(ConsentEvent)
            .where(
                ConsentEvent.subscriber_id == subscription.subscriber_id,
                ConsentEvent.newsletter_id == newsletter.id,
                ConsentEvent.kind.in_(_CONSENT_KINDS),
            )
            .order_by(ConsentEvent.at)
            .limit(1)
        )
        # Where consent was first given: an imported row keeps the source its list named.
        source = ((first.detail or {}).get("consent_source") or first.form) if first else ""
        yield {
            "email": subscription.subscriber.email,
            "name": subscription.subscriber.name,
            "status": subscription.status.value,
            "topics": ";".join(t.slug for t in subscription.topics),
            "consent_source": source,
            "consent_at": first.at.isoformat() if first else "",
            "consent_ip": (first.ip or "") if first else "",
            "confirmed_at": subscription.confirmed_at.isoformat()
            if subscription.confirmed_at
            else "",
        }


def write_csv(rows: Iterable[dict[str, str]], path: Path) -> int:
    with path.open("w", newline="", encoding="utf-8") as handle:
        return csvfiles.write_rows(handle, COLUMNS, rows)
