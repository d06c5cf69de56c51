"""Who may open what, and the protections every page has: CSRF, sessions, XSS (sign-in
throttling and session limits: test_staff_accounts.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from webapp import PASSWORD, STAFF, Site, add_items, csrf_token, entry, make_site, sign_in

from digest.models import AuditEntry, Feed, Item, ItemStatus, Placement, Role, Topic, User
from digest.settings import read_settings
from digest.web import create_app

PUBLIC = "public"
# The access each route must have. Written out by hand, so that a route added without a
# decision here fails the first test, and a route whose decorator changes fails the second.
EXPECTED = {
    "static": PUBLIC,
    "healthz": PUBLIC,
    "auth.login": PUBLIC,
    "auth.forgot_password": PUBLIC,
    "auth.reset_password": PUBLIC,
    "public.unsubscribe": PUBLIC,
    "public.preferences": PUBLIC,
    "public.subscribe": PUBLIC,
    "public.subscribe_embedded": PUBLIC,
    "public.embed_snippet": PUBLIC,
    "public.confirm": PUBLIC,
    "public.lost_link": PUBLIC,
    "public.archive": PUBLIC,
    "public.archived_edition": PUBLIC,
    "public.archived_items": PUBLIC,
    "public.editions_feed": PUBLIC,
    "public.topic_feed": PUBLIC,
    "public.theme": PUBLIC,
    "auth.logout": Role.LIBRARIAN,
    "auth.signed_in": Role.LIBRARIAN,
    "auth.change_password": Role.LIBRARIAN,
    "dashboard.home": Role.LIBRARIAN,
    "triage.inbox": Role.LIBRARIAN,
    "triage.item": Role.LIBRARIAN,
    "triage.add_item": Role.LIBRARIAN,
    "triage.set_status": Role.LIBRARIAN,
    "triage.place": Role.LIBRARIAN,
    "triage.set_topics": Role.LIBRARIAN,
    "triage.add_topic": Role.LIBRARIAN,
    "triage.edit": Role.LIBRARIAN,
    "triage.confirm_suggestion": Role.LIBRARIAN,
    "triage.dismiss_suggestion": Role.LIBRARIAN,
    "triage.bulk": Role.LIBRARIAN,
    "triage.offer": Role.LIBRARIAN,
    "research.look_up": Role.LIBRARIAN,
    "research.correct": Role.LIBRARIAN,
    "duplicates.index": Role.LIBRARIAN,
    "duplicates.compare": Role.LIBRARIAN,
    "duplicates.merge": Role.LIBRARIAN,
    "duplicates.different": Role.LIBRARIAN,
    "duplicates.split": Role.LIBRARIAN,
    "duplicates.merge_into": Role.LIBRARIAN,
    "editions.index": Role.EDITOR,
    "subscribers.index": Role.EDITOR,
    "subscribers.add": Role.EDITOR,
    "subscribers.export": Role.EDITOR,
    "subscribers.upload": Role.EDITOR,
    "subscribers.preview": Role.EDITOR,
    "subscribers.apply": Role.EDITOR,
    "subscribers.show": Role.EDITOR,
    "subscribers.unsubscribe": Role.EDITOR,
    "subscribers.erase": Role.ADMIN,
    "editions.build": Role.EDITOR,
    "editions.edit": Role.EDITOR,
    "editions.set_text": Role.EDITOR,
    "editions.change_items": Role.EDITOR,
    "editions.set_state": Role.EDITOR,
    "editions.preview": Role.EDITOR,
    "editions.send_test": Role.EDITOR,
    "editions.progress": Role.EDITOR,
    "editions.export_items": Role.EDITOR,
    "outbox.index": Role.LIBRARIAN,
    "outbox.message": Role.LIBRARIAN,
    "admin.feeds": Role.ADMIN,
    "admin.pause": Role.ADMIN,
    "admin.resume": Role.ADMIN,
    "admin.poll_now": Role.ADMIN,
    "admin.delete": Role.ADMIN,
    "admin.add_feed": Role.ADMIN,
    "admin.edit_feed": Role.ADMIN,
    "admin.import_feeds": Role.ADMIN,
    "admin.topics": Role.ADMIN,
    "admin.update_topic": Role.ADMIN,
    "admin.users": Role.ADMIN,
    "admin.update_user": Role.ADMIN,
    "admin.audit_log": Role.ADMIN,
}


@pytest.fixture
def site(factory) -> Site:
    site = make_site(factory)
    add_items(factory, [entry("A report on neglect", "https://example.org/neglect")])
    return site


def test_every_route_has_a_decided_access(site: Site) -> None:
    assert set(site.app.view_functions) == set(EXPECTED)


def _arguments(site: Site) -> dict[str, object]:
    with site.factory() as session:
        return {
            "item_id": session.scalar(select(Item.id)),
            "placement_id": session.scalar(select(Placement.id)),
            "pair_id": 1,
            "feed_id": session.scalar(select(Feed.id)),
            "user_id": session.scalar(select(User.id).where(User.email == STAFF[Role.LIBRARIAN])),
            "filename": "app.css",
            "token": "not-a-valid-token",
            "slug": "caspar",
            "edition_id": 1,
            "subscriber_id": 1,
            "key": "no-such-message",
            "topic_id": session.scalar(select(Topic.id)),
            "fmt": "ris",
        }


def _state(site: Site) -> tuple[object, ...]:
    with site.factory() as session:
        return (
            session.scalar(select(func.count()).select_from(AuditEntry)),
            tuple(session.scalars(select(Placement.status))),
            tuple(session.scalars(select(Feed.paused))),
        )


@pytest.mark.parametrize("role", [None, *Role], ids=["anonymous", *[r.value for r in Role]])
def test_role_by_route_matrix(site: Site, role: Role | None) -> None:
    arguments = _arguments(site)
    for rule in site.app.url_map.iter_rules():
        needed = EXPECTED[rule.endpoint]
        path = rule.build({k: v for k, v in arguments.items() if k in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            client = site.client(role)
            data = {"csrf_token": csrf_token(client)} if method == "POST" else None
            before = _state(site)
            response = client.open(path, method=method, data=data)
            where = f"{method} {path} as {role.value if role else 'anonymous'}"
            if needed == PUBLIC:  # (signing in with no password is a plain 401)
                assert response.status_code != 403 and response.status_code < 500, where
            elif role is not None and role.allows(needed):
                assert response.status_code not in (401, 403), where
                assert response.status_code < 500, where
            elif role is None:
                expected = 302 if method == "GET" else 401
                assert response.status_code == expected, where
                if method == "GET":
                    assert response.headers["Location"].startswith("/login?next=")
                assert _state(site) == before, where
            else:
                assert response.status_code == 403, where
                assert "Your role does not allow this." in response.text
                assert _state(site) == before, where


def test_post_without_csrf_token_is_refused_and_changes_nothing(site: Site) -> None:
    client = site.client(Role.ADMIN)
    placement_id = _arguments(site)["placement_id"]
    before = _state(site)
    response = client.post(f"/placements/{placement_id}/status", data={"status": "accepted"})
    assert response.status_code == 400
    assert "did not come from this site" in response.text
    forged = client.post(
        f"/placements/{placement_id}/status", data={"status": "accepted", "csrf_token": "forged"}
    )
    assert forged.status_code == 400
    assert _state(site) == before
    login = site.app.test_client().post(
        "/login", data={"email": STAFF[Role.ADMIN], "password": PASSWORD}
    )
    assert login.status_code == 400


def test_sign_in_starts_a_new_session_and_sign_out_ends_it(site: Site) -> None:
    client = site.app.test_client()
    client.get("/login")
    cookie_before = client.get_cookie("digest_session")
    assert sign_in(client, STAFF[Role.LIBRARIAN], PASSWORD).status_code == 302
    cookie_after = client.get_cookie("digest_session")
    assert cookie_after.value != (cookie_before.value if cookie_before else None)
    assert cookie_after.http_only and cookie_after.same_site == "Lax"

    # A browser holding the pre-sign-in cookie is still a stranger.
    stranger = site.app.test_client()
    if cookie_before:
        stranger.set_cookie("digest_session", cookie_before.value)
    assert stranger.get("/").status_code == 302

    # After signing out, a copy of the signed-in cookie is worthless too.
    thief = site.app.test_client()
    thief.set_cookie("digest_session", cookie_after.value)
    assert thief.get("/").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert thief.get("/").status_code == 302


def test_disabling_an_account_ends_its_sessions(site: Site) -> None:
    librarian = site.client(Role.LIBRARIAN)
    admin = site.client(Role.ADMIN)
    user_id = _arguments(site)["user_id"]
    admin.post(
        f"/admin/users/{user_id}",
        data={"active": "0", "confirmed": "yes", "csrf_token": csrf_token(admin, "/")},
    )
    assert librarian.get("/").status_code == 302
    assert sign_in(site.app.test_client(), STAFF[Role.LIBRARIAN], PASSWORD).status_code == 401


def test_wrong_and_unknown_addresses_get_the_same_answer(site: Site) -> None:
    wrong = sign_in(site.app.test_client(), STAFF[Role.ADMIN], "not the password")
    unknown = sign_in(site.app.test_client(), "nobody@staff.example.org", "not the password")
    assert (wrong.status_code, unknown.status_code) == (401, 401)
    assert "do not match" in wrong.text and "do not match" in unknown.text


def test_sign_in_never_redirects_to_another_site(site: Site) -> None:
    client = site.app.test_client()
    response = client.post(
        "/login",
        data={
            "email": STAFF[Role.ADMIN],
            "password": PASSWORD,
            "next": "//evil.example/x",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.headers["Location"] == "/"


def test_security_headers_on_every_page(site: Site) -> None:
    for path in ("/login", "/healthz"):
        headers = site.app.test_client().get(path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_script_in_a_title_is_shown_inert_everywhere(site: Site) -> None:
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    (item_id,) = add_items(
        site.factory, [entry("Harmless", "https://example.org/x", summary=f"<p>{payload}</p>")]
    )
    client = site.client(Role.ADMIN)
    client.post(
        f"/items/{item_id}/edit",
        data={
            "title": f"Report {payload}",
            "summary_html": f"<p>ok {payload}</p>",
            "csrf_token": csrf_token(client, "/"),
        },
    )
    with site.factory() as session:
        assert session.get(Item, item_id).title.startswith("Report <img")
    for path in (
        "/items?status=all",
        f"/items/{item_id}",
        "/admin/audit",
        "/",
        "/items?status=all&q=Report",
    ):
        page = client.get(path).text
        assert "<script>alert" not in page and "<img src=x onerror" not in page, path
        assert 'onerror="alert' not in page, path
    assert "Report &lt;img src=x onerror=" in client.get(f"/items/{item_id}").text


def test_healthz_reports_an_unreachable_database() -> None:
    nowhere = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    app = create_app(read_settings({}, database_url=nowhere, secret_key="x"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_healthz_ok(site: Site) -> None:
    assert site.app.test_client().get("/healthz").status_code == 200


def test_librarian_cannot_change_items_status_to_nonsense(site: Site) -> None:
    client = site.client(Role.LIBRARIAN)
    placement_id = _arguments(site)["placement_id"]
    response = client.post(
        f"/placements/{placement_id}/status",
        data={"status": "published", "csrf_token": csrf_token(client, "/")},
    )
    assert response.status_code == 400
    with site.factory() as session:
        assert session.get(Placement, placement_id).status is ItemStatus.NEW


def test_change_password_signs_out_other_browsers(site: Site) -> None:
    first, second = site.client(Role.EDITOR), site.client(Role.EDITOR)
    new = "another long password"
    mismatch = first.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": new,
            "confirm_password": "different",
            "csrf_token": csrf_token(first, "/"),
        },
    )
    assert mismatch.status_code == 400 and "The two new passwords differ." in mismatch.text
    short = first.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "short",
            "confirm_password": "short",
            "csrf_token": csrf_token(first, "/"),
        },
    )
    assert "at least 12 characters" in short.text
    changed = first.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": new,
            "confirm_password": new,
            "csrf_token": csrf_token(first, "/"),
        },
    )
    assert changed.status_code == 302
    assert first.get("/").status_code == 200
    assert second.get("/").status_code == 302
    assert sign_in(site.app.test_client(), STAFF[Role.EDITOR], PASSWORD).status_code == 401
    assert sign_in(site.app.test_client(), STAFF[Role.EDITOR], new).status_code == 302
