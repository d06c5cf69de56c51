"""The bytes of one edition's email to one subscriber, headers and all (DESIGN.md §4)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from digest.editions.render import RenderedCut
from digest.models import Edition, Subscription
from digest.subscriptions.tokens import subscription_token
from digest.timeutil import utcnow

# Long header values (List-Unsubscribe) stay on one line instead of being folded or turned
# into RFC 2047 encoded words, which would break them.
POLICY = SMTP.clone(max_line_length=998)


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


def subscriber_links(
    subscription: Subscription, edition: Edition, settings: MailSettings, keys: list[str]
) -> dict[str, str]:
    token = subscription_token(subscription.id, keys)
    return {
        "unsubscribe_url": f"{settings.base_url}/u/{token}",
        "preferences_url": f"{settings.base_url}/p/{token}",
        "unsubscribe_mailto": f"mailto:unsubscribe+{token}@{mail_domain(edition)}",
        "name": subscription.subscriber.name or "colleague",
    }


def build_message(
    edition: Edition,
    subscription: Subscription,
    rendered: RenderedCut,
    settings: MailSettings,
    keys: list[str],
    now: datetime | None = None,
) -> bytes:
    links = subscriber_links(subscription, edition, settings, keys)
    page, text = rendered.personalise(links)
    newsletter = edition.newsletter
    domain = mail_domain(edition)
    message = EmailMessage(policy=POLICY)
    message["From"] = newsletter.from_address
    message["To"] = subscription.subscriber.email
    if newsletter.reply_to:
        message["Reply-To"] = newsletter.reply_to
    message["Subject"] = edition.subject
    message["Date"] = format_datetime(now or utcnow())
    # The same edition to the same subscription always has the same id: a resend is the same
    # message, not a new one.
    message["Message-ID"] = f"<edition-{edition.id}.subscription-{subscription.id}@{domain}>"
    message["List-Id"] = f"{newsletter.title} <{newsletter.slug}.{domain}>"
    message["List-Unsubscribe"] = f"<{links['unsubscribe_url']}>, <{links['unsubscribe_mailto']}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["List-Archive"] = f"<{archive_url(edition, settings)}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(page, subtype="html", charset="utf-8", cte="quoted-printable")
    # A boundary derived from the Message-ID makes the bytes reproducible: rendering a message
    # again, to preview or to resend it, gives exactly what was (or will be) sent.
    message.set_boundary("=_" + hashlib.sha256(message["Message-ID"].encode()).hexdigest()[:32])
    return message.as_bytes()
