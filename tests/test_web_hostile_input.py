"""No input is a 500: every route answers hostile values with a 4xx and a message, or works.

Each route is walked from the URL map. What it reads (path parameters, query string, form
fields) is found by watching it answer ordinary requests, then each of those is given, one at
a time, a table of hostile values: numbers too large for any database, numbers that are not,
NUL characters, full-text search operators, underscores, quotes, long text and text in many
scripts. Hypothesis then throws values of its own. A route added later is walked too.
"""

from __future__ import annotations

import itertools
import re
from typing import ClassVar
from urllib.parse import quote

import pytest
from flask import Request
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from webapp import PASSWORD, csrf_token
from webworld import World, make_world
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from digest.models import Newsletter, Role, Section, Topic
from digest.web.inputs import DATABASE_INT_MAX
from digest.web.security import PUBLIC, access_of

# One of each kind of trouble, given to every field and address parameter: numbers past
# PostgreSQL's integer and SQLite's 64 bits, numbers that are not, NUL, what FTS5 reads as a
# phrase or an operator, a letter SQLite's tokenizer splits words at, text in many scripts,
# and a long text.
HOSTILE = [
    str(DATABASE_INT_MAX + 1),
    str(2**64),
    "9" * 5000,
    "-1",
    "abc",
    "1.5",
    "",
    "²",
    "\x00",
    'foo_bar "NEAR(a b)',
    "a\u19b0b",
    "ŵ—’é 東京 😀",
    "x" * 20_000,
]
# More for the search boxes: each of FTS5's and tsquery's operators and quotes.
SEARCH = [
    "snake_case_word",
    '"',
    'unbalanced "quote',
    "AND",
    "a OR b",
    "NOT a",
    "NEAR(a b, 2)",
    "a*",
    "^a",
    "title:x",
    "(a",
    "a)",
    "a-b",
    "'",
    "\\",
    "%_",
    "a & b | !c <-> d",
    "e\u0301",
]
SEARCH_FIELDS = {"q"}
PATH_VALUES = ["0", "-1", str(DATABASE_INT_MAX + 1), str(2**64), "abc", "1.5", "١٢", "\x00"]
PATH_VALUES += ["x" * 3000, "ŵ東京😀", "%"]
# Routes not walked, with the reason.
SKIPPED = {"auth.logout": "ends the walking browser's session; reads nothing"}


class _Watched(ImmutableMultiDict):
    """Query strings and forms that note which fields the view reads."""

    read: ClassVar[set[str]] = set()

    def __getitem__(self, key):  # type: ignore[no-untyped-def]
        _Watched.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        _Watched.read.add(str(key))
        return super().__contains__(key)

    def get(self, key, default=None, type=None):  # type: ignore[no-untyped-def]
        _Watched.read.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):  # type: ignore[no-untyped-def]
        _Watched.read.add(key)
        return super().getlist(key, type)


class _WatchedRequest(Request):
    parameter_storage_class = _Watched


@pytest.fixture
def world(factory, tmp_path) -> World:
    world = make_world(factory, tmp_path)
    world.site.app.request_class = _WatchedRequest
    return world


def _ordinary(world: World) -> list[dict[str, object]]:
    """Forms that reach each view's deeper branches: slugs and names in one, ids in the
    other (the same field name means one or the other on different pages)."""
    with world.site.factory() as session:
        caspar = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        section = session.scalar(select(Section).where(Section.newsletter_id == caspar.id))
        topic = session.scalar(select(Topic.id).where(Topic.slug == "neglect"))
    common = {
        "email": "someone@example.org",
        "name": "Someone",
        "password": PASSWORD,
        "current_password": PASSWORD,
        "new_password": PASSWORD,
        "confirm_password": PASSWORD,
        "consent": "yes",
        "source": "a form at a conference",
        "slug": "a-new-topic",
        "label": "A new topic",
        "keywords": "one, two",
        "url": "http://127.0.0.1:9/page",
        "title": "A title",
        "summary": "A summary.",
        "summary_html": "<p>A summary.</p>",
        "subject": "A subject",
        "intro": "An introduction.",
        "authors": "Jütte, Sonja",
        "topic": str(topic),
        "topics": "neglect",
        "item": str(world.arguments["item_id"]),
        "placement": str(world.arguments["placement_id"]),
        "keep": str(world.arguments["item_id"]),
        "other": str(world.arguments["item_id"]),
        "into": str(topic),
        "parent": str(topic),
        "position": "1",
        "status": "accepted",
        "role": "editor",
        "active": "1",
        "paused": "on",
        "poll_interval": "2h",
        "since": "2026-01-01",
        "until": "2027-01-01",
        "q": "report",
        "page": "1",
        "format": "text",
        "actor": "someone",
        "object": "item",
    }
    by_slug = {**common, "newsletter": "new-in-the-library", "section": section.name}
    by_id = {**common, "newsletter": str(caspar.id), "section": str(section.id)}
    return [by_slug, by_id]


ACTIONS = {
    "public.preferences": ["", "unsubscribe", "resubscribe", "join"],
    "triage.add_item": ["fetch", "add"],
    "triage.bulk": ["accepted", "tag"],
    "admin.update_topic": ["rename", "merge"],
    "editions.change_items": ["move", "up", "add"],
    "editions.set_state": ["unapprove"],
}


