"""In a real browser: an Outbox message with a long unbroken text part fits the window, the
send-progress table's numbers line up under their headings in figures of one width, and the
send's chart fills its place with labelled axes."""

from __future__ import annotations

import mailbox
from datetime import timedelta
from email.message import EmailMessage

import pytest
from chromium import shot, sign_in
from delivery_helpers import sent_edition_over_time
from webapp import make_site
from webserver import served_over_http

from digest.models import DeliveryStatus, Role

LONG_LINK = "https://example.org/" + "a-very-long-path-without-spaces-" * 150  # 4,800 characters


def message_with_a_long_line() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "CASPAR <caspar@example.org>"
    message["To"] = "reader@example.org"
    message["Subject"] = "CASPAR: a long link"
    message["List-Unsubscribe"] = f"<{LONG_LINK}>"
    message.set_content(f"Read more: {LONG_LINK}\n\nUnsubscribe: {LONG_LINK}\n")
    return message


@pytest.mark.parametrize("width", [1280, 375])
def test_an_outbox_message_with_a_long_line_fits_the_window(
    sqlite_factory, browser, tmp_path, width: int
) -> None:
    folder = tmp_path / "mail"
    key = mailbox.Maildir(folder, create=True).add(message_with_a_long_line())
    site = make_site(sqlite_factory, demo=True, mail_url=f"maildir:{folder}")
    with served_over_http(site.app) as base:
        page = browser.new_page(viewport={"width": width, "height": 800})  # type: ignore[attr-defined]
        sign_in(page, base, Role.LIBRARIAN)
        page.goto(f"{base}/outbox/{key}")
        page.click("summary:has-text('Headers')")  # the headers hold the long link too
        page.wait_for_selector("pre.email-text")
        shot(page, f"outbox-long-line-{width}")
        # The message's own part of the page (the header above it is another matter).
        inside, room = page.eval_on_selector("main", "m => [m.scrollWidth, m.clientWidth]")
        assert inside <= room, f"the message is {inside} px wide in {room} px"
        if width >= 1000:
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"the page is {wide} px wide in a {width} px window"
        assert LONG_LINK[-40:] in page.locator("pre.email-text").inner_text()  # all of it shown


# The right edge of the text in each heading and in the cell under it.
EDGES = """table => [...table.querySelectorAll('thead th')].map((th, i) => {
  const td = table.querySelectorAll('tbody td')[i];
  const edge = cell => { const r = document.createRange(); r.selectNodeContents(cell);
                         return r.getBoundingClientRect().right; };
  return [th.innerText, edge(th), edge(td), getComputedStyle(td).fontVariantNumeric];
})"""


@pytest.mark.parametrize(
    ("spacing", "every"), [(timedelta(seconds=1), "second"), (timedelta(seconds=270), "5 minutes")]
)
def test_the_progress_table_lines_up_and_the_chart_is_labelled(
    sqlite_factory, browser, spacing: timedelta, every: str
) -> None:
    site = make_site(sqlite_factory)
    failed_bounced_then_sent = [DeliveryStatus.FAILED, DeliveryStatus.BOUNCED] + [
        DeliveryStatus.SENT
    ] * 38
    edition_id = sent_edition_over_time(sqlite_factory, spacing, failed_bounced_then_sent)
    with served_over_http(site.app) as base:
        page = browser.new_page(viewport={"width": 1000, "height": 900})  # type: ignore[attr-defined]
        sign_in(page, base, Role.EDITOR)
        page.goto(f"{base}/editions/{edition_id}")
        page.wait_for_selector("#send-progress table.counts")
        shot(page, f"send-progress-every-{every.replace(' ', '-')}")
        for heading, above, below, figures in page.eval_on_selector("table.counts", EDGES):
            assert abs(above - below) <= 1, f"{heading}: heading ends at {above}, number at {below}"
            assert "tabular-nums" in figures
        assert (
            f"Messages finished every {every}" in page.locator(".timeline figcaption").inner_text()
        )
        chart = page.locator(".timeline svg").bounding_box()
        bars = page.locator(".timeline svg rect").count()
        assert chart and chart["width"] > 600 and 10 <= bars <= 60
        x_axis = page.locator(".timeline-x span").all_inner_texts()
        assert len(x_axis) == 3 and x_axis[0].startswith("09:00")
