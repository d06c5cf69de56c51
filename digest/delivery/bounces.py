"""Mail that comes back: bounces, complaints, and unsubscribes sent to the `mailto:` address of
List-Unsubscribe.

A bounce is matched to its delivery by the VERP return path first (the token names it and is
signed), by the RFC 3464 report's failed addresses second. A hard bounce suppresses the
subscriber at once; a soft one does when their last three editions all bounced.

A message is removed from the mailbox only once something was done about it. One that names
nobody we know, carries a link that is not valid, or cannot be read at all stays where it is,
for a person to read.
"""

from __future__ import annotations

import enum
import imaplib
import logging
import mailbox
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flufl.bounce import all_failures
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from digest.db import transaction
from digest.delivery.mailevents import Kind, suppress
from digest.delivery.verp import delivery_of
from digest.models import Delivery, DeliveryStatus, MailEvent, Subscriber, Subscription
from digest.subscriptions.manage import Origin, subscription_for_mailto, unsubscribe
from digest.subscriptions.tokens import InvalidToken
from digest.timeutil import utcnow
from digest.wording import count

log = logging.getLogger(__name__)
SOFT_BOUNCES_IN_A_ROW = 3
Remover = Callable[[], object]
_ADDRESSED = ("Delivered-To", "X-Original-To", "Envelope-To", "To")
_VERP = re.compile(r"bounces\+[^@\s<>]+@[^\s<>,]+", re.IGNORECASE)
_MAILTO_UNSUBSCRIBE = re.compile(r"unsubscribe\+([A-Za-z0-9._-]+)@", re.IGNORECASE)
_STATUS = re.compile(r"^Status:\s*([245])\.\d{1,3}\.\d{1,3}", re.IGNORECASE | re.MULTILINE)


class Done(enum.Enum):
    """What acting on a finding did; only NOTHING leaves the message in the mailbox."""

    NOTHING = "nothing"  # it names no one we know, or its link is not valid
    RECORDED = "recorded"  # an unsubscribe, or a soft bounce noted in the history
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class Finding:
    """What one returned message says: its kind, and whom it is about."""

    kind: Kind
    return_paths: tuple[str, ...] = ()  # VERP addresses it was sent to, not yet checked
    addresses: frozenset[str] = frozenset()
    token: str | None = None
    detail: str = ""


def _addressed_to(message: Message) -> list[str]:
    return [str(value) for name in _ADDRESSED for value in message.get_all(name, [])]


def classify(message: Message, keys: Sequence[str]) -> Finding:
    """Read a returned message (pure: no database)."""
    for value in _addressed_to(message):
        if match := _MAILTO_UNSUBSCRIBE.search(value):
            return Finding(Kind.UNSUBSCRIBE, token=match[1])
    report_type = (message.get_param("report-type") or "").lower()
    if message.get_content_type() == "multipart/report" and report_type == "feedback-report":
        kind = Kind.COMPLAINT
    else:
        kind = Kind.UNKNOWN
    return_paths = tuple(a for v in _addressed_to(message) for a in _VERP.findall(v))
    temporary, permanent = all_failures(message)
    status = _STATUS.search(message.as_string())
    if kind is Kind.UNKNOWN:
        if permanent or (status and status[1] == "5"):
            kind = Kind.HARD
        elif temporary or (status and status[1] == "4"):
            kind = Kind.SOFT
    addresses = frozenset(a.decode(errors="replace").lower() for a in permanent | temporary)
    if kind is Kind.COMPLAINT:
        addresses |= _complained_about(message)
    subject = str(message.get("Subject", ""))[:200]
    return Finding(kind, return_paths, addresses, detail=subject)


def _complained_about(report: Message) -> frozenset[str]:
    """Whom an abuse report (RFC 5965) is about: its Original-Rcpt-To, or the To of the
    message it returns. Reports that came back to a plain address carry no VERP token."""
    found = set()
    for part in report.walk():
        found.update(parseaddr(str(v))[1] for v in part.get_all("Original-Rcpt-To", []))
        if part.get_content_type() == "message/rfc822" and part.is_multipart():
            original = part.get_payload(0)
            found.update(a for _, a in getaddresses([str(v) for v in original.get_all("To", [])]))
    return frozenset(a.lower() for a in found if "@" in a)


@dataclass
class BounceReport:
    counts: Counter[str]
    suppressed: int = 0
    left: int = 0  # messages not acted on, left in the mailbox for a person

    def summary(self) -> str:
        parts = [f"{n} {kind}" for kind, n in sorted(self.counts.items())]
        suppressed = (
            f"; {count(self.suppressed, 'subscriber')} suppressed" if self.suppressed else ""
        )
        left = f"; {self.left} left in the mailbox for a person" if self.left else ""
        total = sum(self.counts.values())
        return f"{count(total, 'message')}: {', '.join(parts) or 'none'}{suppressed}{left}"


