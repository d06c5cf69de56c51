"""Short plain-text emails to one person: confirmations, lost links, reports to editors.

They go through the newsletter's own transport (see `for_newsletter`), so they are signed
with its DKIM key when it has one, like the editions themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from digest.addresses import AddressError, on_the_wire
from digest.delivery.transport import DeliveryError, Transport, Transports, for_newsletter
from digest.editions.headers import address_header, mailbox, text_header
from digest.subscriptions.mailer import Notice
from digest.timeutil import utcnow

log = logging.getLogger(__name__)


def notice_bytes(
    from_address: str, to: str, subject: str, text: str, now: datetime | None = None
) -> tuple[str, str, bytes]:
    """The envelope sender and recipient, and the message. The headers are written as the
    editions' are; a UTF-8 local part in To goes as it is (RFC 6532), for SMTPUTF8."""
    sender, recipient = mailbox(from_address), on_the_wire(to)
    body = EmailMessage(policy=SMTP)
    body.set_content(text, charset="utf-8", cte="quoted-printable")
    headers = b"".join(
        (
            address_header("From", from_address),
            b"To: " + recipient.encode() + b"\r\n",
            text_header("Subject", subject),
            f"Date: {format_datetime(now or utcnow())}\r\n".encode(),
            f"Message-ID: {make_msgid(domain=sender.domain)}\r\n".encode(),
            b"Auto-Submitted: auto-generated\r\n",
        )
    )
    return sender.address, recipient, headers + body.as_bytes()


def send_notice(
    transport: Transport,
    from_address: str,
    to: str,
    subject: str,
    text: str,
    now: datetime | None = None,
) -> None:
    """Raises DeliveryError when the mail server refuses it, AddressError when `to` or the
    sending address cannot be used."""
    transport.send(*notice_bytes(from_address, to, subject, text, now))


@dataclass(frozen=True)
class NoticeMailer:
    """The `Mailer` sign-up is given: each notice goes through its newsletter's transport."""

    transports: Transports

    def send_notices(self, notices: Iterable[Notice]) -> int:
        sent = 0
        for notice in notices:
            transport = for_newsletter(self.transports, notice.transport)
            try:
                send_notice(
                    transport, notice.from_address, notice.to, notice.subject, notice.text
                )
            except (DeliveryError, AddressError) as exc:
                log.warning("%r to one address was not sent: %s", notice.subject, exc)
            else:
                sent += 1
        return sent
