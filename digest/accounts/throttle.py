"""Sign-in throttling: failed tries slow down one account from one address, never everyone.

Failures are counted per (account, address) pair. The first few are free; after that each
further try must wait a delay that doubles with every failure, up to a cap. A person who mistypes
slows down only themselves, on that account, from that address; the same account from an address
without failures signs in at once, so nobody can lock a colleague out by guessing. An address
that fails across many accounts (password spraying) is slowed down as a whole, for every account
but only from there. Each failure is a row with its time, so the limits hold across processes
and restarts; a try that is refused is neither checked nor recorded, and costs no hashing.

Addresses are counted as `digest.networks.network_of` says: an IPv6 client by its /64 network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from digest.models import LoginFailure

PAIR_FREE_FAILURES = 3  # typos: three tries before any wait
NETWORK_FREE_FAILURES = 30  # an office of people mistyping, before its address slows down
FIRST_DELAY = timedelta(seconds=1)  # then 2 s, 4 s, 8 s… after each further failure
MAX_DELAY = timedelta(minutes=15)
MEMORY = timedelta(hours=24)  # failures older than this are forgotten


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in is not checked now, and when it may be tried again."""

    until: datetime

    def wait_words(self, now: datetime) -> str:
        seconds = max(1, int((self.until - now).total_seconds() + 0.999))
        if seconds < 120:
            return f"{seconds} second{'s' if seconds != 1 else ''}"
        return f"{(seconds + 59) // 60} minutes"


def delay_after(failures: int, free: int) -> timedelta:
    """How long to wait after the last of `failures` failures, when `free` come without."""
    if failures < free:
        return timedelta(0)
    return min(FIRST_DELAY * 2 ** min(failures - free, 30), MAX_DELAY)


def _failures(session: Session, since: datetime, *where: object) -> tuple[int, datetime | None]:
    count, last = session.execute(
        select(func.count(), func.max(LoginFailure.at)).where(LoginFailure.at > since, *where)
    ).one()
    return count or 0, last


def refusal(session: Session, email: str, network: str, now: datetime) -> Refusal | None:
    """A refusal if this account from this network, or this network at all, must wait."""
    since = now - MEMORY
    pair, pair_last = _failures(
        session, since, LoginFailure.email == email, LoginFailure.ip == network
    )
    everyone, net_last = _failures(session, since, LoginFailure.ip == network)
    until = max(
        (
            last + delay_after(count, free)
            for count, last, free in (
                (pair, pair_last, PAIR_FREE_FAILURES),
                (everyone, net_last, NETWORK_FREE_FAILURES),
            )
            if last is not None
        ),
        default=None,
    )
    return Refusal(until) if until is not None and until > now else None


def record_failure(session: Session, email: str, network: str, now: datetime) -> LoginFailure:
    # Forgetting old failures here keeps the table as small as the memory needs.
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - MEMORY))
    failure = LoginFailure(email=email, ip=network, at=now)
    session.add(failure)
    return failure


def forget_pair(session: Session, email: str, network: str) -> None:
    """After a sign-in that worked: this account from this network starts afresh."""
    session.execute(
        delete(LoginFailure).where(LoginFailure.email == email, LoginFailure.ip == network)
    )


def forget_account(session: Session, email: str) -> int:
    """Unlock: every failure of the account, from anywhere, is forgotten; how many."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    return result.rowcount or 0


def recent_failures(session: Session, now: datetime) -> dict[str, int]:
    """How many failed sign-ins each address-of-an-account had in the memory window."""
    rows = session.execute(
        select(LoginFailure.email, func.count())
        .where(LoginFailure.at > now - MEMORY)
        .group_by(LoginFailure.email)
    )
    return dict(rows.all())


def locked_until(session: Session, now: datetime) -> dict[str, datetime]:
    """Accounts that must wait before their next try from some address, with when the last
    such wait ends: what an admin's "Unlock" lifts."""
    rows = session.execute(
        select(LoginFailure.email, func.count(), func.max(LoginFailure.at))
        .where(LoginFailure.at > now - MEMORY)
        .group_by(LoginFailure.email, LoginFailure.ip)
    )
    locked: dict[str, datetime] = {}
    for email, count, last in rows:
        until = last + delay_after(count, PAIR_FREE_FAILURES)
        if until > now:
            locked[email] = max(until, locked.get(email, until))
    return locked
