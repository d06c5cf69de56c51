"""Bad input is refused in words, and what is stored stays as it was.

Each case here was a 500 once: a search word with an underscore on SQLite, ids too large for
the database, a number that is not one, a role that does not exist, a NUL character on
PostgreSQL, text longer than its column on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from webapp import add_items, csrf_token, entry
from webworld import World, make_world

from digest.models import Role

BIG = [str(2**31), str(2**63), str(2**64), str(10**30)]


@pytest.fixture
def world(factory, tmp_path) -> World:
    return make_world(factory, tmp_path)


@pytest.fixture
def admin(world: World) -> FlaskClient:
    return world.site.client(Role.ADMIN)


def _post(client: FlaskClient, path: str, **fields: str):
    return client.post(path, data={**fields, "csrf_token": csrf_token(client)})


def test_search_words_with_underscores_and_operators_find_items(
    world: World, admin: FlaskClient
) -> None:
    add_items(world.site.factory, [entry("Child_protection online", "https://example.org/cp")])
    for words in (
        "child_protection",
        "CHILD_PROT",
        'protection "online',
        "(online) child*",
        "^online -child",
    ):
        page = admin.get("/items", query_string={"status": "all", "q": words})
        assert page.status_code == 200, words
        assert "Child_protection online" in page.text, words


def test_ids_no_row_can_have_are_not_found(world: World, admin: FlaskClient) -> None:
    before = world.state()
    for number in BIG:
        for path in (f"/items/{number}", f"/duplicates/{number}", f"/editions/{number}"):
            page = admin.get(path)
            assert (page.status_code, "There is nothing here." in page.text) == (404, True), path
        for path in (f"/admin/feeds/{number}/pause", f"/placements/{number}/status"):
            assert _post(admin, path, status="accepted").status_code == 404, path
    assert world.state() == before


def _edition_items(world: World, admin: FlaskClient, **fields: str):
    return _post(admin, f"/editions/{world.arguments['edition_id']}/items", **fields)


def _item(world: World) -> str:
    return str(world.arguments["item_id"])


# (what is sent, the field the message must name): each answered 400, changing nothing.
REFUSED: dict[str, tuple[Callable[[World, FlaskClient], object], str]] = {
    "a page number too large": (lambda w, a: a.get(f"/items?page={2**64}"), "“page”"),
    "a feed filter that is not a number": (lambda w, a: a.get("/items?feed=abc"), "“feed”"),
    "a date that is not one": (lambda w, a: a.get("/items?since=yesterday"), "“since”"),
    "a status that does not exist": (lambda w, a: a.get("/items?status=published"), "“status”"),
    "a subscribers page of 10**30": (
        lambda w, a: a.get(f"/subscribers?page={10**30}"),
        "“page”",
    ),
    "an item that is not a number, on the edition page": (
        lambda w, a: _edition_items(w, a, item="abc", action="remove"),
        "“item”",
    ),
    "a position that is not a whole number": (
        lambda w, a: _edition_items(w, a, item=_item(w), position="1.5", action="move"),
        "“position”",
    ),
    "an action that does not exist": (
        lambda w, a: _edition_items(w, a, item=_item(w), action="explode"),
        "“action”",
    ),
    "an invalid role on the users page": (
        lambda w, a: _post(
            a, f"/admin/users/{w.arguments['user_id']}", role="overlord", active="0"
        ),
        "“role” must be one of librarian, editor, admin",
    ),
    "an invalid role for a new account": (
        lambda w, a: _post(
            a, "/admin/users", email="new@staff.example.org", role="root", password="x" * 20
        ),
        "“role”",
    ),
    "a bulk placement too large": (
        lambda w, a: _post(a, "/items/bulk", placement=str(2**63), action="accepted"),
        "“placement”",
    ),
    "a topic to merge into that is too large": (
        lambda w, a: _post(
            a, f"/admin/topics/{w.arguments['topic_id']}", action="merge", into=str(10**30)
        ),
        "“into”",
    ),
    "a topic chosen in the preference centre that is not a number": (
        lambda w, a: _post(w.site.app.test_client(), f"/p/{w.reader}", topic="1e3"),
        "“topic”",
    ),
    "a NUL in the sign-up name": (
        lambda w, a: _post(
            w.site.app.test_client(),
            "/subscribe/caspar",
            email="nul@example.org",
            name="Ann\x00",
            consent="yes",
        ),
        "“name” in the form contains a NUL character",
    ),
    "a NUL in the lost-link address": (
        lambda w, a: _post(w.site.app.test_client(), "/preferences", email="reader\x00@x.org"),
        "“email” in the form contains a NUL character",
    ),
    "a NUL in the subscriber search": (
        lambda w, a: a.get("/subscribers?q=a%00b"),
        "“q” in the query string contains a NUL character",
    ),
    "a NUL in an address": (
        lambda w, a: a.get("/archive/cas%00par"),
        "“slug” in the address contains a NUL character",
    ),
    "a topic slug longer than its column": (
        lambda w, a: _post(a, "/admin/topics", slug="s" * 65, label="Long"),
        "at most 64 characters",
    ),
}


def test_bad_input_is_refused_naming_the_field(world: World, admin: FlaskClient) -> None:
    for case, (send, named) in REFUSED.items():
        before, sent = world.state(), world.sent()
        response = send(world, admin)
        assert response.status_code == 400, case
        assert named in response.text.replace("&#34;", '"').replace("&#39;", "'"), case
        assert world.state() == before, case
        assert world.sent() == sent, case
