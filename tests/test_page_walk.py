"""Every staff and public page, as each role sees it, in a real browser at a desktop width
(1280 px) and a phone's (390 px): it fits the screen with no sideways scroll, its menu can be
opened and every link in it reached, every control on it can be clicked where it is shown,
it has at most one primary action, and axe-core finds no serious or critical problem.
Screenshots go to test-artifacts/pages/<role>-<page>-<width>.png for people to look at.

PAGES is the list of pages; a GET route that is neither in it nor in NOT_PAGES fails
`test_every_page_of_the_app_is_walked`, so a new page cannot be forgotten."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from axe_playwright_python.sync_playwright import Axe
from chromium import ARTIFACTS, launched
from conftest import CONFIGURED
from flask import flash, render_template
from pageworld import make_page_world
from playwright.sync_api import Browser, Page
from sqlalchemy.orm import Session, sessionmaker
from test_web_access import EXPECTED, PUBLIC
from webapp import PASSWORD, STAFF
from webserver import served_over_http
from webworld import World

from digest.db import make_engine, session_factory
from digest.models import Role

WIDTHS = {"1280": (1280, 800), "390": (390, 844)}
ANONYMOUS = "public"
SHOTS = ARTIFACTS / "pages"


@dataclass(frozen=True)
class Walked:
    """A page to visit: its name in the screenshots, its route, and what to fill in."""

    name: str
    endpoint: str
    values: dict[str, object] = field(default_factory=dict)  # instead of the world's own
    # Route arguments filled from another of the world's values: {argument: world's name}.
    renamed: dict[str, str] = field(default_factory=dict)
    query: str = ""
    status: int = 200


# Every page of the app. Add yours here: the world (tests/pageworld.py, tests/webworld.py)
# fills the route's arguments; `values` overrides them.
PAGES = [
    Walked("login", "auth.login"),
    Walked("forgot-password", "auth.forgot_password"),
    Walked("reset-password", "auth.reset_password"),
    Walked("signed-in", "auth.signed_in"),
    Walked("dashboard", "dashboard.home"),
    Walked("password", "auth.change_password"),
    Walked("items", "triage.inbox", query="status=all"),
    Walked("item", "triage.item"),
    Walked("add-item", "triage.add_item"),
    Walked("duplicates", "duplicates.index"),
    Walked("duplicate", "duplicates.compare"),
    Walked("outbox", "outbox.index"),
    Walked("outbox-message", "outbox.message"),
    Walked("editions", "editions.index"),
    Walked("edition", "editions.edit"),
    Walked("edition-sent", "editions.edit", renamed={"edition_id": "sent_edition_id"}),
    Walked("subscribers", "subscribers.index"),
    Walked("subscriber", "subscribers.show"),
    Walked("subscriber-add", "subscribers.add"),
    Walked("subscribers-import", "subscribers.upload"),
    Walked("feeds", "admin.feeds"),
    Walked("feed-new", "admin.add_feed"),
    Walked("feed-edit", "admin.edit_feed"),
    Walked("topics", "admin.topics"),
    Walked("users", "admin.users"),
    Walked("audit", "admin.audit_log"),
    Walked("not-found", "triage.item", values={"item_id": 987654}, status=404),
    Walked("subscribe", "public.subscribe"),
    Walked("embed", "public.embed_snippet"),
    Walked("confirm", "public.confirm"),
    Walked("lost-link", "public.lost_link"),
    Walked("preferences", "public.preferences"),
    Walked("unsubscribe", "public.unsubscribe"),
    Walked("archive", "public.archive"),
    Walked("archived-edition", "public.archived_edition"),
]
# GET routes that answer with something other than a page of the site, and why.
NOT_PAGES = {
    "static": "files: the stylesheet, scripts",
    "healthz": "a word for the load balancer",
    "public.editions_feed": "an Atom feed",
    "public.topic_feed": "an Atom feed",
    "editions.preview": "the email itself, laid out for mail clients (test_email.py)",
    "editions.progress": "a part of the edition page, walked there as edition-sent",
    "public.theme": "a stylesheet: a newsletter's colour for its public pages",
    "public.archived_items": "a download: an edition's items as RIS or BibTeX",
    "editions.export_items": "a download: an edition's items as RIS or BibTeX",
}


def _allowed(endpoint: str, role: str) -> bool:
    """Whether `role` walks the page: public pages are walked signed out, the others by every
    role their access allows."""
    needed = EXPECTED[endpoint]
    if needed == PUBLIC:
        return role == ANONYMOUS
    return role != ANONYMOUS and Role(role).allows(needed)


ROLES = [role.value for role in Role] + [ANONYMOUS]
WALK = [
    pytest.param(role, walked, id=f"{role}-{walked.name}")
    for role in ROLES
    for walked in PAGES
    if _allowed(walked.endpoint, role)
] + [  # a public page speaks as the library, to staff as to anyone: no staff menu on it
    pytest.param(Role.LIBRARIAN.value, walked, id=f"librarian-{walked.name}")
    for walked in PAGES
    if walked.name == "archived-edition"
]


@pytest.fixture(scope="module")
def world(templates, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, str]]:
    """One site, seeded once and served over HTTP for the whole walk."""
    folder = tmp_path_factory.mktemp("walk")
    path = folder / "digest.sqlite"
    path.write_bytes(templates.sqlite_file(CONFIGURED).read_bytes())
    engine = make_engine(f"sqlite:///{path}")
    factory: sessionmaker[Session] = session_factory(engine)
    made = make_page_world(factory, folder)
    with served_over_http(made.site.app) as address:
        yield made, address
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as instance:
        yield instance


@pytest.fixture(scope="module")
def tabs(world, browser: Browser) -> Iterator[dict[str, Page]]:
    """A browser tab for each role, signed in once (signed out for the public pages)."""
    _, base = world
    opened: dict[str, Page] = {}
    for role in ROLES:
        page = browser.new_context().new_page()
        if role != ANONYMOUS:
            page.goto(f"{base}/login")
            page.fill("input[name=email]", STAFF[Role(role)])
            page.fill("input[name=password]", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_url(f"{base}/")
        opened[role] = page
    yield opened
    for page in opened.values():
        page.context.close()


def address(world: World, walked: Walked) -> str:
    rule = next(r for r in world.site.app.url_map.iter_rules() if r.endpoint == walked.endpoint)
    values = {
        name: world.by_route.get((rule.endpoint, name), world.arguments.get(name))
        for name in rule.arguments
    }
    values.update(walked.values)
    values.update({name: world.arguments[other] for name, other in walked.renamed.items()})
    path = rule.build(values)[1]
    return f"{path}?{walked.query}" if walked.query else path


# Whether a tap can reach an element: scrolled to as a person scrolls (the page, and boxes
# that show a scroll bar, never one that hides its overflow), its first line's centre is on
# the screen and a tap there lands on it (or on its label).
REACHABLE = """(element) => {
  const centre = () => {
    const box = element.getClientRects()[0];
    return box && box.width > 0 ? [box.left + box.width / 2, box.top + box.height / 2] : null;
  };
  for (let box = element.parentElement; box; box = box.parentElement) {
    const style = getComputedStyle(box);
    if (!/auto|scroll/.test(style.overflowX + style.overflowY)) continue;
    const at = centre(), frame = box.getBoundingClientRect();
    if (!at) return false;
    box.scrollLeft += at[0] - (frame.left + frame.width / 2);
    box.scrollTop += at[1] - (frame.top + frame.height / 2);
  }
  let at = centre();
  if (!at) return false;
  window.scrollBy(0, at[1] - window.innerHeight / 2);
  at = centre();
  if (at[0] < 0 || at[0] > window.innerWidth || at[1] < 0 || at[1] > window.innerHeight) return false;
  const hit = document.elementFromPoint(at[0], at[1]);
  return Boolean(hit && (element.contains(hit) || [...(element.labels || [])].some((l) => l.contains(hit))));
}"""
# The main menu's links, by name, and those a tap cannot reach.
MENU_PROBLEMS = f"""() => {{
  const reachable = {REACHABLE};
  const links = [...document.querySelectorAll('header nav a, header .who a, header .who button')];
  const name = (link) => link.textContent.trim();
  return [links.map(name), links.filter((link) => !reachable(link)).map(name)];
}}"""
# The controls shown in the page's main part that a tap cannot reach.
UNREACHABLE = f"""() => {{
  const reachable = {REACHABLE};
  const controls = [...document.querySelectorAll(
    'main a[href], main button, main input:not([type=hidden]), main select, main textarea, main summary')];
  // Chromium lays out a closed <details>' content (hidden by content-visibility): a control
  // there is folded away, not shown, until its summary is opened.
  const folded = (c) => {{
    const closed = c.closest('details:not([open])');
    return closed && !closed.querySelector(':scope > summary')?.contains(c);
  }};
  const shown = controls.filter((c) => c.getClientRects().length && !c.closest('[aria-hidden=true]')
    && c.getBoundingClientRect().width > 1 && !folded(c));
  return shown.filter((c) => !reachable(c))
    .map((c) => `${{c.tagName.toLowerCase()}} "${{(c.textContent || c.name || '').trim().slice(0, 40)}}"`);
}}"""


def open_menu(page: Page) -> None:
    """At a phone's width the menu folds into a disclosure: open it, as a person would."""
    toggle = page.locator("header details.menu:not([open]) > summary")
    if toggle.count() and toggle.is_visible():
        toggle.click()