def apply(
    session: Session,
    finding: Finding,
    keys: Sequence[str],
    hash_key: str,
    now: datetime | None = None,
) -> Done:
    """Record what a finding says against the subscriber (`hash_key` keys the suppression
    list's hashes)."""
    now = now or utcnow()
    if finding.kind is Kind.UNSUBSCRIBE:
        try:
            subscription = subscription_for_mailto(session, finding.token or "", keys)
        except (InvalidToken, LookupError):
            return Done.NOTHING
        origin = Origin("email to the List-Unsubscribe address")
        unsubscribe(session, subscription, origin, hash_key)
        return Done.RECORDED
    if finding.kind is Kind.UNKNOWN:
        return Done.NOTHING
    delivery = next(
        (d for a in finding.return_paths if (d := delivery_named(session, a, keys))), None
    )
    subscribers = [delivery.subscriber_id] if delivery else _by_address(session, finding)
    if not subscribers:
        return Done.NOTHING
    done = Done.RECORDED
    for subscriber_id in subscribers:
        if finding.kind is Kind.SOFT and not _soft_in_a_row(session, subscriber_id, delivery):
            session.add(
                MailEvent(
                    subscriber_id=subscriber_id,
                    delivery_id=delivery.id if delivery else None,
                    at=now,
                    kind=finding.kind.value,
                    detail=finding.detail,
                )
            )
            continue
        delivery_id = delivery.id if delivery else None
        suppress(session, subscriber_id, finding.kind, finding.detail, delivery_id, now, hash_key)
        done = Done.SUPPRESSED
    if delivery is not None and finding.kind is Kind.HARD:
        delivery.status, delivery.last_error = DeliveryStatus.BOUNCED, finding.detail
    return done


def delivery_named(session: Session, address: str, keys: Sequence[str]) -> Delivery | None:
    """The delivery a VERP return path names, if its signature holds for that delivery."""

    def link_secret_of(delivery_id: int) -> str | None:
        row = session.execute(
            select(Subscription.link_secret)
            .join(Delivery, Delivery.subscription_id == Subscription.id)
            .where(Delivery.id == delivery_id)
        ).first()
        if row is None:
            raise LookupError(delivery_id)
        return row[0]

    delivery_id = delivery_of(address, keys, link_secret_of)
    return session.get(Delivery, delivery_id) if delivery_id is not None else None


def _by_address(session: Session, finding: Finding) -> list[int]:
    if not finding.addresses:
        return []
    return list(
        session.scalars(select(Subscriber.id).where(Subscriber.email.in_(finding.addresses)))
    )


def _soft_in_a_row(session: Session, subscriber_id: int, delivery: Delivery | None) -> bool:
    """Whether this soft bounce makes the subscriber's last three editions all bounce."""
    recent = session.scalars(
        select(Delivery.id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Delivery.edition_id.desc())
        .limit(SOFT_BOUNCES_IN_A_ROW)
    ).all()
    if len(recent) < SOFT_BOUNCES_IN_A_ROW:
        return False
    bounced = set(
        session.scalars(
            select(MailEvent.delivery_id).where(
                MailEvent.delivery_id.in_(recent), MailEvent.kind == Kind.SOFT.value
            )
        )
    )
    if delivery is not None:
        bounced.add(delivery.id)
    return bounced.issuperset(recent)


def read_mailbox(source: str) -> Iterator[tuple[Message, Remover]]:
    """Messages from a Maildir folder, an mbox file, or `imaps://user:password@host/FOLDER`;
    each with a function that removes it once it has been dealt with."""
    if source.startswith(("imap://", "imaps://")):
        yield from _imap(source)
        return
    path = Path(source)
    box: mailbox.Mailbox = (
        mailbox.Maildir(path, create=False) if path.is_dir() else mailbox.mbox(path)
    )
    box.lock()
    try:
        for key in list(box.keys()):
            raw = box.get_bytes(key)
            yield message_from_bytes(raw, policy=compat32), lambda key=key: box.remove(key)
        box.flush()
    finally:
        box.unlock()
        box.close()


def _imap(source: str) -> Iterator[tuple[Message, Remover]]:
    parts = urlsplit(source)
    client_class = imaplib.IMAP4_SSL if parts.scheme == "imaps" else imaplib.IMAP4
    port = parts.port or (993 if parts.scheme == "imaps" else 143)
    client = client_class(parts.hostname or "localhost", port)
    removed: list[bytes] = []
    try:
        client.login(unquote(parts.username or ""), unquote(parts.password or ""))
        client.select(parts.path.strip("/") or "INBOX")
        _, found = client.uid("SEARCH", "ALL")
        for uid in found[0].split():
            # PEEK: a message left for a person stays unread.
            _, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = data[0][1] if data and isinstance(data[0], tuple) else b""
            yield (
                message_from_bytes(raw, policy=compat32),
                (
                    lambda uid=uid: (
                        client.uid("STORE", uid, "+FLAGS", "(\\Deleted)"),
                        removed.append(uid),
                    )
                ),
            )
        if removed:
            # Only what was dealt with here: a plain EXPUNGE would also remove messages that
            # someone else marked deleted.
            _, capabilities = client.capability()  # as the server offers them once logged in
            if b"UIDPLUS" in (capabilities[0] or b"").upper().split():
                client.uid("EXPUNGE", b",".join(removed).decode())
            else:
                client.expunge()
    finally:
        client.logout()


def process(
    factory: sessionmaker[Session], source: str, keys: Sequence[str], hash_key: str
) -> BounceReport:
    """Read every message in `source`, record what each says, and remove it once recorded.
    A message not acted on stays where it is, for a person to read."""
    report = BounceReport(Counter())
    for message, remove in read_mailbox(source):
        try:
            finding = classify(message, keys)
        except Exception:  # a message malformed in a way the parsers do not survive
            log.warning("a returned message could not be read; left for a person", exc_info=True)
            finding = Finding(Kind.UNKNOWN)
        report.counts[finding.kind.value] += 1
        with transaction(factory) as session:
            done = apply(session, finding, keys, hash_key)
        if done is Done.NOTHING:
            report.left += 1
            continue
        if done is Done.SUPPRESSED:
            report.suppressed += 1
        remove()
    return report
