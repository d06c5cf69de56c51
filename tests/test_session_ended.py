"""A change sent after the staff session ended (it expired, or was signed out in another tab)
is never a silent failure and never loses what was typed: htmx gets a 401 it can act on; a
plain form gets the sign-in page, which keeps the typed fields and leads back to the form.
Nothing is changed until the form is sent again, signed in, with a valid token."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from webapp import PASSWORD, STAFF, Site, add_items, csrf_token, entry, make_site

from digest.models import AuditEntry, Item, Placement, Role, WebSession

HERE = "http://localhost"
ELSEWHERE = "https://evil.example"


@pytest.fixture
def site(factory) -> Site:
    site = make_site(factory)
    add_items(factory, [entry("Neglect in adolescence", "https://example.org/neglect")])
    return site


def ids(site: Site) -> tuple[int, int]:
    with site.factory() as session:
        placement = session.scalar(select(Placement))
        return placement.item_id, placement.id


def end(site: Site, client: FlaskClient, how: str) -> None:
    if how == "expired":
        with site.factory.begin() as session:
            session.execute(
                update(WebSession).values(last_seen_at=datetime(2024, 3, 1, tzinfo=UTC))
            )
    else:  # signed out in another tab: the same cookie jar
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def nothing_changed(site: Site) -> bool:
    with site.factory() as session:
        return session.scalar(select(AuditEntry.id).where(AuditEntry.object_type == "item")) is None


HOW = ["expired", "signed out in another tab"]


@pytest.mark.parametrize("how", HOW)
def test_an_htmx_action_after_the_session_ended_is_answered_401_in_words(
    site: Site, how: str
) -> None:
    client = site.client(Role.LIBRARIAN)
    _, placement_id = ids(site)
    token = csrf_token(client, "/items")
    end(site, client, how)
    response = client.post(
        f"/placements/{placement_id}/status",
        data={"status": "accepted", "csrf_token": token},
        headers={"HX-Request": "true", "Origin": HERE},
    )
    assert response.status_code == 401
    assert (
        response.text == "Your session has ended, so this was not done. Sign in again to carry on."
    )
    assert nothing_changed(site)


def test_an_htmx_page_refresh_after_the_session_ended_is_a_401_not_the_sign_in_page(
    site: Site,
) -> None:
    """htmx follows a redirect by itself and would swap the sign-in page into the page."""
    client = site.client(Role.LIBRARIAN)
    end(site, client, "expired")
    response = client.get("/items", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert "Sign in again" in response.text and "<form" not in response.text
    plain = client.get("/items")  # a page opened in the address bar: to the sign-in page
    assert plain.status_code == 302 and plain.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("how", HOW)
def test_a_form_sent_after_the_session_ended_gets_the_sign_in_page_keeping_what_was_typed(
    site: Site, how: str
) -> None:
    client = site.client(Role.LIBRARIAN)
    item_id, _ = ids(site)
    page = f"/items/{item_id}?back=/items%3Fstatus%3Dall"
    token = csrf_token(client, page)
    end(site, client, how)
    typed = "Typed for an hour: <b>ŵ</b> “quoted” & 学校.\n\nSecond paragraph."
    response = client.post(
        f"/items/{item_id}/edit",
        data={"title": "New title", "summary": typed, "csrf_token": token, "back": page},
        headers={"Origin": HERE},
    )
    assert response.status_code == 401
    text = response.text
    assert "Your session had ended, so this was not saved." in text
    assert "get back to the form with what you typed" in text
    fields = {
        html.unescape(n): html.unescape(v)
        for n, v in re.findall(r'name="([^"]+)" value="([^"]*)"', text)
    }
    assert fields["next"] == page
    assert fields["kept_action"] == f"/items/{item_id}/edit"
    assert (fields["kept:title"], fields["kept:summary"]) == ("New title", typed)
    assert fields["csrf_token"]  # the sign-in form's own
    assert "kept:csrf_token" not in fields and "kept:back" not in fields
    assert "<b>ŵ</b>" not in text  # shown escaped, as typed
    assert nothing_changed(site)

    # Signing in leads back to the form's page; the change itself waits to be sent again.
    signed_in = client.post(
        "/login",
        data={
            "email": STAFF[Role.LIBRARIAN],
            "password": PASSWORD,
            "csrf_token": fields["csrf_token"],
            "next": fields["next"],
            "kept_action": fields["kept_action"],
            "kept:summary": typed,
        },
    )
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == page
    assert nothing_changed(site)


def test_a_failed_sign_in_keeps_the_typed_fields_for_the_next_try(site: Site) -> None:
    client = site.app.test_client()
    wrong = client.post(
        "/login",
        data={
            "email": STAFF[Role.LIBRARIAN],
            "password": "not it",
            "csrf_token": csrf_token(client),
            "next": "/items/1",
            "kept_action": "/items/1/edit",
            "kept:summary": "Still here — ŵ",
        },
    )
    assert wrong.status_code == 401
    assert 'name="kept:summary" value="Still here — ŵ"' in wrong.text
    assert 'name="kept_action" value="/items/1/edit"' in wrong.text


@pytest.mark.parametrize(
    "headers",
    [{"Origin": ELSEWHERE}, {"Origin": "null"}, {"Referer": f"{ELSEWHERE}/items/1"}, {}],
    ids=["another site", "opaque origin", "referred by another site", "no origin"],
)
def test_fields_from_another_site_are_never_kept(site: Site, headers: dict[str, str]) -> None:
    """A page elsewhere cannot send text to be put into a librarian's form."""
    client = site.client(Role.LIBRARIAN)
    item_id, _ = ids(site)
    token = csrf_token(client, "/items")
    end(site, client, "expired")
    response = client.post(
        f"/items/{item_id}/edit",
        data={"title": "Planted", "summary": "Planted text", "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 401
    assert "Planted" not in response.text and "kept:" not in response.text
    assert nothing_changed(site)


@pytest.mark.parametrize(
    "back",
    ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"],
    ids=["another site", "scheme-relative", "backslash", "script"],
)
def test_the_way_back_after_signing_in_never_leaves_the_site(site: Site, back: str) -> None:
    client = site.client(Role.LIBRARIAN)
    item_id, _ = ids(site)
    token = csrf_token(client, "/items")
    end(site, client, "expired")
    response = client.post(
        f"/items/{item_id}/edit",
        data={"title": "T", "summary": "S", "csrf_token": token, "back": back},
        headers={"Origin": HERE},
    )
    assert 'name="next" value=""' in response.text
    assert "evil.example" not in response.text


def test_passwords_are_never_kept(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    token = csrf_token(client, "/account/password")
    end(site, client, "expired")
    response = client.post(
        "/account/password",
        data={
            "current_password": "old secret",
            "new_password": "new secret",
            "confirm_password": "new secret",
            "csrf_token": token,
        },
        headers={"Origin": HERE},
    )
    assert response.status_code == 401
    assert "secret" not in response.text


def test_a_forged_form_is_still_refused_for_a_signed_in_librarian(site: Site) -> None:
    """With a session, a missing or wrong token is a forgery, as before: refused, nothing kept."""
    client = site.client(Role.LIBRARIAN)
    item_id, _ = ids(site)
    response = client.post(
        f"/items/{item_id}/edit",
        data={"title": "Forged", "summary": "Forged", "csrf_token": "wrong"},
        headers={"Origin": HERE},
    )
    assert response.status_code == 400
    assert "Forged" not in response.text
    with site.factory() as session:
        assert session.scalar(select(Item.title)) == "Neglect in adolescence"


def test_the_signed_in_again_page_is_for_staff_only_and_carries_a_fresh_token(site: Site) -> None:
    anonymous = site.app.test_client().get("/signed-in")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    page = site.client(Role.LIBRARIAN).get("/signed-in")
    assert page.status_code == 200
    assert "You are signed in again" in page.text and 'name="csrf_token"' in page.text


@pytest.mark.parametrize("how", HOW)
def test_signing_out_when_already_signed_out_just_shows_the_sign_in_page(
    site: Site, how: str
) -> None:
    client = site.client(Role.LIBRARIAN)
    token = csrf_token(client, "/")
    end(site, client, how)
    response = client.post("/logout", data={"csrf_token": token}, headers={"Origin": HERE})
    assert response.status_code == 401  # as for any change sent signed out
    assert "You are signed out." in response.text and "not saved" not in response.text