def serious_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_every_page_of_the_app_is_walked(world) -> None:
    made, _ = world
    walked = {page.endpoint for page in PAGES}
    shown = {
        rule.endpoint
        for rule in made.site.app.url_map.iter_rules()
        if "GET" in (rule.methods or ())
    }
    forgotten = shown - walked - set(NOT_PAGES)
    assert not forgotten, f"add these GET routes to PAGES (or NOT_PAGES, saying why): {forgotten}"
    stale = set(NOT_PAGES) - shown
    assert not stale, f"no longer GET routes, so not pages to leave out: {stale}"
    assert not walked & set(NOT_PAGES)


@pytest.mark.parametrize(("role", "walked"), WALK)
def test_page_fits_a_phone_and_a_desktop(world, tabs, role: str, walked: Walked) -> None:
    made, base = world
    page = tabs[role]
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for width, size in WIDTHS.items():
        page.set_viewport_size({"width": size[0], "height": size[1]})
        response = page.goto(base + address(made, walked))
        assert response is not None and response.status == walked.status, response
        page.screenshot(path=str(SHOTS / f"{role}-{walked.name}-{width}.png"), full_page=True)
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > size[0]:
            problems.append(f"{width}: the page is {wide} px wide, wider than the screen")
        open_menu(page)
        if walked.name == "dashboard":  # the menu, opened, as each role sees it
            page.screenshot(path=str(SHOTS / f"{role}-menu-{width}.png"))
        names, cut = page.evaluate(MENU_PROBLEMS)
        if cut:
            problems.append(f"{width}: menu links out of reach: {cut}")
        if EXPECTED[walked.endpoint] == PUBLIC:
            if names:
                problems.append(f"{width}: a public page shows the staff menu: {names}")
        elif not {"Dashboard", "Triage", "Sign out"} <= set(names):
            problems.append(f"{width}: the menu has lost links: it holds only {names}")
        if hidden := page.evaluate(UNREACHABLE):
            problems.append(f"{width}: controls that cannot be tapped: {hidden[:8]}")
        primaries = page.locator("main .primary:visible").count()
        if primaries > 1:
            problems.append(f"{width}: {primaries} primary actions; one page has one")
        problems += [f"{width}: axe: {v}" for v in serious_violations(page)]
    assert not problems, "\n".join(problems)


