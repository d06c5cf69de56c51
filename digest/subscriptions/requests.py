"""Public forms that send mail, queued: the page answers at once, doing the same work for every
address, and the email goes later, from a sender off the request path.

A sign-up or an "email me my link" is checked for its form alone, counted against the rate
limits and stored as one row. What the address has (a subscription, none, one that left) is
looked at only when the row is processed. So the answer, its timing and what the request
writes are the same whether or not the address is known. The rows are also what the limits
count: per address (by keyed hash, so unknown addresses count too) and per network, in the
database, so they hold across processes and restarts.

Processing a row is two steps: deciding (the sign-up's writes, and the notices it calls for,
stored in the row in one transaction), then sending what was stored. A row is claimed for a
while before either step, so several processes share the queue; one that crashes leaves its
claim to run out, and the row is taken again: a notice may then go twice, never not at all.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from digest.addresses import entry_note
from digest.db import transaction
from digest.formlimits import MEMORY, address_is_over, network_is_over
from digest.mailsettings import MailSettings
from digest.models import MailRequest, Newsletter
from digest.networks import client_address, network_of, printable, user_agent
from digest.subscriptions import signup
from digest.subscriptions.mailer import Mailer, Notice
from digest.subscriptions.manage import Origin
from digest.subscriptions.suppression import email_hash
from digest.timeutil import utcnow

log = logging.getLogger(__name__)

CLAIM = timedelta(minutes=5)  # a claimed request is left alone this long
MAX_TRIES = 3  # a request that fails to be processed this often is given up, and logged
MAX_TRIES_WITH_THE_DATABASE = 12  # an hour, a claim apart
MAX_NAME_LENGTH = 200
MAX_TOPICS = 100


class Kind(enum.StrEnum):
    SIGNUP = "signup"
    LOST_LINK = "lost_link"


@dataclass(frozen=True)
class Mail:
    """What processing needs to write notices and send them: link keys, the site's address, a
    mailer and the suppression list's key."""

    keys: list[str]
    settings: MailSettings
    mailer: Mailer
    hash_key: str


def _enqueue(
    session: Session,
    kind: Kind,
    email: str,
    origin: Origin,
    hash_key: str,
    newsletter: Newsletter | None,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    network = network_of(origin.ip)
    if network_is_over(session, network, now):
        raise signup.TooManySignups("too many requests from this network; try again in an hour")
    key = email_hash(email, hash_key)
    # Over the address's limit the request is kept as done, unprocessed: the row still counts
    # for the network, and the request writes what any other does.
    quiet = address_is_over(session, key, now)
    session.add(
        MailRequest(
            kind=kind.value,
            newsletter_id=newsletter.id if newsletter else None,
            email=None if quiet else email,
            address_key=key,
            network=network,
            detail=None if quiet else detail,
            at=now,
            tries=0,
            done_at=now if quiet else None,
        )
    )


def _origin_detail(origin: Origin) -> dict[str, Any]:
    return {
        "form": printable(origin.form, 200),
        "ip": client_address(origin.ip) if origin.ip else None,
        "agent": user_agent(origin.user_agent) or None,
    }


def ask_to_sign_up(
    session: Session,
    newsletter: Newsletter,
    form: signup.SignupForm,
    hash_key: str,
    now: datetime | None = None,
) -> str | None:
    """Queue a sign-up. Raises SignupError for a form that is not an address, TooManySignups
    when the network has sent too many; else returns what the person should know about
    their address (`entry_note`), the same whether or not it is known."""
    email = signup.normalised_address(form.email)
    detail = {
        "name": " ".join(printable(form.name, MAX_NAME_LENGTH).split()),
        "topics": sorted({t for t in form.topic_ids if 0 < t < 2**31})[:MAX_TOPICS],
        **_origin_detail(form.origin),
    }
    _enqueue(
        session, Kind.SIGNUP, email, form.origin, hash_key, newsletter, detail, now or utcnow()
    )
    return entry_note(email)


def ask_for_links(
    session: Session, typed: str, origin: Origin, hash_key: str, now: datetime | None = None
) -> None:
    """Queue an "email me my link". Raises SignupError for text that is not an address, and
    TooManySignups when the network has sent too many."""
    email = signup.normalised_address(typed)
    _enqueue(
        session,
        Kind.LOST_LINK,
        email,
        origin,
        hash_key,
        None,
        _origin_detail(origin),
        now or utcnow(),
    )


def pending(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(MailRequest).where(MailRequest.done_at.is_(None))
        )
        or 0
    )


