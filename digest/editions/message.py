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
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from functools import lru_cache

from sqlalchemy.orm import object_session

from digest.addresses import on_the_wire
from digest.editions.headers import address_header, list_id_header, mailbox, text_header
from digest.editions.render import RenderedCut, escape_for_html
from digest.errors import Invalid
from digest.install import install_token
from digest.mailsettings import MailSettings
from digest.models import Edition, Subscription
from digest.subscriptions.tokens import mailto_token, subscription_token
from digest.timeutil import utcnow
from digest.wording import date_text

CRLF = b"\r\n"


class MessageError(Invalid):
    """A copy cannot be made from what is stored (a name that is not text, say); the message
    says why."""


def mail_domain(edition: Edition) -> str:
    """The domain of the newsletter's sending address, in A-labels."""
    return mailbox(edition.newsletter.from_address).domain


def return_address(edition: Edition) -> str:
    """The newsletter's sending address as it goes in an envelope (a test send's)."""
    return mailbox(edition.newsletter.from_address).address


def archive_url(edition: Edition, settings: MailSettings) -> str:
    return f"{settings.base_url}/archive/{edition.newsletter.slug}/{edition.id}"


def links_for(
    subscription_id: int,
    link_secret: str | None,
    name: str,
    domain: str,
    settings: MailSettings,
    keys: list[str],
    email: str = "",
    subscribed: datetime | None = None,
) -> dict[str, str]:
    """The personal parts of one subscriber's copy (`render.PERSONAL`, and the mailto for
    List-Unsubscribe). `subscribed` is when they confirmed; None (a proof): today."""
    token = subscription_token(subscription_id, link_secret, keys)
    mailto = mailto_token(subscription_id, link_secret, keys)
    return {
        "unsubscribe_url": f"{settings.base_url}/u/{token}",
        "preferences_url": f"{settings.base_url}/p/{token}",
        "unsubscribe_mailto": f"mailto:unsubscribe+{mailto}@{domain}",
        "name": name or "colleague",
        "email": email,
        "subscribed_on": date_text(subscribed or utcnow()),
    }


def subscribed_at(subscription: Subscription) -> datetime | None:
    """When the subscriber agreed to get it: confirmed, else (imported lists) added."""
    return subscription.confirmed_at or subscription.created_at


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
        subscription.subscriber.email,
        subscribed_at(subscription),
    )


@lru_cache(maxsize=4)
def _date_header(now: datetime) -> bytes:
    # Cached: a send makes thousands of messages a second, all with the same Date.
    return f"Date: {format_datetime(now)}\r\n".encode()


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
    def encode(cls, content: str, html: bool, placeholders: dict[str, str]) -> _Part:
        """`content` encoded, split at this render's `placeholders` (personal key: stand-in)."""
        key_of = {placeholder: key for key, placeholder in placeholders.items()}
        pattern = "(" + "|".join(map(re.escape, key_of)) + ")"
        chunks = re.split(pattern, content) if key_of else [content]
        pieces: list[bytes | str] = []
        for index, chunk in enumerate(chunks):
            if index % 2:
                pieces.append(key_of[chunk])
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


def _install_of(*objects: object) -> str:
    for thing in objects:
        if (session := object_session(thing)) is not None:
            return install_token(session)
    raise ValueError("an edition in no session needs the install's token passed in")


class MessageTemplate:
    """One cut of an edition, encoded once; `bytes_for` makes a subscriber's copy."""

    def __init__(
        self,
        edition: Edition,
        rendered: RenderedCut,
        settings: MailSettings,
        install: str | None = None,
        subject: str | None = None,
    ) -> None:
        """`install` is this install's token (`install_token`); by default it is read through
        the session the edition (or its newsletter) belongs to. `subject`: the edition's,
        unless given (a proof's is marked as a test)."""
        newsletter = edition.newsletter
        self.edition_id = edition.id
        self.install = install or _install_of(edition, newsletter)
        self.domain = mail_domain(edition)
        self.settings = settings
        self.item_count = rendered.item_count
        static = [address_header("From", newsletter.from_address)]
        if newsletter.reply_to:
            static.append(address_header("Reply-To", newsletter.reply_to))
        static += [
            text_header("Subject", edition.subject if subject is None else subject),
            list_id_header(newsletter.title, newsletter.slug, self.domain),
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            f"List-Archive: <{archive_url(edition, settings)}>\r\n".encode("ascii"),
            b"Auto-Submitted: auto-generated\r\n",
            b"MIME-Version: 1.0\r\n",
        ]
        self._static_headers = b"".join(static)
        self._text = _Part.encode(rendered.text, False, rendered.placeholders)
        self._html = _Part.encode(rendered.html, True, rendered.placeholders)

    def bytes_for(
        self,
        subscription_id: int,
        link_secret: str | None,
        email: str,
        name: str,
        keys: list[str],
        now: datetime | None = None,
        message_id: str | None = None,
        subscribed: datetime | None = None,
    ) -> bytes:
        """The subscriber's copy. Its Message-ID is the same for the same edition and
        subscription on this install, unless `message_id` is given (a test send's own).
        `subscribed`: when they subscribed, which the footer says (None: today)."""
        if not name.isascii():
            try:
                name.encode()
            except UnicodeEncodeError:
                raise MessageError(
                    f"the subscriber's name is not valid text (it holds bytes that are not "
                    f"UTF-8): {name.encode(errors='backslashreplace').decode()}"
                ) from None
        values = links_for(
            subscription_id, link_secret, name, self.domain, self.settings, keys, email, subscribed
        )
        # The same edition to the same subscription always has the same id: a resend is the
        # same message, not a new one. The install's token keeps it apart from every other
        # install's (and from this database's before it was made again).
        message_id = message_id or (
            f"<edition-{self.edition_id}.subscription-{subscription_id}.{self.install}"
            f"@{self.domain}>"
        )
        # A boundary derived from the Message-ID makes the bytes reproducible. ("=_" cannot
        # occur in quoted-printable text, where "=" is always "=3D".)
        boundary = ("=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]).encode()
        # A UTF-8 local part goes as it is (RFC 6532): such a message travels only with
        # SMTPUTF8, which the transport checks for.
        to = b"To: " + on_the_wire(email).encode() + b"\r\n"
        part_headers = b'; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        return b"".join(
            (
                self._static_headers,
                to,
                _date_header((now or utcnow()).replace(microsecond=0)),
                f"Message-ID: {message_id}\r\n".encode(),
                f"List-Unsubscribe: <{values['unsubscribe_url']}>, "
                f"<{values['unsubscribe_mailto']}>\r\n".encode(),
                b'Content-Type: multipart/alternative;\r\n boundary="' + boundary + b'"\r\n\r\n',
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
    message_id: str | None = None,
    subject: str | None = None,
) -> bytes:
    """One subscriber's copy: exactly what the sender sends them (with another `subject`,
    a proof's)."""
    install = _install_of(edition, edition.newsletter, subscription)
    return MessageTemplate(edition, rendered, settings, install, subject).bytes_for(
        subscription.id,
        subscription.link_secret,
        subscription.subscriber.email,
        subscription.subscriber.name,
        keys,
        now,
        message_id,
        subscribed_at(subscription),
    )
