"""A subscriber's personal links, read from the email Digest would send them: the way a person
(or a mail client's unsubscribe button) gets them."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.policy import default

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from digest.editions.message import MailSettings, build_message
from digest.editions.render import RenderedCut
from digest.models import Edition, Newsletter, Subscriber, Subscription

BASE_URL = "https://digest.example.org"


@dataclass(frozen=True)
class Links:
    token: str  # of the one-click unsubscribe and the preference centre: /u/TOKEN, /p/TOKEN
    mailto: str  # the List-Unsubscribe address, unsubscribe+TOKEN@domain

    @property
    def unsubscribe(self) -> str:
        return f"/u/{self.token}"

    @property
    def preferences(self) -> str:
        return f"/p/{self.token}"


def email_links(
    factory: sessionmaker[Session], address: str, keys: list[str], newsletter: str = "caspar"
) -> Links:
    with factory() as session:
        subscription = session.scalar(
            select(Subscription)
            .join(Subscriber)
            .join(Newsletter)
            .where(Subscriber.email == address, Newsletter.slug == newsletter)
        )
        edition = Edition(  # never stored: only its newsletter and subject matter here
            newsletter=subscription.newsletter,
            period_start=date(2026, 11, 23),
            created_by="editor",
            subject="This week",
        )
        raw = build_message(
            edition,
            subscription,
            RenderedCut("<p>x</p>", "x", 0),
            MailSettings(BASE_URL),
            keys,
            datetime(2026, 11, 24, tzinfo=UTC),
        )
        session.rollback()
    header = email.message_from_bytes(raw, policy=default)["List-Unsubscribe"]
    token = re.search(r"<https://[^>]+/u/([^>]+)>", header)[1]
    return Links(token, re.search(r"<mailto:([^>]+)>", header)[1])