def _path(rule: Rule, values: dict[str, object]) -> str:
    """The rule's address with these values, as given: no converter checks them first."""
    return re.sub(r"<(?:[^<>:]+:)?(\w+)>", lambda m: quote(str(values[m[1]]), safe=""), rule.rule)


class Walker:
    """Sends requests to one route, as someone allowed to open it."""

    addresses = (f"198.51.100.{n}" for n in itertools.cycle(range(1, 255)))

    def __init__(self, world: World, admin: FlaskClient, admin_token: str) -> None:
        self.world, self.admin, self.admin_token = world, admin, admin_token

    def send(
        self, rule: Rule, method: str, path: dict[str, object], fields: dict[str, object]
    ) -> TestResponse:
        if access_of(self.world.site.app, rule.endpoint) == PUBLIC:
            browser = self.world.site.app.test_client()
            token = csrf_token(browser)
        else:
            browser, token = self.admin, self.admin_token
        # A new address each time: sign-up and sign-in limits would hide what lies behind them.
        environ = {"REMOTE_ADDR": next(self.addresses)}
        url = _path(rule, path)
        if method == "GET":
            return browser.get(url, query_string=fields, environ_overrides=environ)
        return browser.post(url, data={**fields, "csrf_token": token}, environ_overrides=environ)


def _valid_path(world: World, rule: Rule) -> dict[str, object]:
    return {
        name: world.by_route.get((rule.endpoint, name), world.arguments.get(name))
        for name in rule.arguments
    }


Target = tuple[Rule, str, dict[str, object], str]


def _targets(world: World, walker: Walker, failures: list[str]) -> list[Target]:
    """(rule, method, an ordinary form for it, a field it reads), found by sending each route
    ordinary requests and watching what it reads. A 500 on the way is added to `failures`."""
    forms, targets = _ordinary(world), []
    for rule in world.site.app.url_map.iter_rules():
        if rule.endpoint in SKIPPED:
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            found: dict[str, dict[str, object]] = {}
            for form, action in itertools.product(forms, ACTIONS.get(rule.endpoint, [None])):
                fields = dict(form) if action is None else {**form, "action": action}
                _Watched.read = set()
                response = walker.send(rule, method, _valid_path(world, rule), fields)
                if response.status_code >= 500:
                    failures.append(f"{method} {rule.rule} with an ordinary form (action {action})")
                for name in _Watched.read - {"csrf_token"} - found.keys():
                    found[name] = fields
            targets += [(rule, method, fields, name) for name, fields in found.items()]
    return targets


def test_no_hostile_value_in_any_field_is_a_500(world: World) -> None:
    """Every hostile value in every field each route reads."""
    walker = _walker(world)
    failures: list[str] = []
    for rule, method, fields, name in _targets(world, walker, failures):
        for value in HOSTILE + (SEARCH if name in SEARCH_FIELDS else []):
            response = walker.send(rule, method, _valid_path(world, rule), {**fields, name: value})
            if response.status_code >= 500:
                failures.append(f"{method} {rule.rule} {name}={value[:30]!r}")
    assert not failures, "\n".join(failures)


def test_no_hostile_value_in_any_address_is_a_500(world: World) -> None:
    """Every hostile value in every parameter of every route's address."""
    walker = _walker(world)
    failures: list[str] = []
    for rule in world.site.app.url_map.iter_rules():
        if rule.endpoint in SKIPPED:
            continue
        for method, parameter in itertools.product(
            sorted(rule.methods & {"GET", "POST"}), rule.arguments
        ):
            for value in PATH_VALUES:
                path = {**_valid_path(world, rule), parameter: value}
                response = walker.send(rule, method, path, {})
                if response.status_code >= 500:
                    failures.append(f"{method} {rule.rule} <{parameter}>={value[:30]!r}")
    assert not failures, "\n".join(failures)


def _walker(world: World) -> Walker:
    admin = world.site.client(Role.ADMIN)
    return Walker(world, admin, csrf_token(admin))


# What Hypothesis throws: any number, any text, and search words mixed with operators.
hostile = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.lists(st.sampled_from([*SEARCH, *HOSTILE[:8], "report", "é", "東京"]), max_size=6).map(
        " ".join
    ),
)


def test_values_hypothesis_finds_are_no_500_either(world: World) -> None:
    walker = _walker(world)
    failures: list[str] = []
    targets = _targets(world, walker, failures)
    assert not failures, "\n".join(failures)
    paths = [
        (rule, method, parameter)
        for rule in world.site.app.url_map.iter_rules()
        if rule.endpoint not in SKIPPED
        for method in sorted(rule.methods & {"GET", "POST"})
        for parameter in rule.arguments
    ]

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(targets), st.sampled_from(paths), hostile)
    def throw(target, in_path, value: str) -> None:  # type: ignore[no-untyped-def]
        rule, method, fields, name = target
        answer = walker.send(rule, method, _valid_path(world, rule), {**fields, name: value})
        assert answer.status_code < 500, f"{method} {rule.rule} {name}={value!r}"
        rule, method, parameter = in_path
        path = {**_valid_path(world, rule), parameter: value}
        answer = walker.send(rule, method, path, {})
        assert answer.status_code < 500, f"{method} {rule.rule} <{parameter}>={value!r}"

    throw()
