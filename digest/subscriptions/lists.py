"""Subscriber list files: CSV in (from Mailchimp, listmonk or our own export) and CSV out.

Each bad row is reported by its number and the others are imported; every import records
where its consent came from.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from digest.addresses import entry_note, import_note
from digest.models import (
    ConsentEvent,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
    Topic,
)
from digest.timeutil import utcnow

COLUMNS = (
    "email",
    "name",
    "status",
    "topics",
    "consent_source",
    "consent_at",
    "consent_ip",
    "confirmed_at",
)
# Column names of other services' exports, read as ours.
ALIASES = {
    "email address": "email",
    "e-mail": "email",
    "first name": "first_name",
    "last name": "last_name",
    "optin_time": "consent_at",
    "optin_ip": "consent_ip",
    "confirm_time": "confirmed_at",
    "tags": "topics",
    "created_at": "consent_at",
}
STATUSES = {
    "active": SubscriberStatus.ACTIVE,
    "subscribed": SubscriberStatus.ACTIVE,
    "enabled": SubscriberStatus.ACTIVE,
    "confirmed": SubscriberStatus.ACTIVE,
    "pending": SubscriberStatus.PENDING,
    "unconfirmed": SubscriberStatus.PENDING,
    "unsubscribed": SubscriberStatus.UNSUBSCRIBED,
    "blocklisted": SubscriberStatus.SUPPRESSED,
    "cleaned": SubscriberStatus.SUPPRESSED,
    "suppressed": SubscriberStatus.SUPPRESSED,
}


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)  # "row N: what is wrong"
    suppressed: int = 0  # rows for erased or suppressed addresses, left out
    notes: list[str] = field(default_factory=list)  # what staff should know about rows taken


def email_hash(address: str, key: str) -> str:
    """A keyed hash of an address: enough to recognise it again, not to recover it."""
    return hmac.new(key.encode(), address.strip().lower().encode(), hashlib.sha256).hexdigest()


def _when(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def import_csv(
    session: Session, text: str, newsletter: Newsletter, source: str, hash_key: str
) -> ImportReport:
    """Import subscribers of `newsletter` from CSV text; `source` names where consent came from."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    columns = [ALIASES.get(c.strip().lower(), c.strip().lower()) for c in reader.fieldnames or []]
    if "email" not in columns:
        report.errors.append("row 1: no email column (expected: " + ", ".join(COLUMNS) + ")")
        return report
    reader.fieldnames = columns
    topics = {t.slug: t for t in session.scalars(select(Topic))}
    topics.update({t.label.casefold(): t for t in topics.values()})
    suppressed = set(session.scalars(select(Suppression.email_hash)))
    existing = {
        s.email: s
        for s in session.scalars(select(Subscriber).options(selectinload(Subscriber.subscriptions)))
    }
    international: list[int] = []  # rows whose address only SMTPUTF8 can carry
    for number, row in enumerate(reader, start=2):
        try:
            values = {k: (v or "").strip() for k, v in row.items() if k is not None}
            address = validate_email(
                values.get("email", ""), check_deliverability=False
            ).normalized.lower()
            status = STATUSES.get((values.get("status") or "active").lower())
            if status is None:
                raise ValueError(f"unknown status {values['status']!r}")
            wanted = [
                t.strip()
                for t in values.get("topics", "").replace(";", ",").split(",")
                if t.strip()
            ]
            unknown = [t for t in wanted if t.casefold() not in topics]
            if unknown:
                raise ValueError(f"unknown topic {', '.join(unknown)}")
            consent_at = _when(values.get("consent_at", ""))
            confirmed_at = _when(values.get("confirmed_at", ""))
        except EmailNotValidError as exc:
            report.errors.append(
                f"row {number}: {values.get('email', '')!r} is not an email address ({exc})"
            )
            continue
        except ValueError as exc:
            report.errors.append(f"row {number}: {exc}")
            continue
        if email_hash(address, hash_key) in suppressed:
            report.suppressed += 1
            continue
        name = values.get("name") or " ".join(
            filter(None, [values.get("first_name", ""), values.get("last_name", "")])
        )
        if entry_note(address):
            international.append(number)
        subscriber = existing.get(address)
        if subscriber is None:
            subscriber = existing[address] = Subscriber(email=address, name=name)
            session.add(subscriber)
            report.added += 1
        else:
            subscriber.name = subscriber.name or name
            report.updated += 1
        subscription = next(
            (s for s in subscriber.subscriptions if s.newsletter_id == newsletter.id), None
        )
        if subscription is None:
            subscription = Subscription(newsletter=newsletter)
            subscriber.subscriptions.append(subscription)
        subscription.status = status
        subscription.confirmed_at = confirmed_at or subscription.confirmed_at
        subscription.topics = sorted({topics[t.casefold()] for t in wanted}, key=lambda t: t.slug)
        session.flush()
        session.add(
            ConsentEvent(
                subscriber_id=subscriber.id,
                newsletter_id=newsletter.id,
                at=utcnow(),
                kind="import",
                form=source,
                ip=values.get("consent_ip") or None,
                detail={
                    "status": status.value,
                    "consent_at": consent_at.isoformat() if consent_at else None,
                    "consent_source": values.get("consent_source") or None,
                },
            )
        )
    if international:
        report.notes.append(import_note(international))
    return report


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
            )
            .order_by(ConsentEvent.at)
            .limit(1)
        )
        yield {
            "email": subscription.subscriber.email,
            "name": subscription.subscriber.name,
            "status": subscription.status.value,
            "topics": ";".join(t.slug for t in subscription.topics),
            "consent_source": first.form if first else "",
            "consent_at": first.at.isoformat() if first else "",
            "consent_ip": (first.ip or "") if first else "",
            "confirmed_at": subscription.confirmed_at.isoformat()
            if subscription.confirmed_at
            else "",
        }


def write_csv(rows: Iterable[dict[str, str]], path: Path) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
