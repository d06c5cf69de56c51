"""The audit log page: each change read field by field (old → new, added and removed marked,
long values shortened with all of it a click away, everything escaped), filtered by who, what
kind of object and which action, a page at a time."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from webapp import Site, make_site

from digest import audit
from digest.audit import Change, ChangeKind, changes
from digest.db import transaction
from digest.models import AuditEntry, Role
from digest.timeutil import utcnow


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (
            {"label": "Neglect"},
            {"label": "Child neglect"},
            [("label", "changed", "Neglect", "Child neglect")],
        ),
        (None, {"slug": "neglect"}, [("slug", "added", "", "neglect")]),
        ({"slug": "neglect"}, None, [("slug", "removed", "neglect", "")]),
        (
            {"paused": False, "note": "x"},
            {"paused": True, "note": "x"},
            [("paused", "changed", "no", "yes")],
        ),
        ({"reason": None}, {"reason": "Gone"}, [("reason", "changed", "none", "Gone")]),
        ({}, {}, []),
    ],
    ids=["changed", "added", "removed", "yes-no-and-unchanged-left-out", "none", "nothing"],
)
def test_changes_read_field_by_field(before, after, expected) -> None:
    found = [(c.field, c.kind.value, c.old, c.new) for c in changes(before, after)]
    assert found == expected


def test_a_list_says_which_members_came_and_went() -> None:
    (change,) = changes(
        {"topics": ["neglect", "online-abuse"]}, {"topics": ["online-abuse", "sextortion"]}
    )
    assert change == Change(
        "topics",
        ChangeKind.CHANGED,
        old="neglect, online-abuse",
        new="online-abuse, sextortion",
        gained=("sextortion",),
        lost=("neglect",),
    )


def _record(site: Site, **fields) -> None:
    with transaction(site.factory) as session:
        audit.record(session, **fields)


def _rows(page: str) -> list[str]:
    return re.findall(r"<tr><td>.*?</tr>", page, re.S)


def test_the_page_escapes_values_and_shows_no_json(site: Site) -> None:
    _record(
        site,
        actor="ad@staff.example.org",
        action=audit.Action.ITEM_EDIT,
        object_type=audit.ObjectType.ITEM,
        object_id=1,
        summary="<b>bold</b>",
        before={"title": "<script>alert(1)</script> — “Café”"},
        after={"title": "Safe — ’é 東京 🎉"},
    )
    page = site.client(Role.ADMIN).get("/admin/audit").text
    assert "<script>alert(1)" not in page and "\\u003c" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; — “Café”" in page
    assert "Safe — ’é 東京 🎉" in page
    assert '<span class="audit-field">title</span>' in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    assert '{"title"' not in page and "{&#34;title" not in page


def test_a_long_value_is_shortened_with_all_of_it_behind_show_all(site: Site) -> None:
    long = "word " * 100
    _record(
        site,
        actor="ad@staff.example.org",
        action=audit.Action.ITEM_EDIT,
        object_type=audit.ObjectType.ITEM,
        object_id=1,
        after={"summary": long},
    )
    page = site.client(Role.ADMIN).get("/admin/audit").text
    shortened = re.search(
        r"<details class=\"long-value\"><summary>(.*?)</summary><div>(.*?)</div>", page, re.S
    )
    assert shortened and "Show all" in shortened[1] and shortened[2] == long
    assert len(shortened[1]) < 250


def _many(site: Site) -> None:
    now = utcnow()
    with transaction(site.factory) as session:
        for n in range(5):
            for actor, action, kind in (
                ("ed@staff.example.org", audit.Action.EDITION_APPROVE, audit.ObjectType.EDITION),
                ("ad@staff.example.org", "subscriber.edit", audit.ObjectType.SUBSCRIBER),
                ("lib@staff.example.org", audit.Action.ITEM_EDIT, audit.ObjectType.ITEM),
            ):
                session.add(
                    AuditEntry(
                        at=now - timedelta(minutes=n),
                        actor=actor,
                        action=str(action),
                        object_type=kind.value,
                        object_id=str(n),
                        summary=f"{kind.value} {n}",
                    )
                )


@pytest.mark.parametrize(
    ("query", "count", "only"),
    [
        ("object=edition", 5, "edition.approve"),
        ("object=subscriber", 5, "subscriber.edit"),
        ("action=edition.", 5, "edition.approve"),
        ("actor=lib%40staff.example.org", 5, "item.edit"),
        ("object=edition&actor=lib%40staff.example.org", 0, None),
        # An unknown kind filters nothing out (the staff accounts' creation is logged too).
        ("object=nonsense", 15 + len(Role), None),
    ],
    ids=["editions", "subscribers", "action-prefix", "actor", "none-match", "unknown-kind"],
)
def test_filters(site: Site, query: str, count: int, only: str | None) -> None:
    _many(site)
    page = site.client(Role.ADMIN).get(f"/admin/audit?{query}").text
    rows = _rows(page)
    assert len(rows) == count
    if only:
        assert all(f"<td>{only}</td>" in row for row in rows)
    if not count:
        assert "No changes match." in page


def test_the_filters_offer_editions_and_subscribers(site: Site) -> None:
    page = site.client(Role.ADMIN).get("/admin/audit").text
    for kind in ("edition", "subscriber"):
        assert f'<option value="{kind}" >{kind}</option>' in page
        assert f'<option value="{kind}." >any {kind} action</option>' in page


def test_pages_of_the_log_follow_one_another_and_keep_the_filters(site: Site, monkeypatch) -> None:
    monkeypatch.setattr("digest.web.admin.auditlog.AUDIT_PAGE", 2)
    _many(site)
    client = site.client(Role.ADMIN)
    seen: list[str] = []
    path = "/admin/audit?object=edition"
    while path:
        page = client.get(path).text
        seen += [re.search(r"edition (\d)", row)[1] for row in _rows(page)]
        older = re.search(r'<a href="([^"]+)">Older changes</a>', page)
        path = older[1].replace("&amp;", "&") if older else ""
        if older:
            assert "object=edition" in path
    assert seen == ["0", "1", "2", "3", "4"]
