"""An approved CASPAR edition with many subscribers, ready to send, for the delivery tests."""

from __future__ import annotations

import base64
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker
from webapp import accept_tagged

from digest.db import transaction
from digest.delivery import queue
from digest.editions import compose
from digest.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionState,
    Newsletter,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionTopic,
    Topic,
)

DATA = Path(__file__).parent / "data"
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


def sent_edition_over_time(
    factory: sessionmaker[Session],
    spacing: timedelta,
    outcomes: Sequence[DeliveryStatus] = (DeliveryStatus.SENT,) * 40,
) -> int:
    """An edition sent to 40 readers from Tue 1 Dec 2026 09:00 UTC, one finished every
    `spacing`, with the `outcomes` given in order."""
    edition_id = approved_edition(factory)
    add_subscribers(factory, 40)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with transaction(factory) as session:
        edition = session.get(Edition, edition_id)
        queue.enqueue(session, edition, start)
        deliveries = session.scalars(
            select(Delivery).where(Delivery.edition_id == edition_id).order_by(Delivery.id)
        ).all()
        for n, (delivery, status) in enumerate(zip(deliveries, outcomes, strict=True)):
            delivery.status, delivery.finished_at = status, start + n * spacing
        edition.state, edition.sending_started_at = EditionState.SENT, start
        edition.sent_at = start + 39 * spacing
    return edition_id


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


def worker_process(
    database_url: str,
    mail_url: str,
    name: str,
    *arguments: str,
    connections: int = 4,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`digest worker --name NAME --until-idle` in a process of its own, sending to `mail_url`
    (`arguments` go before the command: `--config FILE`, say)."""
    environment = {
        **os.environ,
        "DIGEST_MAIL_URL": mail_url,
        "DIGEST_MAIL_CONNECTIONS": str(connections),
        "DIGEST_TOKEN_KEYS": "worker-test-key",
        "DIGEST_LOG_FILE": os.devnull,
        **(env or {}),
    }
    command = [*arguments, "worker", "--name", name, "--until-idle"]
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--db", database_url, *command],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@contextmanager
def ended_afterwards(*processes: subprocess.Popen[bytes]) -> Iterator[None]:
    """Kill whichever of `processes` still runs when the block ends (a test that failed)."""
    try:
        yield
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()


def sending_to(
    factory: sessionmaker[Session], readers: int, transport: str | None = None
) -> tuple[int, list[str]]:
    """An edition being sent to `readers` new subscribers (through the named `transport`, or
    the default); returns its id and their addresses."""
    edition_id = approved_edition(factory)
    emails = add_subscribers(factory, readers)
    with transaction(factory) as session:
        caspar(session).transport = transport
        queue.enqueue(session, session.get(Edition, edition_id))
    return edition_id, emails


def limited_config(folder: Path, url: str, **limits: float) -> str:
    """A config file whose CASPAR goes through the transport `limited`, to `url` with these
    limits (`per_second`, `per_hour`)."""
    lines = "".join(f"    {name}: {value}\n" for name, value in limits.items())
    path = folder / "feeds.yaml"
    path.write_text(
        f"extends: {DATA / 'config.yaml'}\n"
        "transports:\n"
        "  - name: limited\n"
        f'    url: "{url}"\n'
        "    connections: 4\n" + lines
    )
    return str(path)
