"""GET and HEAD only look.

Link checkers and mail-security gateways send HEAD, sometimes with a body, to every link in a
message, and no CSRF token is checked on it. So HEAD is answered as the GET it stands for, on
every route: the same status, no body, nothing stored or changed, no mail sent. A route added
later is walked too, and fails here if a HEAD to it changes anything.
"""

from __future__ import annotations

import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import select
from webapp import PASSWORD, STAFF, csrf_token, sign_in
from webworld import World, make_world

from digest.models import Newsletter, Role, SubscriberStatus, Subscription, Topic
from digest.web.security import PUBLIC, access_of, public

NEW_PASSWORD = "a brand new long password"
# Every field a form on the site reads, filled in so that it would act if it were read.
BODY = {
    "List-Unsubscribe": "One-Click",
    "email": STAFF[Role.ADMIN],
    "password": PASSWORD,
    "current_password": PASSWORD,
    "new_password": NEW_PASSWORD,
    "confirm_password": NEW_PASSWORD,
    "name": "Head Request",
    "consent": "yes",
    "newsletter": "new-in-the-library",
    "paused": "on",
    "role": "admin",
    "slug": "head-topic",
    "label": "Head topic",
    "keywords": "head",
    "url": "https://example.org/head",
    "title": "Added by a HEAD",
    "summary": "Nothing.",
    "section": "1",
    "poll_interval": "1h",
}
ACTIONS = ["", "unsubscribe", "join", "resubscribe", "fetch"]


@pytest.fixture
def world(factory, tmp_path) -> World:
    return make_world(factory, tmp_path)


def test_head_is_answered_as_get_and_changes_nothing_on_every_route(world: World) -> None:
    app = world.site.app
    staff, anonymous = world.site.client(Role.ADMIN), app.test_client()
    tokens = {id(b): csrf_token(b) for b in (staff, anonymous)}
    looking = [rule for rule in app.url_map.iter_rules() if "GET" in rule.methods]
    assert len(looking) > 20
    for rule in looking:
        path = world.path(rule)
        browsers = [anonymous] if access_of(app, rule.endpoint) == PUBLIC else [staff, anonymous]
        for browser in browsers:
            before, sent = world.state(), world.sent()
            got = browser.get(path)
            for action in ACTIONS:
                body = {**BODY, "action": action, "csrf_token": tokens[id(browser)]}
                head = browser.open(path, method="HEAD", data=body)
                where = f"HEAD {path} ({'staff' if browser is staff else 'anonymous'}) {action}"
                assert head.status_code == got.status_code, where
                assert head.data == b"", where
            assert world.state() == before, f"GET or HEAD {path} changed what is stored"
            assert world.sent() == sent, f"GET or HEAD {path} sent mail"


def _subscription(world: World, email: str, slug: str) -> Subscription | None:
    with world.site.factory() as session:
        return session.scalar(
            select(Subscription)
            .join(Newsletter)
            .where(Newsletter.slug == slug, Subscription.subscriber.has(email=email))
        )


def _staff(world: World) -> FlaskClient:
    return world.site.client(Role.ADMIN)


def _anonymous(world: World) -> FlaskClient:
    return world.site.app.test_client()


