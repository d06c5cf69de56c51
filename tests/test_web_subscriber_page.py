"""One subscriber's page: subscriptions with topics and status, consent history, deliveries,
bounces; unsubscribing them (editors) and erasing them (administrators), each asked first and
done only when the same form comes back with "yes"."""

from __future__ import annotations

import html
import re

import pytest
from delivery_helpers import approved_edition
from flask.testing import FlaskClient
from sqlalchemy import func, select
from webapp import Site, csrf_token, make_site

from digest.db import transaction
from digest.delivery import queue
from digest.models import (
    ConsentEvent,
    Delivery,
    Edition,
    MailEvent,
    MailRequest,
    Newsletter,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
)
from digest.subscriptions import lists, suppression

KEY = "test-secret-key"  # what make_site's settings key the suppression list with
ZOE = "zoe@例え.jp"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def site(factory) -> Site:
    site = make_site(factory)
    edition_id = approved_edition(factory)
    with transaction(factory) as session:
        for slug in ("caspar", "new-in-the-library"):
            newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == slug))
            lists.add_subscriber(
                session,
                newsletter,
                ZOE,
                "Zoë Ødegård",
                ["neglect"],
                "Phone call — Bodø",
                KEY,
                actor="test",
            )
        queue.start(session, session.get(Edition, edition_id), "editor@example.org")
        zoe = session.scalar(select(Subscriber).where(Subscriber.email == ZOE))
        session.add(MailEvent(subscriber_id=zoe.id, kind="soft-bounce", detail="4.2.2 full"))
        session.add(MailRequest(kind="signup", email=ZOE, address_key="k", network="n"))
    return site


def zoe_id(site: Site) -> int:
    with site.factory() as session:
        return session.scalar(select(Subscriber.id).where(Subscriber.email == ZOE))


def post(client: FlaskClient, path: str, **form: str):
    return client.post(path, data={"csrf_token": csrf_token(client, "/subscribers"), **form})


def answer_yes(client: FlaskClient, path: str, asked: str):
    """Post again the fields the confirmation page carries, as its button does."""
    fields = {name: html.unescape(value) for name, value in HIDDEN.findall(asked)}
    assert fields["confirmed"] == "yes"
    return client.post(path, data=fields)


def test_the_page_shows_subscriptions_consent_deliveries_and_bounces(site: Site) -> None:
    page = html.unescape(site.client(Role.EDITOR).get(f"/subscribers/{zoe_id(site)}").text)
    assert "<h1>Zoë Ødegård</h1>" in page
    assert (
        '<th scope="row">CASPAR</th>' in page and '<th scope="row">New in the Library</th>' in page
    )
    assert '<span class="topic">Neglect</span>' in page
    assert "Phone call — Bodø" in page  # where consent was given
    with site.factory() as session:
        subject = session.scalar(select(Edition.subject))
    assert f"<td>{subject}</td><td>CASPAR</td><td>queued</td>" in page
    assert "soft-bounce (4.2.2 full)" in page


def test_an_unknown_subscriber_is_a_404(site: Site) -> None:
    assert site.client(Role.EDITOR).get("/subscribers/999999").status_code == 404


def test_unsubscribing_asks_naming_who_and_from_what_then_does_it(site: Site) -> None:
    client = site.client(Role.EDITOR)
    with site.factory() as session:
        subscription_id = session.scalar(
            select(Subscription.id).join(Newsletter).where(Newsletter.slug == "caspar")
        )
    path = f"/subscribers/{zoe_id(site)}/unsubscribe"
    asked = post(client, path, subscription=str(subscription_id))
    assert asked.status_code == 200
    assert "Unsubscribe Zoë Ødegård &lt;zoe@例え.jp&gt; from CASPAR?" in asked.text
    with site.factory() as session:
        assert session.get(Subscription, subscription_id).status is SubscriberStatus.ACTIVE
    done = answer_yes(client, path, asked.text)
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).text
    assert "Unsubscribed Zoë Ødegård &lt;zoe@例え.jp&gt; from CASPAR." in page
    with site.factory() as session:
        statuses = {
            slug: status
            for slug, status in session.execute(
                select(Newsletter.slug, Subscription.status).join(Subscription)
            )
        }
        caspar = session.scalar(select(Newsletter.id).where(Newsletter.slug == "caspar"))
        held = suppression.reason_for(session, ZOE, caspar, KEY)
        kinds = list(session.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)))
    assert statuses == {
        "caspar": SubscriberStatus.UNSUBSCRIBED,
        "new-in-the-library": SubscriberStatus.ACTIVE,
    }
    assert held is not None and held.reason is suppression.Reason.UNSUBSCRIBED
    assert kinds[-1] == "unsubscribe"