def _claim(factory: sessionmaker[Session], now: datetime) -> int | None:
    """Take the oldest request nobody holds; its id, or None when there is none (or another
    process took it first: that one goes on)."""
    free = or_(MailRequest.claimed_until.is_(None), MailRequest.claimed_until < now)
    oldest = (
        select(MailRequest.id)
        .where(MailRequest.done_at.is_(None), free)
        .order_by(MailRequest.id)
        .limit(1)
        .scalar_subquery()
    )
    # One statement that writes: SQLite takes its write lock at once (waiting its turn), and
    # of two PostgreSQL transactions after one row, the second finds it no longer free.
    with transaction(factory) as session:
        return session.scalar(
            update(MailRequest)
            .where(MailRequest.id == oldest, MailRequest.done_at.is_(None), free)
            .values(claimed_until=now + CLAIM, tries=MailRequest.tries + 1)
            .returning(MailRequest.id)
        )


def _decide(session: Session, row: MailRequest, mail: Mail) -> list[Notice]:
    detail = row.detail or {}
    origin = Origin(detail.get("form", ""), detail.get("ip"), detail.get("agent"), row.at)
    outbox: list[Notice] = []
    if row.kind == Kind.SIGNUP:
        newsletter = session.get(Newsletter, row.newsletter_id)
        if newsletter is not None:
            form = signup.SignupForm(
                row.email or "", detail.get("name", ""), detail.get("topics", []), origin
            )
            signup.sign_up(
                session, newsletter, form, mail.keys, mail.settings, mail.hash_key, outbox
            )
    elif row.kind == Kind.LOST_LINK:
        signup.send_my_links(session, row.email or "", mail.settings, mail.keys, outbox)
    return outbox


def process(factory: sessionmaker[Session], request_id: int, mail: Mail) -> None:
    """Decide on a claimed request (unless that was done before a crash), then send."""
    try:
        with transaction(factory) as session:
            # Writing first: on SQLite the transaction holds the write lock from its start.
            session.execute(
                update(MailRequest)
                .where(MailRequest.id == request_id)
                .values(claimed_until=utcnow() + CLAIM)
            )
            row = session.get(MailRequest, request_id)
            if row.outgoing is None:
                row.outgoing = [n.as_json() for n in _decide(session, row, mail)]
            outgoing = [Notice.from_json(n) for n in row.outgoing]
    except Exception as exc:
        log.exception("request %s from a public form could not be processed", request_id)
        _failed(factory, request_id, from_database=isinstance(exc, DBAPIError))
        return
    mail.mailer.send_notices(outgoing)
    with transaction(factory) as session:
        _forget(session.get(MailRequest, request_id), utcnow())


def _failed(factory: sessionmaker[Session], request_id: int, from_database: bool) -> None:
    """A request that failed is tried again at once, up to MAX_TRIES; one the database
    refused (or that met the database away) waits for its claim to run out between tries,
    and gets more of them."""
    with transaction(factory) as session:
        row = session.get(MailRequest, request_id)
        if row.tries >= (MAX_TRIES_WITH_THE_DATABASE if from_database else MAX_TRIES):
            _forget(row, utcnow())
        elif not from_database:
            row.claimed_until = None


def _forget(row: MailRequest, now: datetime) -> None:
    """Done: keep only what the limits count."""
    row.done_at, row.claimed_until = now, None
    row.email = row.detail = row.outgoing = None


def process_all(
    factory: sessionmaker[Session], mail: Mail, stopping: Callable[[], bool] = lambda: False
) -> int:
    """Process every request waiting (and forget those past the limits' memory); how many.
    When `stopping` says so, the rest are left queued once the request in hand is done."""
    done = 0
    while not stopping() and (request_id := _claim(factory, utcnow())) is not None:
        process(factory, request_id, mail)
        done += 1
    with transaction(factory) as session:
        session.execute(
            delete(MailRequest).where(
                MailRequest.done_at.is_not(None), MailRequest.at < utcnow() - MEMORY
            )
        )
    return done
