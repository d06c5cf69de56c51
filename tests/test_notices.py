"""Notices (a sign-up confirmation, lost links, the editors' reports, a test send, the draft's
"ready for review") go through the newsletter's own transport, signed with its DKIM key like
the editions, never by the default one."""

from __future__ import annotations

import email
import re
from email.policy import default

import dkim
import pytest
from conftest import DATA
from delivery_helpers import add_subscribers, approved_edition, caspar, rsa_key
from smtp import smtp_server
from sqlalchemy import select
from webapp import STAFF, accept_tagged, csrf_token, make_site, settings_for

from digest.config.schema import DkimConfig
from digest.db import transaction
from digest.delivery import queue
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport, for_newsletter
from digest.editions.message import MailSettings
from digest.models import Edition, Role, SubscriberStatus, Subscription
from digest.scheduler import tasks

KEYS = ["notice-key"]
LINKS = {"token_keys": tuple(KEYS), "base_url": "https://digest.example.org"}
SELECTOR = "weekly"


@pytest.fixture
def bulk(factory, tmp_path):
    """CASPAR sends through the `bulk` transport, with DKIM; the default transport is another
    server, which must get nothing. Yields (bulk inbox, default inbox, transports, verify)."""
    key_file, record = rsa_key(tmp_path)
    with transaction(factory) as session:
        caspar(session).transport = "bulk"

    def verify(raw: bytes) -> bool:
        def dns(name: bytes, timeout: int = 5) -> bytes:
            assert name == f"{SELECTOR}._domainkey.digest.test.".encode()
            return record

        return raw.startswith(b"DKIM-Signature:") and dkim.verify(raw, dnsfunc=dns)

    with smtp_server() as (bulk_inbox, bulk_url), smtp_server() as (default_inbox, default_url):
        transports = {
            None: Transport(default_url),  # must not be used
            "bulk": Transport(
                bulk_url,
                dkim=DkimConfig(domain="digest.test", selector=SELECTOR, key_file=key_file),
            ),
        }
        yield bulk_inbox, default_inbox, transports, verify
        assert default_inbox.received == []


def only_message(inbox, to: str) -> tuple[bytes, email.message.EmailMessage]:
    (raw,) = [raw for _, recipients, raw in inbox.received if to in recipients]
    return raw, email.message_from_bytes(raw, policy=default)


def test_a_confirmation_and_lost_links_go_through_the_newsletters_transport(factory, bulk) -> None:
    inbox, _, transports, verify = bulk
    site = make_site(factory, transports=transports, **LINKS)
    client = site.app.test_client()
    page = client.get("/subscribe/caspar").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    signed_up = client.post(
        "/subscribe/caspar",
        data={"email": "reader@example.org", "consent": "yes", "csrf_token": token},
    )
    assert signed_up.status_code == 200
    site.settle()
    raw, message = only_message(inbox, "reader@example.org")
    assert message["Subject"] == "Please confirm your subscription to CASPAR" and verify(raw)
    with transaction(factory) as session:
        for subscription in session.scalars(select(Subscription)):
            subscription.status = SubscriberStatus.ACTIVE
    inbox.received.clear()
    client.post("/preferences", data={"email": "reader@example.org", "csrf_token": token})
    site.settle()
    raw, message = only_message(inbox, "reader@example.org")
    library = (
        "Llyfrgell Plant — Children’s Library"  # the organisation, as tests/data/config.yaml has it
    )
    assert message["Subject"] == f"Your preference links for {library}" and verify(raw)


def test_a_test_send_goes_through_the_newsletters_transport_with_its_own_id(factory, bulk) -> None:
    inbox, _, transports, verify = bulk
    site = make_site(factory, transports=transports, **LINKS)
    accept_tagged(factory, [("First item", "neglect")])
    editor = site.client(Role.EDITOR)
    token = csrf_token(editor, "/")
    editor.post("/editions/build", data={"newsletter": "caspar", "csrf_token": token})
    with factory() as session:
        edition_id = session.scalar(select(Edition.id))
    for _ in range(2):
        sent = editor.post(
            f"/editions/{edition_id}/test", data={"csrf_token": token}, follow_redirects=True
        )
        assert f"A test was sent to {STAFF[Role.EDITOR]}." in sent.text
    tests = [raw for _, _, raw in inbox.received]
    assert len(tests) == 2 and all(verify(raw) for raw in tests)
    first, second = (email.message_from_bytes(raw, policy=default) for raw in tests)
    assert first["Message-ID"] != second["Message-ID"]  # Gmail would drop a second copy


def test_the_editors_report_goes_through_the_newsletters_transport(factory, bulk) -> None:
    inbox, _, transports, verify = bulk
    make_site(factory)  # staff: the report goes to the editor and the admin
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, 3)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
    settings = Settings(KEYS, MailSettings("https://digest.example.org"), "notice-hash-key")
    Worker(factory.kw["bind"], settings, transports).run(until_idle=True)
    assert sorted(to for _, (to,), _ in inbox.received if to in readers) == sorted(readers)
    for role in (Role.EDITOR, Role.ADMIN):
        raw, message = only_message(inbox, STAFF[role])
        assert message["Subject"].startswith("Sent: ") and verify(raw)


def test_the_draft_notice_goes_through_the_newsletters_transport(factory, bulk, tmp_path) -> None:
    inbox, _, transports, verify = bulk
    make_site(factory)
    accept_tagged(factory, [("Neglect in adolescence", "neglect")])
    bulk_transport = transports["bulk"]
    config = tmp_path / "feeds.yaml"
    config.write_text(_config_with_transport(bulk_transport), encoding="utf-8")
    settings = settings_for(factory, mail_url=transports[None].url, **LINKS)
    tasks.install(settings)
    assert tasks.draft_edition(settings.database_url, "caspar", str(config)) is not None
    raw, message = only_message(inbox, STAFF[Role.EDITOR])
    assert message["Subject"].startswith("Ready for review:") and verify(raw)


def _config_with_transport(transport: Transport) -> str:
    dkim_config = transport.dkim
    return (DATA / "config.yaml").read_text(encoding="utf-8") + (
        "\ntransports:\n"
        "  - name: bulk\n"
        f'    url: "{transport.url}"\n'
        f"    dkim: {{domain: {dkim_config.domain}, selector: {dkim_config.selector}, "
        f"key_file: {dkim_config.key_file}}}\n"
    )


@pytest.mark.parametrize(
    ("named", "used"),
    [("bulk", "bulk"), (None, None), ("gone", None)],
    ids=["a known transport: its own", "none named: the default", "an unknown one: the default"],
)
def test_a_newsletter_naming_no_transport_or_an_unknown_one_uses_the_default(
    named: str | None, used: str | None
) -> None:
    transports = {None: Transport("maildir:default"), "bulk": Transport("maildir:bulk")}
    assert for_newsletter(transports, named) is transports[used]
