"""The email in a real browser (Chromium), as a phone, a mail pane and a desktop show it, in
light and dark mode: it fits the width, its footer links are big enough to tap, the dark
background fills the window, and axe finds nothing serious. Screenshots go to
test-artifacts/email-<width>-<scheme>.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from chromium import ARTIFACTS, launched
from email_world import bodies, delivered, make_edition

WIDTHS = (320, 600, 1000)
SCHEMES = ("light", "dark")
TAP_TARGET = 44  # px: WCAG 2.5.5 and Apple's and Google's guidance
DARK_BACKGROUND = "rgb(18, 18, 18)"


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with launched() as browser:
        yield browser


@pytest.fixture
def page_html(sqlite_factory) -> str:
    return bodies(delivered(sqlite_factory, make_edition(sqlite_factory)))[1]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_the_email_fits_is_tappable_and_accessible(chromium, page_html, width, scheme) -> None:
    # A tall window: a short email must not leave a band of another colour under it.
    page = chromium.new_page(viewport={"width": width, "height": 1400})
    page.emulate_media(color_scheme=scheme)
    page.set_content(page_html)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"email-{width}-{scheme}.png"), full_page=True)

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{scroll_width} px of content in a {width} px window"

    column = page.locator("table.page").bounding_box()
    assert column["width"] == min(width, 600)

    for link in page.locator(".footer a, .topbar a").all():
        box = link.bounding_box()
        assert box["height"] >= TAP_TARGET and box["width"] >= TAP_TARGET, (
            f"{link.inner_text()!r} is {box['width']:.0f}x{box['height']:.0f} px at {width} px"
        )
        assert box["x"] >= 0 and box["x"] + box["width"] <= width  # on screen

    if scheme == "dark":
        for element in ("documentElement", "body"):
            colour = page.evaluate(f"getComputedStyle(document.{element}).backgroundColor")
            assert colour == DARK_BACKGROUND, f"{element} is {colour} in dark mode"

    violations = Axe().run(page).response["violations"]
    serious = [
        f"{v['id']} ({len(v['nodes'])}): {v['help']}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    page.close()
