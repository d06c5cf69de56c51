"""Short plain-text emails to one person: confirmations, lost links, reports to editors."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from digest.delivery.transport import Transport
from digest.editions.message import POLICY
from digest.timeutil import utcnow


def send_notice(
    transport: Transport,
    from_address: str,
    to: str,
    subject: str,
    text: str,
    now: datetime | None = None,
) -> None:
    """Raises DeliveryError when the mail server refuses it."""
    sender = parseaddr(from_address)[1]
    message = EmailMessage(policy=POLICY)
    message["From"] = from_address
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now or utcnow())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    transport.send(sender, to, message.as_bytes())
