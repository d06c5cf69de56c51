"""The suppression list: addresses that left, kept as keyed hashes, and the one question every
path that could (re)subscribe someone asks: "is this address held back, and why?"

An unsubscribe holds an address back from that one newsletter (a person who left CASPAR may
still take New in the Library). A bounce, a complaint, an erasure, or an import of a cleaned or
blocklisted address holds it back from every newsletter. Imports and staff never lift an
entry; only the person does, by a fresh double opt-in (signup.confirm calls `lift`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from digest.db import insert_for
from digest.models import Newsletter, Subscriber, SubscriberStatus, Subscription, Suppression
from digest.timeutil import utcnow

CHUNK = 500  # addresses per query: well under SQLite's limit on bound parameters


class Reason(enum.StrEnum):
    """Why an address is held back, most serious first (the first is what a person is told)."""

    ERASED = "erased"
    COMPLAINED = "complained"
    BOUNCED = "bounced"
    CLEANED = "cleaned"  # imported: Mailchimp's cleaned export (it bounced there)
    BLOCKLISTED = "blocklisted"  # imported: listmonk's blocklisted status
    SUPPRESSED = "suppressed"  # imported: a list that says only "suppressed"
    UNSUBSCRIBED = "unsubscribed"


# Whatever these say about an address holds for every newsletter; an unsubscribe for one.
EVERYWHERE = frozenset(Reason) - {Reason.UNSUBSCRIBED}
_RANK = {reason: rank for rank, reason in enumerate(Reason)}


@dataclass(frozen=True)
class Held:
    reason: Reason
    everywhere: bool


def email_hash(address: str, key: str) -> str:
    """A keyed hash of an address: enough to recognise it again, not to recover it."""
    return hmac.new(key.encode(), address.strip().lower().encode(), hashlib.sha256).hexdigest()


def _reason(value: str) -> Reason:
    # Entries written before reasons were named (or by a later version) still hold an address.
    try:
        return Reason(value)
    except ValueError:
        return Reason.SUPPRESSED


def held_back(
    db: Session | Connection, addresses: Iterable[str], newsletter_id: int, key: str
) -> dict[str, Held]:
    """The addresses of `addresses` that must not be (re)subscribed to the newsletter, each
    with the most serious reason. Also honours subscriptions marked unsubscribed or suppressed
    before the list kept hashes."""
    by_hash = {email_hash(a, key): a.strip().lower() for a in addresses}
    found: dict[str, Held] = {}

    def note(address: str, held: Held) -> None:
        if address not in found or _RANK[held.reason] < _RANK[found[address].reason]:
            found[address] = held

    hashes = list(by_hash)
    for start in range(0, len(hashes), CHUNK):
        for digest, reason, scope in db.execute(
            select(Suppression.email_hash, Suppression.reason, Suppression.newsletter_id).where(
                Suppression.email_hash.in_(hashes[start : start + CHUNK]),
                or_(
                    Suppression.newsletter_id.is_(None),
                    Suppression.newsletter_id == newsletter_id,
                ),
            )
        ):
            note(by_hash[digest], Held(_reason(reason), scope is None))
    emails = list(by_hash.values())
    for start in range(0, len(emails), CHUNK):
        for address, status in db.execute(
            select(Subscriber.email, Subscription.status)
            .join(Subscription)
            .where(
                Subscriber.email.in_(emails[start : start + CHUNK]),
                Subscription.newsletter_id == newsletter_id,
                Subscription.status.in_(
                    (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.SUPPRESSED)
                ),
            )
        ):
            unsubscribed = status is SubscriberStatus.UNSUBSCRIBED
            note(address, Held(Reason.UNSUBSCRIBED if unsubscribed else Reason.SUPPRESSED, False))
    return found


def reason_for(db: Session | Connection, address: str, newsletter_id: int, key: str) -> Held | None:
    """Whether `address` is held back from the newsletter, and why (None: it is not)."""
    return held_back(db, [address], newsletter_id, key).get(address.strip().lower())


def suppress(
    db: Session | Connection,
    address: str,
    reason: Reason,
    key: str,
    newsletter_id: int | None = None,
    at: datetime | None = None,
) -> None:
    """Hold `address` back: from every newsletter for the reasons of EVERYWHERE, else from
    `newsletter_id`. Idempotent; a repeated entry takes the newer reason and time."""
    everywhere = reason in EVERYWHERE
    if not everywhere and newsletter_id is None:
        raise ValueError(f"an entry for {reason.value!r} needs its newsletter")
    _put(db, email_hash(address, key), None if everywhere else newsletter_id, reason, at)


def suppress_many(
    db: Session | Connection,
    entries: Iterable[tuple[str, Reason, int | None, datetime | None]],
    key: str,
) -> None:
    """`suppress` for each (address, reason, newsletter_id, at), in a few statements for the
    lot; of two entries for one address and scope, the later wins."""
    wanted: dict[tuple[str, int | None], dict[str, object]] = {}
    for address, reason, newsletter_id, at in entries:
        everywhere = reason in EVERYWHERE
        if not everywhere and newsletter_id is None:
            raise ValueError(f"an entry for {reason.value!r} needs its newsletter")
        scope = None if everywhere else newsletter_id
        wanted[(email_hash(address, key), scope)] = {"reason": reason.value, "at": at or utcnow()}
    found: dict[tuple[str, int | None], int] = {}
    hashes = sorted({digest for digest, _ in wanted})
    for start in range(0, len(hashes), CHUNK):
        query = select(Suppression.id, Suppression.email_hash, Suppression.newsletter_id).where(
            Suppression.email_hash.in_(hashes[start : start + CHUNK])
        )
        found.update(((digest, scope), id_) for id_, digest, scope in db.execute(query))
    table = Suppression.__table__
    changes = [
        {"entry": found[k], "new_reason": v["reason"], "new_at": v["at"]}
        for k, v in wanted.items()
        if k in found
    ]
    if changes:
        db.execute(
            update(table)
            .where(table.c.id == bindparam("entry"))
            .values(reason=bindparam("new_reason"), at=bindparam("new_at")),
            changes,
        )
    new = [
        {"email_hash": digest, "newsletter_id": scope, **values}
        for (digest, scope), values in wanted.items()
        if (digest, scope) not in found
    ]
    if new:
        db.execute(insert_for(db, table).on_conflict_do_nothing(), new)


def lift(session: Session, address: str, newsletter_id: int, key: str) -> list[Reason]:
    """The person confirmed a fresh sign-up to the newsletter: lift what held them back from it.
    An entry for every newsletter is lifted for this one only: it stays, as an entry of its
    own, for each of the others. Returns the reasons lifted."""
    digest = email_hash(address, key)
    entries = session.scalars(
        select(Suppression).where(
            Suppression.email_hash == digest,
            or_(Suppression.newsletter_id.is_(None), Suppression.newsletter_id == newsletter_id),
        )
    ).all()
    everywhere = [e for e in entries if e.newsletter_id is None]
    if everywhere:
        held = set(
            session.scalars(
                select(Suppression.newsletter_id).where(
                    Suppression.email_hash == digest, Suppression.newsletter_id.is_not(None)
                )
            )
        )
        for other in session.scalars(select(Newsletter.id).where(Newsletter.id != newsletter_id)):
            if other not in held:
                _put(session, digest, other, _reason(everywhere[0].reason), everywhere[0].at)
    session.execute(delete(Suppression).where(Suppression.id.in_([e.id for e in entries])))
    return [_reason(e.reason) for e in entries]


def _put(
    db: Session | Connection,
    digest: str,
    newsletter_id: int | None,
    reason: Reason,
    at: datetime | None,
) -> None:
    """Write the entry for (digest, newsletter_id), replacing any reason it had."""
    scope = (
        Suppression.newsletter_id.is_(None)
        if newsletter_id is None
        else Suppression.newsletter_id == newsletter_id
    )
    values = {"reason": reason.value, "at": at or utcnow()}
    changed = db.execute(
        update(Suppression).where(Suppression.email_hash == digest, scope).values(**values)
    )
    if changed.rowcount:
        return
    # Two processes may add the same address at once (a bounce while it unsubscribes): the
    # second insert then does nothing instead of failing its transaction.
    db.execute(
        insert_for(db, Suppression)
        .values(email_hash=digest, newsletter_id=newsletter_id, **values)
        .on_conflict_do_nothing()
    )
