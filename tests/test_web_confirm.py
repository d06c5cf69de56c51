"""Actions that cannot be taken back ask first: the first post answers with a page naming the
consequence and changes nothing; only the same form posted again with "yes" acts."""

from __future__ import annotations

import html
import re

import pytest
from delivery_helpers import add_subscribers, approved_edition
from sqlalchemy import select
from webapp import Site, csrf_token, make_site

from digest.db import transaction
from digest.models import Delivery, Edition, EditionState, Role, Subscription

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def post_state(site: Site, edition_id: int, action: str, **extra: str):
    client = site.client(Role.EDITOR)
    path = f"/editions/{edition_id}"
    data = {"action": action, "csrf_token": csrf_token(client, path), **extra}
    return client, client.post(f"{path}/state", data=data)


def state_of(site: Site, edition_id: int) -> EditionState:
    with site.factory() as session:
        return session.get(Edition, edition_id).state


def test_send_now_asks_naming_how_many_will_get_it_and_sends_nothing(site: Site) -> None:
    edition_id = approved_edition(site.factory)
    add_subscribers(site.factory, 3)
    _, asked = post_state(site, edition_id, "send_now")
    assert asked.status_code == 200
    assert '<h1 id="confirm-question">Send to 3 subscribers now?</h1>' in asked.text
    assert state_of(site, edition_id) is EditionState.APPROVED
    with site.factory() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_paused_and_unsubscribed_people_are_not_counted_and_one_is_singular(site: Site) -> None:
    edition_id = approved_edition(site.factory)
    add_subscribers(site.factory, 3)
    with transaction(site.factory) as session:
        subscriptions = session.scalars(select(Subscription).order_by(Subscription.id)).all()
        subscriptions[0].paused = True
        session.delete(subscriptions[1])
    _, asked = post_state(site, edition_id, "send_now")
    assert "Send to 1 subscriber now?" in asked.text


def test_the_confirmation_posts_the_same_form_again_and_then_it_acts(site: Site) -> None:
    edition_id = approved_edition(site.factory)
    add_subscribers(site.factory, 2)
    client, asked = post_state(site, edition_id, "send_now")
    fields = {name: html.unescape(value) for name, value in HIDDEN.findall(asked.text)}
    assert fields["action"] == "send_now" and fields["confirmed"] == "yes"
    sent = client.post(f"/editions/{edition_id}/state", data=fields)
    assert sent.status_code == 302
    assert state_of(site, edition_id) is EditionState.SENDING


def test_cancel_asks_first_and_no_leads_back_to_the_edition(site: Site) -> None:
    edition_id = approved_edition(site.factory)
    _, asked = post_state(site, edition_id, "cancel")
    assert "Cancel the edition" in asked.text
    assert f'href="/editions/{edition_id}" class="button">No, go back' in asked.text
    assert state_of(site, edition_id) is EditionState.APPROVED
    post_state(site, edition_id, "cancel", confirmed="yes")
    assert state_of(site, edition_id) is EditionState.CANCELLED


def test_the_confirmation_still_needs_its_csrf_token(site: Site) -> None:
    edition_id = approved_edition(site.factory)
    client = site.client(Role.EDITOR)
    refused = client.post(
        f"/editions/{edition_id}/state", data={"action": "cancel", "confirmed": "yes"}
    )
    assert refused.status_code == 400
    assert state_of(site, edition_id) is EditionState.APPROVED


def test_actions_that_can_be_undone_do_not_ask(site: Site) -> None:
    edition_id = approved_edition(site.factory)
    _, unapproved = post_state(site, edition_id, "unapprove")
    assert unapproved.status_code == 302
    assert state_of(site, edition_id) is EditionState.DRAFT
