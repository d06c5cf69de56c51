"""What staff do to subscribers, in the audit log: adding, importing, exporting, unsubscribing
and erasing; and, on erasure, forgetting the person in the entries written before it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, Text, cast, or_, select
from sqlalchemy.orm import Session

from digest import audit
from digest.models import AuditEntry, Newsletter
from digest.subscriptions.listreport import ImportReport, Outcome
from digest.wording import count, who

SUBSCRIBER = audit.ObjectType.SUBSCRIBER
ERASED = "(erased)"  # what stands where an erased person's address or name was
# Subscriber entries that may name anyone in their free text (a search, a file's name), read
# whole on an erasure; the others are found by their subscriber or by the address itself.
_FREE_TEXT = (audit.Action.SUBSCRIBER_EXPORT.value, audit.Action.SUBSCRIBER_IMPORT.value)


def added(
    session: Session,
    actor: str,
    subscriber_id: int,
    newsletter: Newsletter,
    person: tuple[str, str],
    topics: Sequence[str],
    source: str,
    outcome: Outcome,
) -> None:
    """Staff added `person` (address, name) to `newsletter`, or changed their subscription."""
    email, name = person
    verb = "Added" if outcome is Outcome.NEW else "Updated"
    audit.record(
        session,
        actor=actor,
        action=audit.Action.SUBSCRIBER_ADD,
        object_type=SUBSCRIBER,
        object_id=subscriber_id,
        summary=f"{verb} {who(name, email)} in {newsletter.slug}",
        after={
            "email": email,
            "name": name,
            "newsletter": newsletter.slug,
            "topics": list(topics),
            "consent source": source,
            "outcome": outcome.value,
        },
    )


def imported(
    session: Session,
    actor: str,
    newsletter: Newsletter,
    report: ImportReport,
    file_name: str,
    source: str,
) -> None:
    """One entry for a whole import, with its counts: not one per row."""
    counts = {
        "new": report.outcomes[Outcome.NEW],
        "updated": report.outcomes[Outcome.UPDATED],
        "unchanged": report.outcomes[Outcome.UNCHANGED],
        "left": report.outcomes[Outcome.LEFT],
        "held back": report.outcomes[Outcome.HELD_BACK],
        "bad rows": report.outcomes[Outcome.BAD],
    }
    said = ", ".join(f"{n} {what}" for what, n in counts.items())
    audit.record(
        session,
        actor=actor,
        action=audit.Action.SUBSCRIBER_IMPORT,
        object_type=SUBSCRIBER,
        object_id=None,
        summary=f"Imported {file_name or 'a list'} into {newsletter.slug}: {said}",
        after={
            "newsletter": newsletter.slug,
            "file": file_name,
            "format": report.format,
            "consent source": source,
            **counts,
        },
    )


def exported(session: Session, actor: str, newsletter: Newsletter, rows: int, words: str) -> None:
    """Someone took a copy of the newsletter's subscribers: personal data leaving the service."""
    found = f" matching {words!r}" if words else ""
    audit.record(
        session,
        actor=actor,
        action=audit.Action.SUBSCRIBER_EXPORT,
        object_type=SUBSCRIBER,
        object_id=None,
        summary=f"Exported {count(rows, 'subscriber')} of {newsletter.slug}{found}",
        after={"newsletter": newsletter.slug, "rows": rows, "search": words},
    )


def unsubscribed(
    session: Session,
    actor: str,
    subscriber_id: int,
    person: tuple[str, str],
    newsletter: Newsletter,
    before: str,
    after: str,
) -> None:
    email, name = person
    audit.record(
        session,
        actor=actor,
        action=audit.Action.SUBSCRIBER_UNSUBSCRIBE,
        object_type=SUBSCRIBER,
        object_id=subscriber_id,
        summary=f"Unsubscribed {who(name, email)} from {newsletter.slug}",
        before={"newsletter": newsletter.slug, "status": before},
        after={"newsletter": newsletter.slug, "status": after},
    )


def erased(session: Session, actor: str, subscriber_id: int, email: str, name: str) -> None:
    """Record the erasure by the subscriber's number alone, and take the person's address and
    name out of every entry written before: erasure promises to forget them, and an audit log
    that kept them would break that promise. The entries stay, so that who did what stays
    known; only the person is gone from them."""
    forget(session, subscriber_id, email, name)
    audit.record(
        session,
        actor=actor,
        action=audit.Action.SUBSCRIBER_ERASE,
        object_type=SUBSCRIBER,
        object_id=subscriber_id,
        summary="erased",
    )


def forget(session: Session, subscriber_id: int, email: str, name: str) -> int:
    """Replace `email` and `name` by ERASED in the summary, before and after of each entry
    about the subscriber, each subscriber entry with free text, and any entry at all that
    holds the address. Returns how many entries changed."""
    patterns = [p for p in (_pattern(email), _pattern(name)) if p is not None]
    changed = 0
    for entry in session.scalars(_holding(subscriber_id, email)):
        summary, before, after = (
            _blank(v, patterns) for v in (entry.summary, entry.before, entry.after)
        )
        if (summary, before, after) != (entry.summary, entry.before, entry.after):
            entry.summary, entry.before, entry.after = summary, before, after
            changed += 1
    return changed


def _holding(subscriber_id: int, email: str) -> Select[tuple[AuditEntry]]:
    """The entries that may name the subscriber. The address is looked for in the stored JSON
    as written (non-ASCII escaped) and as it reads; case-insensitively, as far as the
    database folds case."""
    forms = {email, json.dumps(email)[1:-1]}
    texts = (AuditEntry.summary, cast(AuditEntry.before, Text), cast(AuditEntry.after, Text))
    return select(AuditEntry).where(
        or_(
            (AuditEntry.object_type == SUBSCRIBER.value)
            & or_(AuditEntry.object_id == str(subscriber_id), AuditEntry.action.in_(_FREE_TEXT)),
            # A staff account with the same address is not the subscriber's data: its
            # entries keep it, as the account does.
            (AuditEntry.object_type != audit.ObjectType.USER.value)
            & or_(*(text.icontains(form, autoescape=True) for text in texts for form in forms)),
        )
    )


def _pattern(words: str) -> re.Pattern[str] | None:
    """`words` as a case-insensitive pattern that matches them whole (not "Al" in "Alerts");
    None for no words."""
    words = " ".join(words.split())
    if not words:
        return None
    spaced = r"\s+".join(re.escape(w) for w in words.split(" "))
    return re.compile(rf"(?<!\w){spaced}(?!\w)", re.IGNORECASE)


def _blank(value: Any, patterns: list[re.Pattern[str]]) -> Any:
    """`value` with every match of `patterns` in its text (keys and values) replaced."""
    if isinstance(value, str):
        for pattern in patterns:
            value = pattern.sub(ERASED, value)
        return value
    if isinstance(value, dict):
        return {_blank(k, patterns): _blank(v, patterns) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v, patterns) for v in value]
    return value
