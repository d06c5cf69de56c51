"""Subscribers hear from the library, never from the software: every public page and every
email a subscriber gets is walked, and none says "Digest". Staff pages keep their own way
back to the dashboard; a visitor's error page offers the archive and sign-up instead."""

from __future__ import annotations

import re

import pytest
from email_world import KEYS, make_edition
from smtp import smtp_server
from sqlalchemy import select
from webapp import csrf_token, make_site

from digest.db import transaction
from digest.editions.message import archive_url, build_message
from digest.editions.render import render_cut
from digest.models import Edition, EditionState, Role, Subscriber, Subscription
from digest.subscriptions.tokens import subscription_token
from digest.web import context

BASE_URL = "https://news.example.org"
ADDRESS = "rhiannon@example.org"
SOFTWARE = re.compile(r"\bDigest\b")


@pytest.fixture
def walk(sqlite_factory):
    """The site, its outgoing mail, and a sent edition in the archive."""
    with smtp_server() as (inbox, url):
        site = make_site(sqlite_factory, mail_url=url, token_keys=tuple(KEYS), base_url=BASE_URL)
        edition_id = make_edition(sqlite_factory)
        with transaction(sqlite_factory) as session:
            session.get(Edition, edition_id).state = EditionState.SENT
        yield site, inbox, edition_id


def said(where: str, words: str) -> None:
    assert not SOFTWARE.search(words), f"{where} says {SOFTWARE.search(words)[0]!r}"


def test_no_public_page_or_subscriber_email_speaks_as_the_software(walk) -> None:
    site, inbox, edition_id = walk
    visitor = site.app.test_client()
    seen: dict[str, str] = {}

    def visit(path: str, status: int = 200, method: str = "GET", **data: str) -> str:
        response = visitor.open(path, method=method, data=data or None)
        assert response.status_code == status, (path, response.status_code)
        seen[f"{method} {path}"] = response.text
        return response.text

    # Sign up, confirm, ask again, lose the link.
    visit("/subscribe/caspar")
    form = {
        "email": ADDRESS,
        "consent": "yes",
        "csrf_token": csrf_token(visitor, "/subscribe/caspar"),
    }
    visit("/subscribe/caspar", method="POST", **form)
    site.settle()
    (confirmation,) = inbox.messages(ADDRESS)
    token = re.search(r"/confirm/(\S+)", confirmation.get_content())[1]
    visit(f"/confirm/{token}")
    visit(f"/confirm/{token}", method="POST", csrf_token=csrf_token(visitor, f"/confirm/{token}"))
    visit("/subscribe/caspar", method="POST", **form)
    visit("/preferences")
    visit(
        "/preferences", method="POST", email=ADDRESS, csrf_token=csrf_token(visitor, "/preferences")
    )
    site.settle()

    # The subscriber's own pages, the archive, its feeds and the sign-up snippet.
    with site.factory() as session:
        subscription = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == ADDRESS)
        )
        personal = subscription_token(subscription.id, subscription.link_secret, KEYS)
    visit(f"/p/{personal}")
    visit(f"/u/{personal}")
    visit("/archive/caspar")
    visit(f"/archive/caspar/{edition_id}")
    visit("/archive/caspar?q=neglect")
    visit("/archive/caspar/feed.atom")
    visit("/topics/neglect/feed.atom")
    visit("/subscribe/caspar/embed")
    visit("/theme/caspar.css")

    # What goes wrong: a page not found, a bad link, an expired form, a wrong method.
    visit("/no-such-page", 404)
    visit("/archive/no-such-newsletter", 404)
    visit(f"/archive/caspar/{edition_id + 99}", 404)
    visit("/p/not-a-token", 400)
    visit("/preferences", 400, method="POST", email=ADDRESS)  # no form token
    visit("/theme/caspar.css", 405, method="POST")

    for where, page in seen.items():
        said(where, page)
        assert "dashboard" not in page.lower(), where

    # Every email: confirmation, "you already receive it", the preference links, the edition.
    with site.factory() as session:
        edition = session.get(Edition, edition_id)
        subscription = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == ADDRESS)
        )
        settings = site.app.extensions[context.SETTINGS]
        rendered = render_cut(edition, None, archive_url(edition, settings.mail))
        edition_mail = build_message(edition, subscription, rendered, settings.mail, KEYS)
    mails = [m.as_string() for m in inbox.messages(ADDRESS)]
    assert len(mails) == 3
    for mail in [*mails, edition_mail.decode()]:
        said("an email to a subscriber", mail)
    subjects = [m["Subject"] for m in inbox.messages(ADDRESS)]
    assert "Your preference links for Llyfrgell Plant — Children’s Library" in subjects
    assert all(
        "Llyfrgell Plant — Children’s Library" in m.get_content() for m in inbox.messages(ADDRESS)
    )


def test_a_visitors_error_page_offers_the_archive_and_staff_keep_the_dashboard(walk) -> None:
    site, _, _ = walk
    public = site.app.test_client().get("/no-such-page")
    assert public.status_code == 404
    assert 'href="/archive/caspar"' in public.text and 'href="/subscribe/caspar"' in public.text
    assert "Back to the dashboard" not in public.text
    assert "<title>404 · Llyfrgell Plant — Children’s Library</title>" in public.text
    staff = site.client(Role.EDITOR).get("/no-such-page")
    assert staff.status_code == 404 and "Back to the dashboard" in staff.text


def test_the_public_pages_wear_the_newsletters_colour(walk, sqlite_factory) -> None:
    site, _, _ = walk
    with transaction(sqlite_factory) as session:
        session.get(Edition, 1).newsletter.colour = "#006e3c"
    visitor = site.app.test_client()
    assert 'href="/theme/caspar.css"' in visitor.get("/subscribe/caspar").text
    theme = visitor.get("/theme/caspar.css")
    assert theme.mimetype == "text/css" and "--brand: #006e3c;" in theme.text
