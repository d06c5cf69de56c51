"""Message-IDs and MIME boundaries never repeat across installs, or a database made again
(Gmail drops a message whose Message-ID it has seen), yet one install always writes the same
bytes for the same edition and subscription."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime
from email.policy import default
from pathlib import Path

from conftest import DATA
from delivery_helpers import add_subscribers, approved_edition
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from digest.config import load_config, sync_config
from digest.db import make_engine, session_factory, transaction, upgrade_schema
from digest.editions.message import MailSettings, archive_url, build_message
from digest.editions.render import render_cut
from digest.models import Edition, Subscription

SETTINGS = MailSettings("https://digest.example.org")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def new_install(path: Path) -> sessionmaker[Session]:
    """A database made from nothing, with an edition and a subscriber: the same ids as any
    other install made the same way."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        sync_config(session, load_config(DATA / "config.yaml"))
    approved_edition(factory)
    add_subscribers(factory, 1)
    return factory


def first_message(factory: sessionmaker[Session]) -> bytes:
    with factory() as session:
        edition = session.scalar(select(Edition))
        subscription = session.scalar(select(Subscription))
        rendered = render_cut(edition, None, archive_url(edition, SETTINGS))
        return build_message(edition, subscription, rendered, SETTINGS, ["k"], NOW)


def ids(raw: bytes) -> tuple[str, str]:
    message = email.message_from_bytes(raw, policy=default)
    return message["Message-ID"], message.get_boundary()


def test_one_install_writes_the_same_message_again(factory) -> None:
    approved_edition(factory)
    add_subscribers(factory, 1)
    first = first_message(factory)
    assert first_message(factory) == first
    message_id, _ = ids(first)
    with factory() as session:
        edition_id, subscription_id = (
            session.scalar(select(Edition.id)),
            session.scalar(select(Subscription.id)),
        )
    assert re.fullmatch(
        rf"<edition-{edition_id}\.subscription-{subscription_id}\.[0-9a-f]{{16}}@digest\.test>",
        message_id,
    )


def test_two_installs_never_share_a_message_id_or_boundary(tmp_path) -> None:
    one = first_message(new_install(tmp_path / "one.sqlite"))
    other = first_message(new_install(tmp_path / "other.sqlite"))
    (one_id, one_boundary), (other_id, other_boundary) = ids(one), ids(other)
    assert one_id != other_id and one_boundary != other_boundary
    # The same edition and subscription numbers: only the install tells them apart.
    assert one_id.split(".")[:2] == other_id.split(".")[:2]


def test_a_database_made_again_starts_new_message_ids(tmp_path) -> None:
    path = tmp_path / "digest.sqlite"
    before = ids(first_message(new_install(path)))
    for leftover in tmp_path.glob("digest.sqlite*"):
        leftover.unlink()
    after = ids(first_message(new_install(path)))
    assert before[0] != after[0] and before[1] != after[1]
