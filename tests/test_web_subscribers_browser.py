"""The Subscribers pages in a real browser (Debian's Chromium driven by Playwright) over real
HTTP, at a phone's width: add a person, preview an import, import, open a subscriber, erase
them. Each page is checked with axe-core (no serious or critical violation) and the whole
page, its header too, must not scroll sideways at 390 px."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from chromium import launched, require_chromium, shot, sign_in
from playwright.sync_api import Page
from sqlalchemy import func, select
from webapp import Site, make_site
from webserver import served_over_http

from digest.db import transaction
from digest.models import Role, Subscriber
from digest.subscriptions import suppression

KEY = "test-secret-key"  # what make_site's settings key the suppression list with
PHONE = {"width": 390, "height": 844}
LIST = (
    "email,name,status,topics,consent_source,consent_at,consent_ip,confirmed_at\n"
    "ann@example.org,Ann Smith,active,neglect,,,,\n"
    "hé@exämple.org,Renée O’Brien,active,,,,,\n"
    "not-an-address,Bad Row,active,,,,,\n"
    "bounced@example.org,,active,,,,,\n"
)


@pytest.fixture
def world(sqlite_factory, tmp_path: Path) -> Iterator[tuple[Site, str, Page]]:
    require_chromium()
    site = make_site(sqlite_factory, upload_dir=tmp_path / "uploads")
    with transaction(sqlite_factory) as session:
        suppression.suppress(session, "bounced@example.org", suppression.Reason.BOUNCED, KEY)
    with served_over_http(site.app) as base, launched() as browser:
        # axe-core runs as an injected script, which the Content-Security-Policy forbids.
        page = browser.new_context(bypass_csp=True, viewport=PHONE).new_page()
        yield site, base, page


def check(page: Page, name: str) -> None:
    """A screenshot, no serious accessibility violation, and nothing wider than the phone."""
    shot(page, f"subscribers-{name}")
    results = Axe().run(page)
    serious = [
        f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes']]})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], name
    # The whole page, its header too: a table wider than the phone scrolls in its own region.
    wide, screen = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert wide <= screen, f"{name}: {wide} px wide"


def count_subscribers(site: Site) -> int:
    with site.factory() as session:
        return session.scalar(select(func.count()).select_from(Subscriber))


def test_add_preview_import_open_and_erase(world, tmp_path: Path) -> None:
    site, base, page = world
    sign_in(page, base, Role.ADMIN)
    page.goto(f"{base}/subscribers")
    check(page, "index")

    page.click("text=Add a subscriber")
    page.fill("#email", "not an address")
    page.fill("#name", "Zoë Ødegård")
    page.check("input[name=topic][value=neglect]")
    page.fill("#source", "Paper form at the conference — Tromsø")
    page.click("button:has-text('Add subscriber')")
    page.wait_for_selector("#email-error")
    assert page.input_value("#name") == "Zoë Ødegård"  # nothing typed is lost
    assert page.is_checked("input[name=topic][value=neglect]")
    check(page, "add-errors")
    page.fill("#email", "zoe@例え.jp")
    page.click("button:has-text('Add subscriber')")
    page.wait_for_selector("h1:has-text('Zoë Ødegård')")
    assert page.locator("text=Paper form at the conference — Tromsø").count() == 1

    page.goto(f"{base}/subscribers")
    page.click("text=Import a list")
    check(page, "import")
    path = tmp_path / "list.csv"
    path.write_text(LIST, encoding="utf-8")
    page.set_input_files("#file", str(path))
    page.fill("#source", "Sign-up sheet, annual conference")
    page.click("button:has-text('Preview the import')")
    page.wait_for_selector("h1:has-text('Preview')")
    check(page, "import-preview")
    assert page.locator(".import-counts li", has_text="bad row").inner_text() == "1 bad row"
    assert (
        page.locator("section.import-group", has_text="Bad rows")
        .locator("td", has_text="'not-an-address' is not an email address")
        .count()
        == 1
    )
    assert (
        page.locator("section.import-group", has_text="Held back")
        .locator("td", has_text="bounced@example.org")
        .count()
        == 1
    )
    assert count_subscribers(site) == 1  # the preview wrote nothing
    page.click("button:has-text('Import 2 people')")
    page.wait_for_selector("text=Imported 2 people into CASPAR: 2 new, 0 updated, 0 unchanged.")
    assert count_subscribers(site) == 3

    page.fill("input[name=q]", "Zoë")
    page.click("button:has-text('Search')")
    page.click("a:has-text('zoe@例え.jp')")
    page.wait_for_selector("h1:has-text('Zoë Ødegård')")
    check(page, "subscriber")
    page.click("button:has-text('Erase this subscriber')")
    page.wait_for_selector("h1:has-text('Erase Zoë Ødegård <zoe@例え.jp>?')")
    check(page, "erase-confirm")
    assert count_subscribers(site) == 3  # asking changed nothing
    page.click("button:has-text('Erase for good')")
    page.wait_for_selector("text=Erased. Only a keyed hash of the address is kept")
    assert count_subscribers(site) == 2
