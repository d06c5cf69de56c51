"""Old links never reach a new person, and joining another newsletter needs a real subscriber.

SQLite gives a new row the id of the last one deleted, and a restored or reset PostgreSQL
database hands out old ids again: so after an erasure the next subscription may carry the id
an old link names. A link opens only the row it was made for. Joining another newsletter from
the preference centre needs the link's subscription to be active and confirmed.
"""

from __future__ import annotations

import hashlib
import mailbox
import re
from email.message import EmailMessage

import pytest
from click.testing import CliRunner
from itsdangerous import Signer
from mail_links import email_links
from smtp import smtp_server
from sqlalchemy import func, select, text
from webapp import Site, csrf_token, make_site

from digest.cli import cli
from digest.db import transaction
from digest.models import Newsletter, Subscriber, SubscriberStatus, Subscription
from digest.subscriptions import tokens

KEYS = ["links-test-key"]
SECRET = "links-test-secret"
FIRST, SECOND = "first.person@example.org", "zoë.second@example.org"


def links_site(factory, monkeypatch, mail_url: str | None = None) -> Site:
    """The app, and the commands run here, with the tests' keys; the app's mail to
    `mail_url`, if given."""
    for name, value in (("DIGEST_SECRET_KEY", SECRET), ("DIGEST_TOKEN_KEYS", ",".join(KEYS))):
        monkeypatch.setenv(name, value)  # the commands read the environment, as a person's do
    mail = {"mail_url": mail_url} if mail_url else {}
    links = {"token_keys": tuple(KEYS), "base_url": "https://digest.example.org"}
    return make_site(factory, secret_key=SECRET, **links, **mail)


@pytest.fixture
def site(factory, monkeypatch) -> Site:
    return links_site(factory, monkeypatch)


def subscribe(site: Site, address: str, status: SubscriberStatus, reuse: int | None = None) -> int:
    """A CASPAR subscription; `reuse` gives it that id where the database would not by itself
    (PostgreSQL never reuses one, but a restored or reset database does)."""
    dialect = site.factory.kw["bind"].dialect.name
    with transaction(site.factory) as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        subscription = Subscription(newsletter=caspar, status=status)
        if reuse is not None and dialect == "postgresql":
            subscription.id = reuse
        if status is SubscriberStatus.ACTIVE:
            subscription.confirmed_at = func.now()
        session.add(
            Subscriber(email=address, name=address.split("@")[0], subscriptions=[subscription])
        )
        session.flush()
        return subscription.id


def erase(site: Site, address: str) -> None:
    db = site.factory.kw["bind"].url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["--db", db, "subscribers", "erase", address, "--yes"])
    assert result.exit_code == 0, result.output


def status_of(site: Site, address: str) -> SubscriberStatus:
    with site.factory() as session:
        return session.scalar(
            select(Subscription.status).join(Subscriber).where(Subscriber.email == address)
        )


def test_a_link_of_an_erased_subscription_never_opens_the_next_one_with_its_id(
    site: Site, tmp_path
) -> None:
    first_id = subscribe(site, FIRST, SubscriberStatus.ACTIVE)
    old = email_links(site.factory, FIRST, KEYS)
    token = old.token
    erase(site, FIRST)
    second_id = subscribe(site, SECOND, SubscriberStatus.ACTIVE, reuse=first_id)
    assert second_id == first_id  # on SQLite by itself
    client = site.app.test_client()
    page = client.get(f"/p/{token}")
    assert page.status_code == 400 and SECOND not in page.text
    assert "This link is not valid" in page.text
    one_click = client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 400
    joined = client.post(
        f"/p/{token}",
        data={
            "action": "join",
            "newsletter": "new-in-the-library",
            "csrf_token": csrf_token(client, "/subscribe/caspar"),
        },
    )
    assert joined.status_code == 400
    # Nor does mail to the old List-Unsubscribe address; it stays for a person to read.
    request = EmailMessage()
    request["From"], request["To"] = FIRST, old.mailto
    request["Subject"] = "unsubscribe"
    box = mailbox.Maildir(tmp_path / "returned", create=True)
    box.add(request)
    db = site.factory.kw["bind"].url.render_as_string(hide_password=False)
    CliRunner().invoke(cli, ["--db", db, "bounces", "process", str(tmp_path / "returned")])
    assert len(list(box)) == 1
    assert status_of(site, SECOND) is SubscriberStatus.ACTIVE
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_a_confirmation_link_of_an_erased_sign_up_never_confirms_the_next_one(
    factory, monkeypatch
) -> None:
    with smtp_server() as (inbox, url):
        site = links_site(factory, monkeypatch, url)
        client = site.app.test_client()
        client.post(
            "/subscribe/caspar",
            data={
                "email": FIRST,
                "consent": "yes",
                "csrf_token": csrf_token(client, "/subscribe/caspar"),
            },
        )
        site.settle()
        link = re.search(
            r"https://digest\.example\.org(/confirm/\S+)", inbox.messages(FIRST)[0].get_content()
        )[1]
    first_id = site.factory().scalar(select(Subscription.id))
    erase(site, FIRST)
    subscribe(site, SECOND, SubscriberStatus.PENDING, reuse=first_id)
    confirmed = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert confirmed.status_code == 400
    assert status_of(site, SECOND) is SubscriberStatus.PENDING


