"""Staff accounts under hostile or careless use: malformed sign-ins, sessions that end, sign-in
throttling that cannot lock a person out from elsewhere, and what admins can undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from webapp import PASSWORD, STAFF, Site, csrf_token, make_site, sign_in

from digest.cli import cli
from digest.db import transaction
from digest.models import LoginFailure, Role, User, WebSession
from digest.timeutil import utcnow
from digest.web.security import SessionLimits, SettingError


@pytest.fixture
def site(factory) -> Site:
    return make_site(factory)


def _failures(site: Site) -> int:
    with site.factory() as session:
        return session.scalar(select(func.count()).select_from(LoginFailure))


@pytest.mark.parametrize(
    "email",
    [
        "x" * 330 + "@staff.example.org",
        "admin\x00@staff.example.org",
        "admin@staff.example.org\r\nBcc: someone@example.org",
        "é" * 400_000,
        "",
    ],
    ids=["over-320", "nul", "line-break", "huge", "empty"],
)
def test_a_malformed_email_gets_the_usual_answer_and_is_not_counted(site: Site, email: str) -> None:
    client = site.app.test_client()
    response = sign_in(client, email, PASSWORD)
    assert response.status_code == 401
    assert "That email address and password do not match." in response.text
    assert len(response.data) < 20_000  # the input is not echoed back at length
    assert _failures(site) == 0
    # ...and it costs the real account nothing.
    assert sign_in(client, STAFF[Role.ADMIN], PASSWORD).status_code == 302


def _signed_in_cookie(site: Site, role: Role) -> str:
    return site.client(role).get_cookie("digest_session").value


def _with_cookie(site: Site, cookie: str):
    client = site.app.test_client()
    client.set_cookie("digest_session", cookie)
    return client


def _user_id(site: Site, role: Role) -> int:
    with site.factory() as session:
        return session.scalar(select(User.id).where(User.email == STAFF[role]))


def test_a_cookie_saved_before_a_disable_is_worthless_after_re_enabling(site: Site) -> None:
    saved = _signed_in_cookie(site, Role.LIBRARIAN)
    assert _with_cookie(site, saved).get("/").status_code == 200
    admin = site.client(Role.ADMIN)
    path = f"/admin/users/{_user_id(site, Role.LIBRARIAN)}"
    for active in ("0", "1"):
        admin.post(path, data={"active": active, "csrf_token": csrf_token(admin, "/")})
    with site.factory() as session:
        assert session.scalar(select(User.active).where(User.email == STAFF[Role.LIBRARIAN]))
        assert (
            session.scalar(
                select(func.count())
                .select_from(WebSession)
                .join(User)
                .where(User.email == STAFF[Role.LIBRARIAN])
            )
            == 0
        )
    assert _with_cookie(site, saved).get("/").status_code == 302
    # Signing in afresh works.
    assert sign_in(site.app.test_client(), STAFF[Role.LIBRARIAN], PASSWORD).status_code == 302


def test_disabling_from_the_command_line_ends_sessions_too(site: Site) -> None:
    saved = _signed_in_cookie(site, Role.EDITOR)
    url = site.factory.kw["bind"].url.render_as_string(hide_password=False)
    for command in ("disable", "enable"):
        result = CliRunner().invoke(cli, ["--db", url, "users", command, STAFF[Role.EDITOR]])
        assert result.exit_code == 0, result.output
    assert _with_cookie(site, saved).get("/").status_code == 302


def _age_sessions(site: Site, **times: datetime) -> None:
    with transaction(site.factory) as session:
        session.execute(update(WebSession).values(**times))


def _sessions(site: Site) -> int:
    with site.factory() as session:
        return session.scalar(select(func.count()).select_from(WebSession))


@pytest.mark.parametrize(
    "times",
    [
        {"last_seen_at": datetime(2024, 3, 1, tzinfo=UTC)},
        {"last_seen_at": utcnow() - timedelta(hours=8, minutes=1)},
        {"created_at": utcnow() - timedelta(days=7, minutes=1)},
    ],
    ids=["last-seen-in-2024", "idle-over-8-hours", "signed-in-over-7-days-ago"],
)
def test_a_session_past_its_limits_ends_and_says_so(site: Site, times) -> None:
    client = site.client(Role.EDITOR)
    _age_sessions(site, **times)
    response = client.get("/editions")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "your session had ended" in client.get(response.headers["Location"]).text
    assert _sessions(site) == 0
    assert client.get("/editions").status_code == 302  # the cookie stays worthless


def test_a_session_in_use_lives_on_and_is_kept_current(site: Site) -> None:
    client = site.client(Role.EDITOR)
    _age_sessions(
        site,
        created_at=utcnow() - timedelta(days=6),
        last_seen_at=utcnow() - timedelta(hours=7),
    )
    assert client.get("/editions").status_code == 200
    with site.factory() as session:
        row = session.scalars(select(WebSession)).one()
        assert utcnow() - row.last_seen_at < timedelta(minutes=1)


def test_session_limits_come_from_the_environment(factory, monkeypatch) -> None:
    monkeypatch.setenv("DIGEST_SESSION_IDLE_MINUTES", "5")
    monkeypatch.setenv("DIGEST_SESSION_MAX_HOURS", "1")
    site = make_site(factory)
    client = site.client(Role.EDITOR)
    _age_sessions(site, last_seen_at=utcnow() - timedelta(minutes=6))
    assert client.get("/editions").status_code == 302
    client = site.client(Role.EDITOR)
    _age_sessions(site, created_at=utcnow() - timedelta(minutes=61))
    assert client.get("/editions").status_code == 302
    for name, value in (
        ("DIGEST_SESSION_IDLE_MINUTES", "0"),
        ("DIGEST_SESSION_MAX_HOURS", "a week"),
    ):
        with monkeypatch.context() as bad:
            bad.setenv(name, value)
            with pytest.raises(SettingError, match=f"{name} must be a whole number"):
                SessionLimits.from_env()


def test_the_command_line_names_a_bad_session_setting(factory, monkeypatch) -> None:
    monkeypatch.setenv("DIGEST_SESSION_IDLE_MINUTES", "-5")
    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, ["--db", url, "serve", "--port", "1"])
    assert result.exit_code == 2
    assert "DIGEST_SESSION_IDLE_MINUTES must be a whole number above 0, not '-5'" in result.output


def test_signing_in_forgets_everyone_s_expired_sessions(site: Site) -> None:
    site.client(Role.LIBRARIAN)
    site.client(Role.EDITOR)
    _age_sessions(site, last_seen_at=utcnow() - timedelta(days=30))
    site.client(Role.ADMIN)
    assert _sessions(site) == 1
