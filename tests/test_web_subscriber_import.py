"""Importing a subscriber list on the web: the upload is previewed (new, updated, unchanged,
held back, bad rows with their number and reason) and nothing is written; "Import" then
applies exactly what was previewed, or shows the preview again when the subscribers changed in
between, and refuses a stored file that changed. People who left stay left."""

from __future__ import annotations

import html
import io
import re
import stat
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from webapp import Site, csrf_token, make_site

from digest.db import transaction
from digest.models import (
    ConsentEvent,
    Newsletter,
    Role,
    Subscriber,
    Subscription,
)
from digest.subscriptions import manage, suppression
from digest.web import subscriber_import

KEY = "test-secret-key"  # what make_site's settings key the suppression list with
HEADER = "email,name,status,topics,consent_source,consent_at,consent_ip,confirmed_at\n"
LIST = HEADER + (
    "zoe@例え.jp,Zoë Ødegård,active,neglect,Paper form — conference,,,\n"
    "ann@example.org,Ann,active,,,,,\n"
    "not-an-address,Bad,active,,,,,\n"
    "ben@example.org,Ben,active,no-such-topic,,,,\n"
    "bounced@example.org,,active,,,,,\n"
    "hé@exämple.org,Renée O’Brien,active,,,,,\n"
)
FIELD = re.compile(r'<input type="hidden" name="(upload|fingerprint)" value="([^"]*)">')


@pytest.fixture
def site(factory, tmp_path: Path) -> Site:
    site = make_site(factory, upload_dir=tmp_path / "uploads")
    with transaction(factory) as session:
        suppression.suppress(session, "bounced@example.org", suppression.Reason.BOUNCED, KEY)
    return site


def preview(client: FlaskClient, text: str | bytes, **form: str):
    data = text.encode() if isinstance(text, str) else text
    fields = {"newsletter": "caspar", "source": "", **form}
    return client.post(
        "/subscribers/import/preview",
        data={
            "csrf_token": csrf_token(client, "/subscribers/import"),
            "file": (io.BytesIO(data), "list.csv"),
            **fields,
        },
        content_type="multipart/form-data",
    )


def apply(client: FlaskClient, page: str):
    fields = {name: html.unescape(value) for name, value in FIELD.findall(page)}
    return client.post(
        "/subscribers/import/apply",
        data={"csrf_token": csrf_token(client, "/subscribers/import"), **fields},
    )


def statuses(site: Site) -> dict[str, str]:
    with site.factory() as session:
        return {
            email: status.value
            for email, status in session.execute(
                select(Subscriber.email, Subscription.status).join(Subscription)
            )
        }


def test_the_preview_lists_what_each_row_would_do_and_writes_nothing(site: Site) -> None:
    client = site.client(Role.EDITOR)
    page = preview(client, LIST)
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    assert "Nothing has been saved yet" in text
    assert "<strong>3</strong> new to the newsletter" in text
    assert "<strong>1</strong> held back" in text
    assert "<strong>2</strong> bad rows" in text
    assert '<td class="address">zoe@例え.jp</td><td>Zoë Ødegård</td>' in text
    assert '<td class="address">hé@exämple.org</td><td>Renée O’Brien</td>' in text
    assert "<td>4</td><td>'not-an-address' is not an email address" in text
    assert "<td>5</td><td>unknown topic no-such-topic</td>" in text
    assert '<td>6</td><td class="address">bounced@example.org</td><td></td><td>bounced</td>' in text
    assert "Import 3 people</button>" in text
    assert statuses(site) == {}


def test_import_applies_what_was_previewed_with_the_consent_source(site: Site) -> None:
    client = site.client(Role.EDITOR)
    done = apply(client, preview(client, LIST, source="Sign-up sheet — Ålesund").text)
    assert done.status_code == 302
    page = client.get("/subscribers").text
    assert "Imported 3 people into CASPAR: 3 new, 0 updated, 0 unchanged." in page
    assert "Left out: 1 row held back and 2 bad rows." in page
    assert statuses(site) == {
        "zoe@例え.jp": "active",
        "ann@example.org": "active",
        "hé@exämple.org": "active",
    }
    with site.factory() as session:
        forms = set(session.scalars(select(ConsentEvent.form)))
    assert forms == {"Sign-up sheet — Ålesund"}


def test_a_reimport_does_not_subscribe_again_someone_who_left(site: Site) -> None:
    client = site.client(Role.EDITOR)
    apply(client, preview(client, LIST).text)
    with transaction(site.factory) as session:
        subscription = session.scalar(
            select(Subscription).join(Subscriber).where(Subscriber.email == "ann@example.org")
        )
        manage.unsubscribe(session, subscription, manage.Origin(form="test"), KEY)
    again = preview(client, LIST)
    text = html.unescape(again.text)
    assert (
        '<td>3</td><td class="address">ann@example.org</td><td>Ann</td><td>unsubscribed</td>'
        in text
    )
    assert "<strong>2</strong> already subscribed, unchanged" in text
    apply(client, again.text)
    assert statuses(site)["ann@example.org"] == "unsubscribed"


