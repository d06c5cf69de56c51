"""The public archive: sent editions in full, a search, and Atom feeds a reader can follow."""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
import pytest
from sqlalchemy import select
from webapp import Site, accept_tagged, make_site

from digest.db import transaction
from digest.editions import compose
from digest.models import Edition, EditionState, Newsletter

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def site(factory, monkeypatch) -> Site:
    monkeypatch.setenv("DIGEST_BASE_URL", "https://digest.example.org")
    site = make_site(factory)
    accept_tagged(
        factory,
        [
            ("Neglect in adolescence", "neglect"),
            ("Grooming on gaming platforms", "online-grooming"),
        ],
    )
    with transaction(factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        edition = compose.build_draft(session, newsletter, "editor", NOW)
        compose.approve(session, edition, "editor", now=NOW)
    return site


def send(site: Site) -> int:
    with transaction(site.factory) as session:
        edition = session.scalar(select(Edition))
        edition.state = EditionState.SENT
        return edition.id


def test_only_sent_editions_are_public(site: Site) -> None:
    client = site.app.test_client()
    with site.factory() as session:
        edition_id = session.scalar(select(Edition.id))
    assert client.get(f"/archive/caspar/{edition_id}").status_code == 404
    assert "has been sent yet" in client.get("/archive/caspar").text
    send(site)
    page = client.get(f"/archive/caspar/{edition_id}").text
    # The whole edition, not anyone's cut.
    assert "Neglect in adolescence" in page and "Grooming on gaming platforms" in page
    index = client.get("/archive/caspar").text
    assert "CASPAR: week commencing 23 November 2026" in index


def test_archive_search(site: Site) -> None:
    send(site)
    client = site.app.test_client()
    assert "CASPAR: week commencing" in client.get("/archive/caspar?q=gaming platforms").text
    assert "No edition matches" in client.get("/archive/caspar?q=budget").text


def test_atom_feeds_of_editions_and_of_a_topic(site: Site) -> None:
    edition_id = send(site)
    client = site.app.test_client()
    response = client.get("/archive/caspar/feed.atom")
    assert response.mimetype == "application/atom+xml"
    editions = feedparser.parse(response.data)
    assert not editions.bozo
    assert [e.title for e in editions.entries] == ["CASPAR: week commencing 23 November 2026"]
    assert editions.entries[0].link == f"https://digest.example.org/archive/caspar/{edition_id}"
    topic = feedparser.parse(client.get("/topics/neglect/feed.atom").data)
    assert [e.title for e in topic.entries] == ["Neglect in adolescence"]
    assert client.get("/topics/no-such-topic/feed.atom").status_code == 404
