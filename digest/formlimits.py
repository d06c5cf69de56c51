"""The limits on forms that send mail to whoever asks for it (sign-up, lost links, staff
password resets), counted over their queued requests in the database, so that they hold across
processes and restarts: a network's hour is shared by all those forms."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from digest.models import MailRequest

PER_ADDRESS_PER_DAY = 5  # emails one address may be sent from the forms
PER_NETWORK_PER_HOUR = 20  # requests from one network (an IPv4 address, an IPv6 /64)
MEMORY = timedelta(days=1)  # done requests are kept this long, for the limits


def _count(session: Session, since: datetime, *where: Any) -> int:
    query = select(func.count()).select_from(MailRequest).where(MailRequest.at > since, *where)
    return session.scalar(query) or 0


def network_is_over(session: Session, network: str, now: datetime) -> bool:
    """Whether `network` has made its hour's requests already."""
    since = now - timedelta(hours=1)
    return _count(session, since, MailRequest.network == network) >= PER_NETWORK_PER_HOUR


def address_is_over(session: Session, address_key: str, now: datetime, *where: Any) -> bool:
    """Whether the address keyed `address_key` has been sent its day's emails (of the requests
    that also match `where`)."""
    since = now - MEMORY
    return (
        _count(session, since, MailRequest.address_key == address_key, *where)
        >= PER_ADDRESS_PER_DAY
    )
