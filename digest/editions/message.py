"""The bytes of one edition's email to one subscriber, headers and all (DESIGN.md §4).

A cut's message is encoded once (`MessageTemplate`): its headers, and its text and HTML parts in
quoted-printable, split around the personal parts. Each subscriber's copy is then a join of
ready bytes with their own links and name encoded in between, so 100,000 copies cost 100,000
joins, not 100,000 MIME encodings. A soft line break on each side of a personal part keeps
every line within 76 characters; it decodes to exactly the subscriber's render.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from email.policy import SMTP
from email.utils import format_datetime, parseaddr
from functools import lru_cache

from digest.editions.render import PLACEHOLDERS, RenderedCut, escape_for_html
from digest.models import Edition, Subscription
from digest.subscriptions.tokens import mailto_token, subscription_token
from digest.timeutil import utcnow

# Long header values (List-Unsubscribe) stay on one line instead of being folded or turned
# into RFC 2047 encoded words, which would break them.
POLICY = SMTP.clone(max_line_length=998)
_PLACEHOLDER = re.compile("(" + "|".join(re.escape(p) for p in PLACEHOLDERS.values()) + ")")
_KEY_OF = {placeholder: key for key, placeholder in PLACEHOLDERS.items()}
CRLF = b"\r\n"


@dataclass(frozen=True)
class MailSettings:
    base_url: str  # where the public pages live, e.g. https://digest.example.org

    @classmethod
    def from_env(cls) -> MailSettings:
        return cls(os.environ.get("DIGEST_BASE_URL", "http://127.0.0.1:8000").rstrip("/"))


def mail_domain(edition: Edition) -> str:
    return parseaddr(edition.newsletter.from_address)[1].rpartition("@")[2]


def archive_url(edition: Edition, settings: MailSettings) -> str:
    return f"{settings.base_url}/archive/{edition.newsletter.slug}/{edition.id}"


def links_for(
    subscription_id: int,
    link_secret: str | None,
    name: str,
    domain: str,
    settings: MailSettings,
    keys: list[str],
) -> dict[str, str]:
    token = subscription_token(subscription_id, link_secret, keys)
    mailto = mailto_token(subscription_id, link_secret, keys)
    return {
        "unsubscribe_url": f"{settings.base_url}/u/{token}",
        "preferences_url": f"{settings.base_url}/p/{token}",
        "unsubscribe_mailto": f"mailto:unsubscribe+{mailto}@{domain}",
        "name": name or "colleague",
    }


def subscriber_links(
    subscription: Subscription, edition: Edition, settings: MailSettings, keys: list[str]
) -> dict[str, str]:
    return links_for(
        subscription.id,
        subscription.link_secret,
        subscription.subscriber.name,
        mail_domain(edition),
        settings,
        keys,
    )


@lru_cache(maxsize=4)
def _date_header(now: datetime) -> bytes:
    # Cached: a send makes thousands of messages a second, all with the same Date.
    return f"Date: {format_datetime(now)}\r\n".encode()


def _header(name: str, value: str) -> bytes:
    return POLICY.fold_binary(name, value)


_PLAIN = re.compile(r"[!-<>-~]{0,76}")  # printable ASCII but "=": quoted-printable as it is


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends, every line at most 76 characters."""
    if _PLAIN.fullmatch(text):  # most personal parts (links, many names): nothing to encode
        return text.encode()
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode(), istext=True)
    return encoded.replace(b"\n", CRLF)


def _ends_line(encoded: bytes) -> bytes:
    """`encoded`, ending at the start of a line: a soft break is added if needed."""
    return encoded if not encoded or encoded.endswith(CRLF) else encoded + b"=\r\n"


@dataclass(frozen=True)
class _Part:
    """A body part in quoted-printable, as static pieces and the personal keys between them."""

    pieces: tuple[bytes | str, ...]
    html: bool

    @classmethod
    def encode(cls, content: str, html: bool) -> _Part:
        pieces: list[bytes | str] = []
        for index, chunk in enumerate(_PLACEHOLDER.split(content)):
            if index % 2:
                pieces.append(_KEY_OF[chunk])
            elif chunk:
                pieces.append(_ends_line(_qp(chunk)))
        if pieces and isinstance(pieces[-1], bytes):
            pieces[-1] = pieces[-1].removesuffix(b"=\r\n")
        return cls(tuple(pieces), html)

    def fill(self, values: dict[str, str]) -> bytes:
        out = []
        for piece in self.pieces:
            if isinstance(piece, bytes):
                out.append(piece)
            else:
                value = values[piece]
                out.append(_ends_line(_qp(escape_for_html(value) if self.html else value)))
        return b"".join(out)


class MessageTemplate:
    """One cut of an edition, encoded once; `bytes_for` makes a subscriber's copy."""

    def __init__(self, edition: Edition, rendered: RenderedCut, settings: MailSettings) -> None:
        newsletter = edition.newsletter
        self.edition_id = edition.id
        self.domain = mail_domain(edition)
        self.settings = settings
        self.item_count = rendered.item_count
        static = [_header("From", newsletter.from_address)]
        if newsletter.reply_to:
            static.append(_header("Reply-To", newsletter.reply_to))
        static += [
            _header("Subject", edition.subject),
            _header("List-Id", f"{newsletter.title} <{newsletter.slug}.{self.domain}>"),
            _header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            _header("List-Archive", f"<{archive_url(edition, settings)}>"),
            _header("Auto-Submitted", "auto-generated"),
            b"MIME-Version: 1.0\r\n",
        ]
        self._static_headers = b"".join(static)
        self._text = _Part.encode(rendered.text, html=False)
        self._html = _Part.encode(rendered.html, html=True)

    def bytes_for(
        self,
        subscription_id: int,
        link_secret: str | None,
        email: str,
        name: str,
        keys: list[str],
        now: datetime | None = None,
    ) -> bytes:
        values = links_for(subscription_id, link_secret, name, self.domain, self.settings, keys)
        # The same edition to the same subscription always has the same id: a resend is the
        # same message, not a new one.
        message_id = f"<edition-{self.edition_id}.subscription-{subscription_id}@{self.domain}>"
        # A boundary derived from the Message-ID makes the bytes reproducible. ("=_" cannot
        # occur in quoted-printable text, where "=" is always "=3D".)
        boundary = ("=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]).encode()
        to = f"To: {email}\r\n".encode() if email.isascii() else _header("To", email)
        part_headers = b'; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        return b"".join(
            (
                self._static_headers,
                to,
                _date_header((now or utcnow()).replace(microsecond=0)),
                f"Message-ID: {message_id}\r\n".encode(),
                f"List-Unsubscribe: <{values['unsubscribe_url']}>, "
                f"<{values['unsubscribe_mailto']}>\r\n".encode(),
                b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n',
                b"--" + boundary + b"\r\nContent-Type: text/plain" + part_headers,
                self._text.fill(values),
                b"\r\n--" + boundary + b"\r\nContent-Type: text/html" + part_headers,
                self._html.fill(values),
                b"\r\n--" + boundary + b"--\r\n",
            )
        )


def build_message(
    edition: Edition,
    subscription: Subscription,
    rendered: RenderedCut,
    settings: MailSettings,
    keys: list[str],
    now: datetime | None = None,
) -> bytes:
    """One subscriber's copy: exactly what the sender sends them."""
    return MessageTemplate(edition, rendered, settings).bytes_for(
        subscription.id,
        subscription.link_secret,
        subscription.subscriber.email,
        subscription.subscriber.name,
        keys,
        now,
    )
