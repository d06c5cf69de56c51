"""Staff see a send happen: live counts, progress and the send over time on the edition page,
and failed or bounced deliveries on the dashboard."""

from __future__ import annotations

from delivery_helpers import add_subscribers, approved_edition
from smtp import Faults, smtp_server
from webapp import make_site

from digest.db import transaction
from digest.delivery import queue
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import Edition, Role


def test_edition_page_and_dashboard_show_the_send(factory) -> None:
    site = make_site(factory)
    edition_id = approved_edition(factory)
    readers = add_subscribers(factory, 6)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
    editor = site.client(Role.EDITOR)
    page = editor.get(f"/editions/{edition_id}").text
    assert "Sending" in page and 'hx-trigger="every 2s"' in page  # polled while it goes
    assert '<td class="count-queued">6</td>' in page
    with smtp_server(Faults(rcpt={readers[0]: ("550 5.1.1 No such user", 9)})) as (_, url):
        settings = Settings(["k"], MailSettings("https://d.example"), "test-hash-key")
        Worker(factory.kw["bind"], settings, {None: Transport(url)}).run(until_idle=True)
    live = editor.get(f"/editions/{edition_id}/progress").text
    assert '<td class="count-sent">5</td>' in live and '<td class="count-bounced">1</td>' in live
    assert "6 of 6 finished" in live and "every 2s" not in live  # sent: polling stops
    assert "Messages finished every second" in live  # a send of a moment, in seconds
    dashboard = site.client(Role.LIBRARIAN).get("/").text
    assert "Deliveries that failed or bounced" in dashboard and "0 failed, 1 bounced" in dashboard
