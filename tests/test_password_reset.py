"""Forgotten staff passwords, over real SMTP: the emailed link sets a new password once, within
the hour, and signs the account out everywhere; the form answers alike for every address and
is rate-limited; an admin can email a member of staff the same link."""

from __future__ import annotations

import re
import time

import pytest
from smtp import smtp_server
from sqlalchemy import select
from webapp import PASSWORD, STAFF, Site, csrf_token, make_site, sign_in

from digest import accounts, formlimits
from digest.accounts import reset
from digest.db import transaction
from digest.models import AuditEntry, Role, User

BASE = "https://digest.example.org"
LINK = re.compile(re.escape(BASE) + r"(/login/reset/[A-Za-z0-9_.-]+)")
NEUTRAL = "If that address belongs to a Digest staff account, we have emailed it a link"
NEW_PASSWORD = "a brand new long passphrase"


@pytest.fixture
def mail(factory):
    with smtp_server() as (inbox, url):
        yield make_site(factory, mail_url=url, base_url=BASE), inbox


def ask(site: Site, email: str, client=None):
    client = client or site.app.test_client()
    token = csrf_token(client, "/login/forgot")
    return client.post("/login/forgot", data={"email": email, "csrf_token": token})


def link_for(site: Site, inbox, email: str) -> str:
    """The path of the newest reset link emailed to `email`."""
    site.settle()
    messages = inbox.messages(email)
    assert messages, f"no email to {email}"
    return LINK.search(messages[-1].get_content())[1]


def choose(site: Site, path: str, new: str = NEW_PASSWORD, again: str | None = None):
    client = site.app.test_client()
    token = csrf_token(client, "/login")
    data = {"new_password": new, "confirm_password": new if again is None else again}
    return client.post(path, data={**data, "csrf_token": token})


def actions(site: Site) -> list[str]:
    with site.factory() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_the_emailed_link_sets_a_new_password_and_signs_out_everywhere(mail) -> None:
    site, inbox = mail
    editor = STAFF[Role.EDITOR]
    elsewhere = site.client(Role.EDITOR)
    answer = ask(site, editor)
    assert answer.status_code == 200 and NEUTRAL in answer.text
    path = link_for(site, inbox, editor)
    message = inbox.messages(editor)[-1]
    assert message["Subject"] == "Reset your Digest password"
    assert "within 60 minutes" in message.get_content()
    form = site.app.test_client().get(path)
    assert form.status_code == 200 and editor in form.text
    assert form.headers["Cache-Control"] == "no-store"
    done = choose(site, path)
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert elsewhere.get("/").status_code == 302  # its session has ended
    assert sign_in(site.app.test_client(), editor, PASSWORD).status_code == 401
    assert sign_in(site.app.test_client(), editor, NEW_PASSWORD).status_code == 302
    assert actions(site)[-1] == "user.reset_password_by_link"


def test_a_used_link_is_dead(mail) -> None:
    site, inbox = mail
    path = ask(site, STAFF[Role.ADMIN]) and link_for(site, inbox, STAFF[Role.ADMIN])
    assert choose(site, path).status_code == 302
    again = site.app.test_client().get(path)
    assert again.status_code == 400 and "This link was used already" in again.text
    assert choose(site, path, "yet another long passphrase").status_code == 400
    assert sign_in(site.app.test_client(), STAFF[Role.ADMIN], NEW_PASSWORD).status_code == 302


def test_a_link_dies_once_the_password_is_changed_another_way(mail) -> None:
    site, inbox = mail
    path = ask(site, STAFF[Role.LIBRARIAN]) and link_for(site, inbox, STAFF[Role.LIBRARIAN])
    with transaction(site.factory) as session:
        user = accounts.get_user(session, STAFF[Role.LIBRARIAN])
        accounts.change_password(session, user, PASSWORD, "changed the usual way")
    assert site.app.test_client().get(path).status_code == 400


def test_a_link_expires_after_an_hour(mail, monkeypatch) -> None:
    site, inbox = mail
    an_hour_and_a_minute_ago = time.time() - 3660
    with monkeypatch.context() as past:
        past.setattr("itsdangerous.timed.time.time", lambda: an_hour_and_a_minute_ago)
        ask(site, STAFF[Role.EDITOR])
    path = link_for(site, inbox, STAFF[Role.EDITOR])
    expired = site.app.test_client().get(path)
    assert expired.status_code == 400 and "This link has expired" in expired.text
    assert choose(site, path).status_code == 400
    assert sign_in(site.app.test_client(), STAFF[Role.EDITOR], PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "tamper",
    [
        # In the signed part: the last character of a signature may carry only padding bits.
        lambda token: token[:10] + ("A" if token[10] != "A" else "B") + token[11:],
        lambda token: token[:20],
        lambda token: "x" + token,
    ],
    ids=["changed", "cut-short", "prefixed"],
)
def test_a_tampered_link_is_refused(mail, tamper) -> None:
    site, inbox = mail
    path = ask(site, STAFF[Role.EDITOR]) and link_for(site, inbox, STAFF[Role.EDITOR])
    token = path.rsplit("/", 1)[1]
    forged = f"/login/reset/{tamper(token)}"
    assert site.app.test_client().get(forged).status_code == 400
    assert choose(site, forged).status_code == 400
    assert sign_in(site.app.test_client(), STAFF[Role.EDITOR], PASSWORD).status_code == 302