# (who, the address, the form): each a request that, as a POST, acts.
CASES = {
    "one-click unsubscribe": (_anonymous, lambda w: f"/u/{w.reader}", {}),
    "unsubscribe page": (_anonymous, lambda w: f"/u/{w.reader}", {"csrf": 1}),
    "confirmation link": (_anonymous, lambda w: f"/confirm/{w.pending}", {"csrf": 1}),
    "preference centre: join": (
        _anonymous,
        lambda w: f"/p/{w.reader}",
        {"csrf": 1, "action": "join", "newsletter": "new-in-the-library"},
    ),
    "preference centre: unsubscribe": (
        _anonymous,
        lambda w: f"/p/{w.reader}",
        {"csrf": 1, "action": "unsubscribe"},
    ),
    "preference centre: topics and pause": (
        _anonymous,
        lambda w: f"/p/{w.reader}",
        {"csrf": 1, "topic": "1", "paused": "on"},
    ),
    "sign-up": (
        _anonymous,
        lambda w: "/subscribe/caspar",
        {"csrf": 1, "email": "someone.new@example.org", "consent": "yes"},
    ),
    "lost link": (_anonymous, lambda w: "/preferences", {"csrf": 1, "email": "reader@example.org"}),
    "sign-in": (
        _anonymous,
        lambda w: "/login",
        {"csrf": 1, "email": STAFF[Role.ADMIN], "password": PASSWORD},
    ),
    "failed sign-in": (
        _anonymous,
        lambda w: "/login",
        {"csrf": 1, "email": STAFF[Role.ADMIN], "password": "wrong password"},
    ),
    "password page": (
        _staff,
        lambda w: "/account/password",
        {
            "csrf": 1,
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    ),
    "new topic": (_staff, lambda w: "/admin/topics", {"csrf": 1, "slug": "x", "label": "X"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_head_with_a_form_acts_on_nothing_that_the_same_post_would(
    world: World, case: str
) -> None:
    who, where, fields = CASES[case]
    browser = who(world)
    path = where(world)
    body = {k: v for k, v in fields.items() if k != "csrf"}
    if "csrf" in fields:
        body["csrf_token"] = csrf_token(browser)
    before, sent = world.state(), world.sent()
    status = browser.get(path).status_code
    head = browser.open(path, method="HEAD", data=body)
    assert head.status_code == status and head.data == b""
    assert world.state() == before, f"a HEAD to {path} changed what is stored"
    assert world.sent() == sent, f"a HEAD to {path} sent mail"
    # The same form, POSTed, does act: the HEAD above was a real attempt.
    browser.post(path, data=body)
    assert (world.state(), world.sent()) != (before, sent)


def test_a_head_to_an_unsubscribe_link_leaves_the_reader_subscribed(world: World) -> None:
    scanner = world.site.app.test_client()
    scanner.head(f"/u/{world.reader}", data={"List-Unsubscribe": "One-Click"})
    scanner.head(f"/p/{world.reader}", data={"action": "unsubscribe"})
    subscription = _subscription(world, "reader@example.org", "caspar")
    assert subscription.status is SubscriberStatus.ACTIVE
    assert _subscription(world, "reader@example.org", "new-in-the-library") is None


def test_a_head_to_a_confirmation_link_confirms_nothing(world: World) -> None:
    scanner = world.site.app.test_client()
    scanner.head(f"/confirm/{world.pending}", data={"csrf_token": csrf_token(scanner)})
    assert _subscription(world, "pending@example.org", "caspar").status is (
        SubscriberStatus.PENDING
    )


def test_a_head_to_the_password_page_keeps_the_password(world: World) -> None:
    browser, other = world.site.client(Role.EDITOR), world.site.client(Role.EDITOR)
    fields = CASES["password page"][2]
    body = {**{k: v for k, v in fields.items() if k != "csrf"}, "csrf_token": csrf_token(browser)}
    assert browser.head("/account/password", data=body).status_code == 200
    assert other.get("/").status_code == 200  # still signed in elsewhere
    fresh = world.site.app.test_client()
    assert sign_in(fresh, STAFF[Role.EDITOR], PASSWORD).status_code == 302


def test_a_view_that_writes_on_get_is_stopped_before_it_lands(world: World) -> None:
    """The net under the views: a GET or HEAD's database session refuses to write."""
    app = world.site.app
    app.view_functions.pop("careless", None)

    def careless() -> str:
        topic = g.db.scalar(select(Topic).where(Topic.slug == "neglect"))
        topic.label = "Changed by a GET"
        g.db.commit()
        return "changed"

    app.add_url_rule("/careless", "careless", public(careless))
    before = world.state()
    for method in ("GET", "HEAD"):
        assert app.test_client().open("/careless", method=method).status_code == 500
    assert world.state() == before
