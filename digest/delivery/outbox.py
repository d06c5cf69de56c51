"""Reading back mail delivered to a Maildir (the demo's outbox): newest first."""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default
from pathlib import Path
from urllib.parse import urlsplit

from digest.delivery.transport import Transport


@dataclass(frozen=True)
class Stored:
    key: str
    to: str
    subject: str
    at: datetime


def maildir_of(transport: Transport) -> Path | None:
    """The folder of a Maildir transport; None for SMTP."""
    parts = urlsplit(transport.url)
    return Path(parts.path or parts.netloc) if parts.scheme == "maildir" else None


def listing(folder: Path, limit: int = 200) -> list[Stored]:
    if not (folder / "cur").exists():
        return []
    box = mailbox.Maildir(folder, create=False)
    found = []
    # Headers read as people read them: encoded words and UTF-8 addresses (SMTPUTF8) decoded.
    headers = BytesHeaderParser(policy=default)
    for key in box.iterkeys():
        message = headers.parsebytes(box.get_bytes(key))
        found.append(
            Stored(
                key,
                str(message.get("To", "")),
                str(message.get("Subject", "")),
                datetime.fromtimestamp(box.get_message(key).get_date(), UTC),
            )
        )
    return sorted(found, key=lambda s: s.at, reverse=True)[:limit]


def read(folder: Path, key: str) -> EmailMessage | None:
    box = mailbox.Maildir(folder, create=False)
    try:
        raw = box.get_bytes(key)
    except KeyError:
        return None
    return message_from_bytes(raw, policy=default)  # type: ignore[return-value]