def test_a_link_signed_with_another_key_is_refused(mail) -> None:
    site, _ = mail
    with site.factory() as session:
        user = accounts.get_user(session, STAFF[Role.ADMIN])
        token = reset.reset_token(user, "another installation's key")
    refused = site.app.test_client().get(f"/login/reset/{token}")
    assert refused.status_code == 400 and "not one Digest sent" in refused.text


def _visible(page: str) -> str:
    """The page without its per-session form tokens."""
    return re.sub(r'"[\w.-]{40,}"', '"TOKEN"', page)


@pytest.mark.parametrize(
    "address",
    ["nobody@staff.example.org", "disabled@staff.example.org"],
    ids=["unknown", "disabled"],
)
def test_an_address_without_an_open_account_gets_the_same_answer_and_no_mail(
    mail, address: str
) -> None:
    site, inbox = mail
    with transaction(site.factory) as session:
        accounts.create_user(session, "disabled@staff.example.org", Role.EDITOR, PASSWORD, "t")
        accounts.set_active(session, "disabled@staff.example.org", False, "t")
    known = ask(site, STAFF[Role.EDITOR])
    other = ask(site, address)
    assert (other.status_code, _visible(other.text)) == (known.status_code, _visible(known.text))
    site.settle()
    assert inbox.count(address) == 0
    assert inbox.count(STAFF[Role.EDITOR]) == 1


def test_a_non_ascii_address_gets_its_link_and_can_use_it(mail) -> None:
    site, inbox = mail
    address = "zoë.ŵyn@staff.example.org"
    with transaction(site.factory) as session:
        accounts.create_user(session, address, Role.LIBRARIAN, PASSWORD, "test")
    assert NEUTRAL in ask(site, "Zoë.Ŵyn@staff.example.org").text
    path = link_for(site, inbox, address)
    assert "SMTPUTF8" in inbox.mail_options[-1]
    assert choose(site, path).status_code == 302
    assert sign_in(site.app.test_client(), address, NEW_PASSWORD).status_code == 302


def test_not_an_address_is_named(mail) -> None:
    site, _ = mail
    refused = ask(site, "not an address")
    assert refused.status_code == 400 and "Please check" in refused.text


@pytest.mark.parametrize(
    ("new", "again", "says"),
    [
        ("short", "short", "at least 12 characters"),
        (NEW_PASSWORD, "something else entirely", "The two new passwords differ."),
    ],
    ids=["too-short", "differ"],
)
def test_the_new_password_follows_the_usual_rules_and_the_link_lives_on(
    mail, new: str, again: str, says: str
) -> None:
    site, inbox = mail
    path = ask(site, STAFF[Role.EDITOR]) and link_for(site, inbox, STAFF[Role.EDITOR])
    refused = choose(site, path, new, again)
    assert refused.status_code == 400 and says in refused.text
    assert choose(site, path).status_code == 302


def test_one_address_gets_at_most_five_links_a_day(mail) -> None:
    site, inbox = mail
    client = site.app.test_client()
    for _ in range(formlimits.PER_ADDRESS_PER_DAY + 2):
        assert NEUTRAL in ask(site, STAFF[Role.EDITOR], client).text
    site.settle()
    assert inbox.count(STAFF[Role.EDITOR]) == formlimits.PER_ADDRESS_PER_DAY


def test_one_network_is_slowed_down_after_twenty_requests(mail) -> None:
    site, inbox = mail
    client = site.app.test_client()
    for n in range(formlimits.PER_NETWORK_PER_HOUR):
        assert ask(site, f"someone{n}@example.org", client).status_code == 200
    refused = ask(site, STAFF[Role.EDITOR], client)
    assert refused.status_code == 429 and "try again in an hour" in refused.text
    site.settle()
    assert inbox.count(STAFF[Role.EDITOR]) == 0


def test_an_admin_emails_a_reset_link_and_the_password_stays_until_it_is_used(mail) -> None:
    site, inbox = mail
    admin = site.client(Role.ADMIN)
    with site.factory() as session:
        editor_id = session.scalar(select(User.id).where(User.email == STAFF[Role.EDITOR]))
    sent = admin.post(
        f"/admin/users/{editor_id}",
        data={"action": "send_reset_link", "csrf_token": csrf_token(admin, "/admin/users")},
        follow_redirects=True,
    )
    assert f"Emailed {STAFF[Role.EDITOR]} a link to choose a new password" in sent.text
    path = link_for(site, inbox, STAFF[Role.EDITOR])
    assert f"{STAFF[Role.ADMIN]} asked for your Digest password" in (
        inbox.messages(STAFF[Role.EDITOR])[-1].get_content()
    )
    assert sign_in(site.app.test_client(), STAFF[Role.EDITOR], PASSWORD).status_code == 302
    assert choose(site, path).status_code == 302
    assert actions(site)[-2:] == ["user.reset_link_sent", "user.reset_password_by_link"]


def test_the_login_page_offers_the_forgotten_password_form(mail) -> None:
    site, _ = mail
    page = site.app.test_client().get("/login").text
    assert 'href="/login/forgot"' in page