def test_the_import_is_undone_and_previewed_again_when_the_subscribers_changed(
    site: Site,
) -> None:
    client = site.client(Role.EDITOR)
    page = preview(client, LIST).text
    with transaction(site.factory) as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        suppression.suppress(
            session, "zoe@例え.jp", suppression.Reason.UNSUBSCRIBED, KEY, newsletter.id
        )
    again = apply(client, page)
    assert again.status_code == 200
    assert "Not imported: the subscribers changed since the preview" in again.text
    assert "Import 2 people</button>" in again.text
    assert statuses(site) == {}
    apply(client, again.text)
    assert set(statuses(site)) == {"ann@example.org", "hé@exämple.org"}


def test_a_stored_file_that_changed_after_its_preview_is_refused(
    site: Site, tmp_path: Path
) -> None:
    client = site.client(Role.EDITOR)
    page = preview(client, LIST).text
    (stored,) = (tmp_path / "uploads").glob("*.upload")
    stored.write_text(HEADER + "eve@example.org,Eve,active,,,,,\n", encoding="utf-8")
    refused = apply(client, page)
    assert refused.status_code == 302
    shown = client.get(refused.headers["Location"]).text
    assert "Not imported: the file changed after it was previewed: upload it again." in shown
    assert statuses(site) == {}


def test_an_upload_is_applied_once_and_only_by_whoever_made_it(site: Site) -> None:
    editor = site.client(Role.EDITOR)
    page = preview(editor, LIST).text
    other = site.client(Role.ADMIN)
    assert apply(other, page).status_code == 302
    assert statuses(site) == {}
    apply(editor, page)
    assert len(statuses(site)) == 3
    second = apply(editor, page)
    assert "that upload is no longer kept" in editor.get(second.headers["Location"]).text


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "Choose a CSV file to import"),
        (b"name,city\nAnn,Oslo\n", "no email column in the first row"),
        (b"\xff\xfe\x00", "list.csv: "),
    ],
    ids=["empty", "no email column", "not text"],
)
def test_a_file_that_is_no_list_is_refused_saying_why(site: Site, content, problem) -> None:
    client = site.client(Role.EDITOR)
    page = preview(client, content)
    assert page.status_code == 400
    assert problem in html.unescape(page.text)
    assert 'name="newsletter"' in page.text  # the form again, to choose another file


def test_a_file_over_the_limit_is_refused_with_a_clear_message(site: Site) -> None:
    client = site.client(Role.EDITOR)
    row = "someone@example.org,Someone,active,,,,,\n"
    big = HEADER + row * (subscriber_import.MAX_UPLOAD // len(row) + 1)
    page = preview(client, big)
    assert page.status_code == 400
    assert "larger than the 4 MB the web import takes" in page.text


def test_a_request_over_the_apps_limit_gets_the_same_message(site: Site) -> None:
    client = site.client(Role.EDITOR)
    page = preview(client, b"x" * (6 * 1024 * 1024))
    assert page.status_code == 413
    assert "larger than the 4 MB the web import takes" in page.text


def test_a_file_in_windows_1252_is_read_and_said_to_be(site: Site) -> None:
    client = site.client(Role.EDITOR)
    page = preview(client, (HEADER + "rene@example.org,René Müller,active,,,,,\n").encode("cp1252"))
    assert "cp1252 character encoding (not UTF-8)" in page.text
    assert "René Müller" in html.unescape(page.text)


def test_the_preview_needs_its_csrf_token(site: Site, tmp_path: Path) -> None:
    client = site.client(Role.EDITOR)
    refused = client.post(
        "/subscribers/import/preview",
        data={"newsletter": "caspar", "file": (io.BytesIO(LIST.encode()), "list.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400
    assert not list((tmp_path / "uploads").glob("*"))


def test_librarians_cannot_import(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    assert client.get("/subscribers/import").status_code == 403
    with site.factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_uploads_wait_where_only_this_user_can_read_them(site: Site, tmp_path: Path) -> None:
    preview(site.client(Role.EDITOR), LIST)
    folder = tmp_path / "uploads"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    kept = list(folder.iterdir())
    assert len(kept) == 2  # the file and what was said with it
    assert {stat.S_IMODE(path.stat().st_mode) for path in kept} == {0o600}


def test_a_mailchimp_export_is_previewed_as_the_command_line_reads_it(site: Site) -> None:
    cleaned = (
        "Email Address,First Name,Last Name,OPTIN_TIME,CLEAN_TIME,TAGS\n"
        'ola@nordmann.example,Ola,Nordmann,2021-01-02 10:00:00,2024-05-01 08:00:00,"Neglect"\n'
    )
    page = html.unescape(preview(site.client(Role.EDITOR), cleaned).text)
    assert "Read as a Mailchimp export." in page
    assert (
        '<td class="address">ola@nordmann.example</td><td>Ola Nordmann</td><td>cleaned</td>' in page
    )
    assert "<strong>1</strong> recorded as having left" in page
