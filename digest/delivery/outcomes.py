"""What happened to a delivery, and recording it: sent, deferred for a retry, bounced (the
subscriber is suppressed), or failed."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from digest.delivery.mailevents import Kind, suppress
from digest.delivery.queue import RETRY_DELAYS, Claimed, ClaimLost
from digest.models import Delivery, DeliveryStatus, Subscription


class Result(enum.StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"  # a temporary failure (4xx, or the server could not be reached)
    BOUNCED = "bounced"  # the server refused the recipient (5xx)
    FAILED = "failed"  # the server refused the message itself

    @property
    def status(self) -> DeliveryStatus:
        """The delivery's status after this result (before any retries run out)."""
        return _STATUS[self]


_STATUS = {
    Result.SENT: DeliveryStatus.SENT,
    Result.DEFERRED: DeliveryStatus.DEFERRED,
    Result.BOUNCED: DeliveryStatus.BOUNCED,
    Result.FAILED: DeliveryStatus.FAILED,
}


@dataclass(frozen=True)
class Outcome:
    result: Result
    code: int | None = None
    message: str = ""

    @classmethod
    def from_reply(cls, code: int, message: bytes | str, refused: Result) -> Outcome:
        """A server's reply: 2xx sent, 4xx deferred, 5xx `refused` (bounced or failed)."""
        text = message.decode(errors="replace") if isinstance(message, bytes) else message
        if 200 <= code < 300:
            return cls(Result.SENT, code, text)
        return cls(Result.DEFERRED if 400 <= code < 500 else refused, code, text)


def storable(text: str) -> str:
    """`text` as any database column takes it: bytes that are not text shown as escapes, and
    no NUL (which PostgreSQL refuses). A reason often quotes the bad data it is about."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def new_values(
    delivery: Claimed,
    outcome: Outcome,
    now: datetime,
    retry_delays: Sequence[timedelta] = RETRY_DELAYS,
) -> dict[str, Any]:
    """The delivery's row after `outcome`: a deferral past the last retry is a failure."""
    attempts = delivery.attempts + 1
    status = outcome.result.status
    error = None if outcome.result is Result.SENT else storable(outcome.message)[:1000]
    if status is DeliveryStatus.DEFERRED and attempts > len(retry_delays):
        status, error = DeliveryStatus.FAILED, f"gave up after {attempts} tries: {error}"
    deferred = status is DeliveryStatus.DEFERRED
    return {
        "delivery_id": delivery.id,
        "holder": delivery.claimed_by,
        "new_status": status,
        "new_attempts": attempts,
        "code": outcome.code,
        "error": error,
        "retry_at": now + retry_delays[attempts - 1] if deferred else None,
        "done_at": None if deferred else now,
    }


# Only while the delivery is still this worker's: if another took it over (this one lost its
# lock), the outcome is not written over that worker's claim.
RECORD = (
    update(Delivery)
    .where(
        Delivery.id == bindparam("delivery_id"),
        Delivery.claimed_by == bindparam("holder"),
        Delivery.status == DeliveryStatus.SENDING,
    )
    .values(
        status=bindparam("new_status"),
        attempts=bindparam("new_attempts"),
        claimed_by=None,
        last_code=bindparam("code"),
        last_error=bindparam("error"),
        next_attempt_at=bindparam("retry_at"),
        finished_at=bindparam("done_at"),
    )
)


# `RECORD` for many outcomes at once on PostgreSQL, as one statement over arrays (one row of
# arrays a column): psycopg prepares it once, so each group of outcomes costs one round trip
# and almost no Python. It returns the deliveries written; any other was taken over.
RECORD_MANY_POSTGRES = """
UPDATE deliveries AS d
SET status = v.status, attempts = v.attempts, claimed_by = NULL, last_code = v.code,
    last_error = v.error, next_attempt_at = v.retry_at, finished_at = v.done_at
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::int[], %s::int[], %s::text[],
            %s::timestamptz[], %s::timestamptz[])
    AS v(id, holder, status, attempts, code, error, retry_at, done_at)
WHERE d.id = v.id AND d.claimed_by = v.holder AND d.status = 'sending'
RETURNING d.id
"""
_COLUMNS = ("delivery_id", "holder", "new_status", "new_attempts", "code", "error")


def as_arrays(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """`new_values` rows as the arrays `RECORD_MANY_POSTGRES` takes, in its order."""
    arrays: list[list[Any]] = [[row[name] for row in rows] for name in _COLUMNS]
    arrays[2] = [status.value for status in arrays[2]]  # the stored text, not the enum
    return [*arrays, [row["retry_at"] for row in rows], [row["done_at"] for row in rows]]


def record(
    db: Connection | Session,
    outcomes: Sequence[tuple[Claimed, Outcome]],
    now: datetime,
    retry_delays: Sequence[timedelta] = RETRY_DELAYS,
    *,
    hash_key: str,
) -> list[DeliveryStatus]:
    """Store outcomes, all in one statement; a bounce also suppresses its subscriber (with
    `hash_key`, the key of the suppression list's hashes).

    Raises `ClaimLost`, having written nothing, when a delivery is no longer claimed by the
    worker that claimed it (run it in a transaction when there are several)."""
    rows = [new_values(delivery, outcome, now, retry_delays) for delivery, outcome in outcomes]
    changed = db.execute(RECORD, rows[0] if len(rows) == 1 else rows).rowcount
    if changed != len(rows):
        raise ClaimLost(taken_over(db, [delivery for delivery, _ in outcomes]))
    for (delivery, _), row in zip(outcomes, rows, strict=True):
        if row["new_status"] is DeliveryStatus.BOUNCED:
            subscriber_id = db.scalar(
                select(Subscription.subscriber_id).where(
                    Subscription.id == delivery.subscription_id
                )
            )
            if subscriber_id is not None:
                detail = row["error"] or ""
                suppress(db, subscriber_id, Kind.HARD, detail, delivery.id, now, hash_key)
    return [row["new_status"] for row in rows]


def taken_over(db: Connection | Session, deliveries: Sequence[Claimed]) -> str:
    """Which of `deliveries` are no longer their claimer's, and what became of them, in words
    (read before the caller's transaction rolls back)."""
    claimer = {d.id: d.claimed_by for d in deliveries}
    now_held = db.execute(
        select(Delivery.id, Delivery.status, Delivery.claimed_by).where(Delivery.id.in_(claimer))
    )
    lost = [
        f"{delivery_id} ({DeliveryStatus(status).value}"
        + (f", claimed by {holder})" if holder else ")")
        for delivery_id, status, holder in now_held
        if holder != claimer[delivery_id] or status != DeliveryStatus.SENDING
    ]
    owner = deliveries[0].claimed_by
    return f"deliveries {', '.join(lost)} are no longer claimed by {owner}"


def needs_transaction(outcome: Outcome) -> bool:
    """Whether recording `outcome` takes more than one statement (a bounce suppresses too)."""
    return outcome.result is Result.BOUNCED
