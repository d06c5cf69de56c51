"""People who left stay left: whoever unsubscribed, bounced, complained or was erased is on the
suppression list, which every list import and every staff action honours; only the person can
come back, by a fresh double opt-in.

Each way of leaving is taken as a person takes it (the one-click link, the preference centre,
mail to the List-Unsubscribe address, a bounce or a complaint in the returned-mail box, a 5xx
while sending, erasure); each way back in is tried as staff try it (re-importing the old list,
adding by hand on the command line or the web page).
"""

from __future__ import annotations

import mailbox
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from delivery_helpers import approved_edition
from mail_links import email_links
from smtp import Faults, Inbox, smtp_server
from sqlalchemy import select
from webapp import Site, csrf_token, make_site

from digest.cli import cli
from digest.db import transaction
from digest.delivery import queue
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import (
    ConsentEvent,
    Edition,
    Newsletter,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
)

KEYS = ["people-test-key"]
SECRET = "people-test-secret"  # the app's, the worker's and the commands': one suppression list
READER = "rhiannon.oneil@example.org"
LIST = f"email,name,status\n{READER},Rhiannon O’Neil-Ŵyn,active\n"


@pytest.fixture
def world(factory, monkeypatch, tmp_path: Path):
    """The web site, its mail server, the `digest` command and a returned-mail box, all on one
    database."""
    for name, value in (("DIGEST_SECRET_KEY", SECRET), ("DIGEST_TOKEN_KEYS", ",".join(KEYS))):
        monkeypatch.setenv(name, value)  # the commands read the environment, as a person's do
    links = {"token_keys": tuple(KEYS), "base_url": "https://digest.example.org"}
    with smtp_server() as (inbox, url):
        yield World(make_site(factory, secret_key=SECRET, mail_url=url, **links), inbox, tmp_path)


class World:
    def __init__(self, site: Site, inbox: Inbox, folder: Path) -> None:
        self.site, self.factory, self.inbox, self.folder = site, site.factory, inbox, folder

    def digest(self, *args: str) -> str:
        """Run `digest …`; its output."""
        db = self.factory.kw["bind"].url.render_as_string(hide_password=False)
        result = CliRunner().invoke(cli, ["--db", db, *args])
        assert result.exit_code in (0, 2), result.output
        return result.output

    def import_list(self, text: str = LIST, newsletter: str = "caspar") -> str:
        path = self.folder / f"list-{len(list(self.folder.iterdir()))}.csv"
        path.write_text(text, encoding="utf-8")
        return self.digest("subscribers", "import", str(path), "--newsletter", newsletter)

    def status(self, address: str = READER, newsletter: str = "caspar") -> str | None:
        with self.factory() as session:
            return session.scalar(
                select(Subscription.status)
                .join(Subscriber)
                .join(Newsletter)
                .where(Subscriber.email == address, Newsletter.slug == newsletter)
            )

    def subscription(self, address: str = READER, newsletter: str = "caspar") -> Subscription:
        with self.factory() as session:
            return session.scalar(
                select(Subscription)
                .join(Subscriber)
                .join(Newsletter)
                .where(Subscriber.email == address, Newsletter.slug == newsletter)
            )

    def link(self, address: str = READER, newsletter: str = "caspar") -> str:
        """The token of the person's links, from the email they would get."""
        return email_links(self.factory, address, KEYS, newsletter).token

    def returned(self, *messages: EmailMessage | bytes) -> str:
        box = mailbox.Maildir(self.folder / "returned", create=True)
        for message in messages:
            box.add(message)
        return self.digest("bounces", "process", str(self.folder / "returned"))


def dsn(failed: str, status: str = "5.1.1") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net\nTo: caspar@digest.test\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        f"Final-Recipient: rfc822; {failed}\nAction: failed\nStatus: {status}\n\n--b1--\n"
    ).encode()


def complaint(about: str) -> bytes:
    """An abuse report (RFC 5965) as mailbox providers send them."""
    return (
        "From: feedback@mailbox.example\nTo: caspar@digest.test\nSubject: complaint\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="f1"\n\n'
        "--f1\nContent-Type: text/plain\n\nThis is an abuse report.\n\n"
        "--f1\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
        f"Original-Rcpt-To: {about}\n\n"
        f"--f1\nContent-Type: message/rfc822\n\nFrom: caspar@digest.test\nTo: {about}\n"
        "Subject: CASPAR\n\nHello\n\n--f1--\n"
    ).encode()


