"""Helpers for web tests: a migrated database with staff of every role and some items."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from digest import accounts
from digest.curation import decisions
from digest.db import transaction
from digest.delivery.transport import Transports
from digest.ingest.parse import ParsedEntry
from digest.ingest.sanitize import html_to_text, sanitize_html
from digest.ingest.store import feed_entries, store_entries
from digest.ingest.urls import canonicalize_url
from digest.models import Feed, Item, ItemStatus, Newsletter, Placement, Role, Topic
from digest.settings import Settings, read_settings
from digest.timeutil import utcnow
from digest.web import create_app

PASSWORD = "a long enough password"
STAFF = {role: f"{role.value}@staff.example.org" for role in Role}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Site:
    app: Flask
    factory: sessionmaker[Session]

    def client(self, role: Role | None = None) -> FlaskClient:
        """A browser, signed in as the member of staff with `role` (or anonymous)."""
        client = self.app.test_client()
        if role is not None:
            response = sign_in(client, STAFF[role], PASSWORD)
            assert response.status_code == 302, response.text
        return client

    def settle(self) -> None:
        """Wait until what the public forms queued has been processed and its mail sent."""
        self.app.extensions["digest.mail_requests"].settle()


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    match = _CSRF.search(client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match[1]


def sign_in(client: FlaskClient, email: str, password: str):
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )


def entry(title: str, link: str, summary: str = "<p>Summary.</p>") -> ParsedEntry:
    clean = sanitize_html(summary, link)
    return ParsedEntry.keyed(
        title=title,
        guid=None,
        link=link,
        canonical_url=canonicalize_url(link),
        authors=[],
        published=utcnow(),
        summary_html=clean,
        summary_text=html_to_text(clean),
    )


def add_items(
    factory: sessionmaker[Session], entries: list[ParsedEntry], feed_name: str = "Test feed"
) -> list[int]:
    """Store entries as if a feed had delivered them; returns their item ids."""
    with transaction(factory) as session:
        feed = session.scalar(select(Feed).where(Feed.name == feed_name))
        if feed is None:
            newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
            feed = Feed(
                name=feed_name,
                url="https://example.org/feed.xml",
                newsletter=newsletter,
                section=newsletter.sections[0],
            )
            session.add(feed)
            session.flush()
        store_entries(session, [feed_entries(feed, entries)], utcnow())
    with factory() as session:
        keys = [e.url_key for e in entries]
        return list(
            session.scalars(select(Item.id).where(Item.url_key.in_(keys)).order_by(Item.id))
        )


def placements(
    factory: sessionmaker[Session], item_ids: list[int], newsletter: str = "caspar"
) -> list[int]:
    """The ids of the items' placements in `newsletter` (what triage decides on), in order."""

    with factory() as session:
        found = dict(
            session.execute(
                select(Placement.item_id, Placement.id)
                .join(Newsletter)
                .where(Placement.item_id.in_(item_ids), Newsletter.slug == newsletter)
            ).all()
        )
    return [found[item_id] for item_id in item_ids]


def settings_for(
    factory: sessionmaker[Session], env: Mapping[str, str] | None = None, **given: Any
) -> Settings:
    """Settings for the test's database: `given` (by field name), then `env` (variables as
    the process's environment would have them; not the process's own), and otherwise the
    defaults, with a secret key of the tests'."""
    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    given = {"database_url": url, "secret_key": "test-secret-key", **given}
    return read_settings(env or {}, **given)


def make_site(
    factory: sessionmaker[Session],
    transports: Transports | None = None,
    env: Mapping[str, str] | None = None,
    **given: Any,
) -> Site:
    """The app, with staff of every role, on `settings_for(factory, env, **given)`; mail
    through `transports` (by default, through the settings' default transport)."""
    with transaction(factory) as session:
        for role, email in STAFF.items():
            accounts.create_user(session, email, role, PASSWORD, "test")
    settings = settings_for(factory, env, **given)
    return Site(create_app(settings, transports=transports), factory)


def accept_tagged(factory: sessionmaker[Session], tagged: list[tuple[str, str]]) -> list[int]:
    """Items accepted for their newsletter, each tagged with one topic: (title, topic slug)."""

    ids = add_items(
        factory, [entry(title, f"https://example.org/{n}") for n, (title, _) in enumerate(tagged)]
    )
    chosen = placements(factory, ids)
    with transaction(factory) as session:
        topics = {t.slug: t.id for t in session.scalars(select(Topic))}
        for placement_id, (_, slug) in zip(chosen, tagged, strict=True):
            decisions.set_topics(session, [placement_id], [topics[slug]], "librarian")
        decisions.set_status(session, chosen, ItemStatus.ACCEPTED, "librarian")
    return ids


def export_subscribers(client: FlaskClient, query: str) -> TestResponse:
    """The Subscribers page's export, posted as its form posts it (`query`: "newsletter=…&q=…")."""
    data = dict(parse_qsl(query))
    return client.post("/subscribers/export", data={**data, "csrf_token": csrf_token(client, "/")})
