"""An approved CASPAR edition with many subscribers, ready to send, for the delivery tests."""

from __future__ import annotations

import base64
import random
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from webapp import accept_tagged

from digest.db import transaction
from digest.editions import compose
from digest.models import (
    Edition,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionTopic,
    Topic,
)

TAGGED = [
    ("Neglect in adolescence", "neglect"),
    ("Sextortion: advice for schools", "online-grooming"),
    ("Serious case review: Child Q", "legislation-and-policy"),
    ("A new statutory duty", "legislation-and-policy"),
]
TOPIC_CHOICES = [[], ["neglect"], ["online-grooming", "online-abuse"], ["legislation-and-policy"]]


def approved_edition(factory: sessionmaker[Session]) -> int:
    accept_tagged(factory, TAGGED)
    with transaction(factory) as session:
        newsletter = caspar(session)
        edition = compose.build_draft(session, newsletter, "editor@example.org")
        compose.approve(
            session, edition, "editor@example.org", send_at=datetime(2099, 1, 6, 9, tzinfo=UTC)
        )
        return edition.id


def caspar(session: Session) -> Newsletter:
    return session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))


def add_subscribers(
    factory: sessionmaker[Session],
    count: int,
    status: SubscriberStatus = SubscriberStatus.ACTIVE,
    prefix: str = "reader",
    seed: int = 1,
) -> list[str]:
    """`count` subscribers of CASPAR with topics drawn from TOPIC_CHOICES; their addresses."""
    chooser = random.Random(seed)
    with transaction(factory) as session:
        newsletter_id = caspar(session).id
        topics = {t.slug: t.id for t in session.scalars(select(Topic))}
        first = (session.scalar(select(Subscriber.id).order_by(Subscriber.id.desc())) or 0) + 1
        emails = [f"{prefix}{n}@example.org" for n in range(count)]
        session.execute(
            insert(Subscriber),
            [{"id": first + n, "email": e, "name": f"Reader {n}"} for n, e in enumerate(emails)],
        )
        session.execute(
            insert(Subscription),
            [
                {
                    "id": first + n,
                    "subscriber_id": first + n,
                    "newsletter_id": newsletter_id,
                    "status": status,
                }
                for n in range(count)
            ],
        )
        links = [
            {"subscription_id": first + n, "topic_id": topics[slug]}
            for n in range(count)
            for slug in chooser.choice(TOPIC_CHOICES)
        ]
        if links:
            session.execute(insert(SubscriptionTopic), links)
    return emails


def edition_state(factory: sessionmaker[Session], edition_id: int) -> str:
    with factory() as session:
        return session.get(Edition, edition_id).state.value


def add_subscriber(factory: sessionmaker[Session], email: str, name: str = "") -> int:
    """One active CASPAR subscriber, stored as given: no check, as an old import might have
    left it. Returns its id (numbered as `add_subscribers` numbers them)."""
    with transaction(factory) as session:
        new_id = (session.scalar(select(Subscriber.id).order_by(Subscriber.id.desc())) or 0) + 1
        session.execute(insert(Subscriber), [{"id": new_id, "email": email, "name": name}])
        session.execute(
            insert(Subscription),
            [
                {
                    "id": new_id,
                    "subscriber_id": new_id,
                    "newsletter_id": caspar(session).id,
                    "status": SubscriberStatus.ACTIVE,
                }
            ],
        )
    return new_id


def rsa_key(tmp_path: Path) -> tuple[str, bytes]:
    """A DKIM key: the private key's file, and the DNS TXT record of its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return str(path), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