def test_a_subscription_of_someone_else_cannot_be_unsubscribed_through_this_page(
    site: Site,
) -> None:
    client = site.client(Role.EDITOR)
    with transaction(site.factory) as session:
        other = Subscriber(email="other@example.org")
        other.subscriptions.append(
            Subscription(
                newsletter=session.scalar(select(Newsletter).where(Newsletter.slug == "caspar")),
                status=SubscriberStatus.ACTIVE,
            )
        )
        session.add(other)
        session.flush()
        theirs = other.subscriptions[0].id
    path = f"/subscribers/{zoe_id(site)}/unsubscribe"
    refused = post(client, path, subscription=str(theirs), confirmed="yes")
    assert refused.status_code == 404
    with site.factory() as session:
        assert session.get(Subscription, theirs).status is SubscriberStatus.ACTIVE


def test_erasing_asks_saying_what_is_deleted_and_what_is_kept(site: Site) -> None:
    client = site.client(Role.ADMIN)
    asked = post(client, f"/subscribers/{zoe_id(site)}/erase")
    assert asked.status_code == 200
    text = html.unescape(asked.text)
    assert '<h1 id="confirm-question">Erase Zoë Ødegård <zoe@例え.jp>?</h1>' in text
    assert "Their subscriptions, consent history, deliveries and returned-mail records are" in text
    assert "kept only as a keyed hash on the suppression list" in text
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1


def test_erasing_deletes_everything_said_and_keeps_only_the_hash(site: Site) -> None:
    client = site.client(Role.ADMIN)
    path = f"/subscribers/{zoe_id(site)}/erase"
    done = answer_yes(client, path, post(client, path).text)
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).text
    assert "Erased. Only a keyed hash of the address is kept" in page
    assert ZOE not in page
    with site.factory() as session:
        left = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Subscriber, Subscription, ConsentEvent, Delivery, MailEvent, MailRequest)
        }
        caspar = session.scalar(select(Newsletter.id).where(Newsletter.slug == "caspar"))
        held = suppression.reason_for(session, ZOE, caspar, KEY)
        hashes = set(session.scalars(select(Suppression.email_hash)))
    assert set(left.values()) == {0}, left
    assert held is not None and held.reason is suppression.Reason.ERASED
    assert hashes == {suppression.email_hash(ZOE, KEY)}
    assert client.get(path.removesuffix("/erase")).status_code == 404


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.LIBRARIAN, 403), (Role.EDITOR, 403), (Role.ADMIN, 200)],
    ids=["librarian", "editor", "admin"],
)
def test_only_administrators_may_erase(site: Site, role: Role, status: int) -> None:
    client = site.client(role)
    path = f"/subscribers/{zoe_id(site)}/erase"
    token = csrf_token(client, "/login")
    assert client.post(path, data={"csrf_token": token}).status_code == status
    erased = client.post(path, data={"csrf_token": token, "confirmed": "yes"})
    assert erased.status_code == (302 if role is Role.ADMIN else 403)
    with site.factory() as session:
        count = session.scalar(select(func.count()).select_from(Subscriber))
    assert count == (0 if role is Role.ADMIN else 1)


def test_editors_see_no_erase_button_and_admins_do(site: Site) -> None:
    path = f"/subscribers/{zoe_id(site)}"
    assert "Erase this subscriber" not in site.client(Role.EDITOR).get(path).text
    assert "Erase this subscriber</button>" in site.client(Role.ADMIN).get(path).text


@pytest.mark.parametrize("action", ["unsubscribe", "erase"])
def test_unsubscribe_and_erase_need_their_csrf_token(site: Site, action: str) -> None:
    client = site.client(Role.ADMIN)
    with site.factory() as session:
        subscription_id = session.scalar(select(Subscription.id))
    refused = client.post(
        f"/subscribers/{zoe_id(site)}/{action}",
        data={"subscription": str(subscription_id), "confirmed": "yes"},
    )
    assert refused.status_code == 400
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1
        assert set(session.scalars(select(Subscription.status))) == {SubscriberStatus.ACTIVE}