def test_links_sent_before_links_carried_a_secret_work_while_their_row_exists(
    site: Site,
) -> None:
    first_id = subscribe(site, FIRST, SubscriberStatus.ACTIVE)
    with transaction(site.factory) as session:  # a row from before: no link secret
        session.execute(text("UPDATE subscriptions SET link_secret = NULL"))
    # Exactly the token emails carried then.
    sent = Signer(KEYS, salt=tokens.SALT, digest_method=hashlib.sha256).sign(f"s{first_id}")
    assert site.app.test_client().get(f"/p/{sent.decode()}").status_code == 200
    erase(site, FIRST)
    subscribe(site, SECOND, SubscriberStatus.ACTIVE, reuse=first_id)
    assert site.app.test_client().get(f"/p/{sent.decode()}").status_code == 400


@pytest.mark.parametrize(
    "status",
    [SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.SUPPRESSED],
)
def test_only_an_active_confirmed_subscription_joins_another_newsletter(
    site: Site, status: SubscriberStatus
) -> None:
    subscribe(site, FIRST, status)
    client = site.app.test_client()
    path = email_links(site.factory, FIRST, KEYS).preferences
    page = client.get(path).text
    assert "Subscribe to New in the Library" not in page  # a sign-up link instead
    assert 'href="/subscribe/new-in-the-library"' in page
    refused = client.post(
        path,
        data={
            "action": "join",
            "newsletter": "new-in-the-library",
            "csrf_token": csrf_token(client, path),
        },
    )
    assert refused.status_code == 400 and "only a confirmed subscription" in refused.text
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_joining_a_newsletter_one_left_sends_a_confirmation_instead(
    factory, monkeypatch
) -> None:
    with smtp_server() as (inbox, url):
        site = links_site(factory, monkeypatch, url)
        subscribe(site, FIRST, SubscriberStatus.ACTIVE)
        client = site.app.test_client()
        path = email_links(site.factory, FIRST, KEYS).preferences
        data = {"action": "join", "newsletter": "new-in-the-library"}
        client.post(path, data={**data, "csrf_token": csrf_token(client, path)})
        other = email_links(site.factory, FIRST, KEYS, "new-in-the-library").preferences
        client.post(other, data={"action": "unsubscribe", "csrf_token": csrf_token(client, other)})
        again = client.post(path, data={**data, "csrf_token": csrf_token(client, path)})
        assert "we have emailed" in again.text and "a link to confirm" in again.text
        site.settle()
        (message,) = inbox.messages(FIRST)
        assert message["Subject"] == "Please confirm your subscription to New in the Library"
    with site.factory() as session:
        library = session.scalar(
            select(Subscription).join(Newsletter).where(Newsletter.slug == "new-in-the-library")
        )
        assert library.status is SubscriberStatus.PENDING


@pytest.mark.parametrize("link_secret", [None, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"])
def test_a_token_is_what_itsdangerous_signs_under_the_newest_key(link_secret) -> None:
    """Tokens are made by a faster route than itsdangerous's own; they must be the same bytes,
    so that links verify under it and old links keep working."""
    keys = ["old-key", "newest-key"]
    value = f"s42.{link_secret}" if link_secret else "s42"
    signer = Signer(keys, salt=tokens.SALT, digest_method=hashlib.sha256)
    expected = f"s42.{signer.get_signature(value.encode()).decode()}"
    assert tokens.subscription_token(42, link_secret, keys) == expected
    tokens.check_token(expected, 42, link_secret, keys)
    mailto = tokens.mailto_token(42, link_secret, keys)
    tokens.check_mailto_token(mailto.upper(), 42, link_secret, keys)