def leave_by_one_click(world: World) -> None:
    response = world.site.app.test_client(use_cookies=False).post(
        f"/u/{world.link()}",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200


def leave_by_preference_centre(world: World) -> None:
    client = world.site.app.test_client()
    path = f"/p/{world.link()}"
    client.post(path, data={"action": "unsubscribe", "csrf_token": csrf_token(client, path)})


def leave_by_mail(world: World) -> None:
    mailto = email_links(world.factory, READER, KEYS).mailto
    request = EmailMessage()
    request["From"], request["To"], request["Subject"] = READER, mailto, "unsubscribe"
    assert "1 unsubscribe" in world.returned(request)


def bounce(world: World) -> None:
    assert "1 subscriber suppressed" in world.returned(dsn(READER))


def complain(world: World) -> None:
    assert "1 complaint" in world.returned(complaint(READER))


def bounce_while_sending(world: World) -> None:
    edition_id = approved_edition(world.factory)
    with transaction(world.factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
    refusing = Faults(rcpt={READER: ("550 5.1.1 No such user", 9)})
    with smtp_server(refusing) as (_, url):
        settings = Settings(KEYS, MailSettings("https://d.example"), SECRET)
        Worker(world.factory.kw["bind"], settings, {None: Transport(url)}).run(until_idle=True)


def erase(world: World) -> None:
    assert "Erased" in world.digest("subscribers", "erase", READER, "--yes")


LEAVING: list[tuple[Callable[[World], None], str]] = [
    (leave_by_one_click, "unsubscribed"),
    (leave_by_preference_centre, "unsubscribed"),
    (leave_by_mail, "unsubscribed"),
    (bounce, "bounced"),
    (complain, "complained"),
    (bounce_while_sending, "bounced"),
    (erase, "erased"),
]


@pytest.mark.parametrize(("leave", "reason"), LEAVING, ids=[f.__name__ for f, _ in LEAVING])
def test_reimporting_the_old_list_never_brings_back_someone_who_left(
    world: World, leave: Callable[[World], None], reason: str
) -> None:
    assert "1 added" in world.import_list()
    leave(world)
    before = world.status()
    again = world.import_list()
    assert f"Held back 1 row: 1 {reason}" in again, again
    assert world.status() == before != "active"


@pytest.mark.parametrize(("leave", "reason"), LEAVING, ids=[f.__name__ for f, _ in LEAVING])
def test_staff_cannot_add_someone_who_left_on_the_command_line_or_the_web(
    world: World, leave: Callable[[World], None], reason: str
) -> None:
    world.import_list()
    leave(world)
    before = world.status()
    refused = world.digest(
        "subscribers", "add", READER, "--newsletter", "caspar", "--source", "a paper form"
    )
    assert f"on the suppression list ({reason})" in refused
    client = world.site.client(Role.EDITOR)
    page = client.post(
        "/subscribers/add",
        data={
            "email": READER.upper(),  # however staff type it
            "newsletter": "caspar",
            "source": "a paper form",
            "csrf_token": csrf_token(client, "/subscribers"),
        },
        follow_redirects=True,
    )
    assert f"on the suppression list ({reason})" in page.text.replace("&#39;", "'")
    assert world.status() == before != "active"


def test_staff_add_someone_who_never_left_with_where_they_gave_consent(world: World) -> None:
    client = world.site.client(Role.EDITOR)
    page = client.post(
        "/subscribers/add",
        data={
            "email": "Siân.Ŵyn@Example.Cymru",
            "name": "Siân Ŵyn",
            "newsletter": "caspar",
            "source": "sign-up sheet, Cardiff conference",
            "csrf_token": csrf_token(client, "/subscribers"),
        },
        follow_redirects=True,
    )
    assert "Added" in page.text
    assert world.status("siân.ŵyn@example.cymru") == "active"
    with world.factory() as session:
        (event,) = session.scalars(select(ConsentEvent)).all()
        assert "sign-up sheet, Cardiff conference" in event.form
        assert "editor@staff.example.org" in event.form


def test_an_unsubscribe_holds_back_only_that_newsletter_and_a_bounce_every_one(
    world: World,
) -> None:
    world.import_list()
    leave_by_one_click(world)
    assert "Held back" not in world.import_list(newsletter="new-in-the-library")
    assert world.status(newsletter="new-in-the-library") == "active"
    bounce(world)
    assert world.status(newsletter="new-in-the-library") == "suppressed"
    other = world.import_list(newsletter="new-in-the-library")
    assert "Held back 1 row: 1 bounced" in other


def test_the_import_report_counts_what_it_held_back_by_reason(world: World) -> None:
    people = [f"person{n}@example.org" for n in range(5)]
    world.import_list("email,status\n" + "".join(f"{p},active\n" for p in people))
    for person in people[:2]:
        client = world.site.app.test_client(use_cookies=False)
        client.post(f"/u/{world.link(person)}", data={"List-Unsubscribe": "One-Click"})
    world.returned(dsn(people[2]))
    report = world.import_list("email,status\n" + "".join(f"{p},active\n" for p in people))
    assert "Held back 3 rows: 2 unsubscribed, 1 bounced" in report
    assert [world.status(p) for p in people] == [
        "unsubscribed",
        "unsubscribed",
        "suppressed",
        "active",
        "active",
    ]


def test_a_subscription_marked_unsubscribed_before_the_list_existed_is_held_back(
    world: World,
) -> None:
    world.import_list()
    with transaction(world.factory) as session:  # as old data has it: a status, no hash
        session.get(Subscription, world.subscription().id).status = SubscriberStatus.UNSUBSCRIBED
    assert "Held back 1 row: 1 unsubscribed" in world.import_list()
    assert world.status() == "unsubscribed"


def confirmation_link(inbox, address: str) -> str:
    body = inbox.messages(address)[-1].get_content()
    return re.search(r"https://digest\.example\.org(/confirm/\S+)", body)[1]


def sign_up(world: World, address: str = READER, newsletter: str = "caspar") -> None:
    client = world.site.app.test_client()
    path = f"/subscribe/{newsletter}"
    response = client.post(
        path,
        data={"email": address, "consent": "yes", "csrf_token": csrf_token(client, path)},
    )
    assert response.status_code == 200
    world.site.settle()


def confirm(world: World, link: str) -> int:
    client = world.site.app.test_client()
    return client.post(link, data={"csrf_token": csrf_token(client, link)}).status_code


@pytest.mark.parametrize(("leave", "reason"), LEAVING, ids=[f.__name__ for f, _ in LEAVING])
def test_only_the_person_comes_back_by_a_fresh_double_opt_in(
    world: World, leave: Callable[[World], None], reason: str
) -> None:
    world.import_list()
    leave(world)
    sign_up(world)
    assert world.status() != "active"  # not until the owner of the address confirms
    assert "Held back 1 row" in world.import_list()
    assert confirm(world, confirmation_link(world.inbox, READER)) == 200
    assert world.status() == "active"
    with world.factory() as session:
        event = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert event.kind == "confirm" and event.detail == {"lifted": [reason]}
    # Back for this newsletter only: a bounce, complaint or erasure still holds the others.
    other = world.import_list(newsletter="new-in-the-library")
    assert ("Held back 1 row" in other) == (reason != "unsubscribed")


def test_a_confirmation_link_older_than_leaving_again_confirms_nothing(world: World) -> None:
    world.import_list()
    leave_by_one_click(world)
    sign_up(world)
    old = confirmation_link(world.inbox, READER)
    assert confirm(world, old) == 200
    leave_by_one_click(world)  # and leaves again
    assert confirm(world, old) == 400
    assert world.status() == "unsubscribed"
    assert "Held back 1 row: 1 unsubscribed" in world.import_list()


def test_saving_preferences_after_leaving_does_not_subscribe_again(world: World) -> None:
    world.import_list()
    leave_by_one_click(world)
    client = world.site.app.test_client()
    path = f"/p/{world.link()}"
    page = client.get(path).text
    assert "Subscribe again" in page and "saving your choices subscribes you" not in page
    client.post(path, data={"action": "save", "csrf_token": csrf_token(client, path)})
    assert world.status() == "unsubscribed"
    again = client.post(path, data={"action": "resubscribe", "csrf_token": csrf_token(client, path)})
    assert "a link to confirm" in again.text
    world.site.settle()
    assert world.status() == "pending"
    assert confirm(world, confirmation_link(world.inbox, READER)) == 200
    assert world.status() == "active"


def test_subject_access_shows_the_suppression_entries(world: World) -> None:
    world.import_list()
    leave_by_one_click(world)
    shown = world.digest("subscribers", "show", READER)
    assert '"reason": "unsubscribed"' in shown and '"newsletter": "caspar"' in shown
    assert datetime.now(UTC).strftime("%Y-%m-%d") in shown


def test_setting_up_the_demo_again_does_not_bring_back_an_erased_demo_reader(
    world: World,
) -> None:
    world.digest("demo-setup")
    reader = "teacher@demo.example"
    assert world.status(reader) == "active"
    erase_output = world.digest("subscribers", "erase", reader, "--yes")
    assert "Erased" in erase_output
    world.digest("demo-setup")
    assert world.status(reader) is None