def test_the_outbox_lists_subjects_and_addresses_as_people_read_them(world) -> None:
    made, _ = world
    listed = made.site.client(Role.LIBRARIAN).get("/outbox").text
    assert "CASPAR: week commencing" in listed and "=?utf-8?" not in listed
    assert "ŵyn.llŷr@" in listed


def test_messages_say_what_they_are_in_a_symbol_as_well_as_a_colour(world, tabs) -> None:
    made, base = world
    with made.site.app.test_request_context("/login"):
        for category in ("success", "error", "message"):  # "message": Flask's default
            flash(f"A {category}.", category)
        shown = render_template("error.html", code=400, message="Something to say.")
    page = tabs[ANONYMOUS]
    page.goto(f"{base}/login")
    page.set_content(shown)  # on the site's address, with its stylesheet
    looks = page.evaluate(
        """[...document.querySelectorAll('main .flash')].map((f) => ({
            text: f.textContent, role: f.getAttribute('role'),
            symbol: getComputedStyle(f, '::before').content,
            colour: getComputedStyle(f).backgroundColor}))"""
    )
    assert [(m["text"], m["role"]) for m in looks] == [
        ("A success.", "status"),
        ("A error.", "alert"),
        ("A message.", "status"),
    ]
    assert len({m["symbol"] for m in looks}) == 3 and "none" not in {m["symbol"] for m in looks}
    assert len({m["colour"] for m in looks}) == 3
