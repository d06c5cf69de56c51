"""Where outgoing mail goes: an SMTP server, or a Maildir folder (the embedded default).

This sends single messages (confirmations, links, tests); bulk sending builds on it later.
"""

from __future__ import annotations

import mailbox
import os
import smtplib
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_MAIL_URL = "maildir:var/mail"


class DeliveryError(RuntimeError):
    """The message could not be handed over; the message says why."""


@dataclass(frozen=True)
class Transport:
    """`smtp://[user:password@]host:port` (`smtps://` for implicit TLS, `?starttls=1`),
    or `maildir:PATH`."""

    url: str

    @classmethod
    def from_env(cls) -> Transport:
        return cls(os.environ.get("DIGEST_MAIL_URL", DEFAULT_MAIL_URL))

    def send(self, sender: str, recipient: str, raw: bytes) -> None:
        parts = urlsplit(self.url)
        if parts.scheme == "maildir":
            folder = Path(parts.path or parts.netloc)
            folder.mkdir(parents=True, exist_ok=True)
            mailbox.Maildir(folder, create=True).add(message_from_bytes(raw, policy=default))
            return
        if parts.scheme not in ("smtp", "smtps"):
            raise DeliveryError(f"unknown mail transport {self.url!r}")
        client_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        try:
            with client_class(
                parts.hostname or "127.0.0.1", parts.port or 25, timeout=30
            ) as client:
                if "starttls=1" in parts.query:
                    client.starttls()
                if parts.username:
                    client.login(unquote(parts.username), unquote(parts.password or ""))
                client.sendmail(sender, [recipient], raw)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"the mail server refused or could not be reached: {exc}") from exc
