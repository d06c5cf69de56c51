"""Staff accounts under hostile or careless use: malformed sign-ins, sessions that end, sign-in
throttling that cannot lock a person out from elsewhere, and what admins can undo."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update
from webapp import PASSWORD, STAFF, Site, csrf_token, make_site, sign_in

from digest.accounts import throttle
from digest.cli import cli
from digest.db import transaction
from digest.models import AuditEntry, LoginFailure, Role, User, WebSession
from digest.settings import SettingError, read_settings
from digest.timeutil import utcnow


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
    if "\x00" in email:  # refused before any view, like a NUL in any form
        assert response.status_code == 400
        assert "contains a NUL character" in response.text
    else:
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
        data = {"active": active, "confirmed": "yes", "csrf_token": csrf_token(admin, "/")}
        admin.post(path, data=data)
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


def test_session_limits_come_from_the_environment(factory) -> None:
    env = {"DIGEST_SESSION_IDLE_MINUTES": "5", "DIGEST_SESSION_MAX_HOURS": "1"}
    site = make_site(factory, env=env)
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
        with pytest.raises(SettingError, match=f"{name} must be a whole number"):
            read_settings({**env, name: value})


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


WRONG = "not the password at all"
OFFICE, HOME = "198.51.100.7", "203.0.113.20"


def _from(site: Site, address: str):
    client = site.app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _time_passes(site: Site, seconds: float) -> None:
    """Move every recorded failure back in time, as if `seconds` had gone by."""
    with transaction(site.factory) as session:
        for failure in session.scalars(select(LoginFailure)):
            failure.at -= timedelta(seconds=seconds)


def _add_failures(
    site: Site, email: str, address: str, count: int, ago: timedelta = timedelta(0)
) -> None:
    with transaction(site.factory) as session:
        session.add_all(
            LoginFailure(email=email, ip=address, at=utcnow() - ago - timedelta(seconds=n))
            for n in range(count)
        )


def test_typos_slow_down_that_account_from_that_address_only(site: Site) -> None:
    office = _from(site, OFFICE)
    for _ in range(throttle.PAIR_FREE_FAILURES):
        assert sign_in(office, STAFF[Role.EDITOR], WRONG).status_code == 401
    refused = sign_in(office, STAFF[Role.EDITOR], PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed attempts from here. Try again in 1 second." in refused.text
    # Nobody else is held up: the account from home, another account from the office.
    assert sign_in(_from(site, HOME), STAFF[Role.EDITOR], PASSWORD).status_code == 302
    assert sign_in(_from(site, OFFICE), STAFF[Role.ADMIN], PASSWORD).status_code == 302
    # A refused try was neither checked nor counted; after the wait the right password works,
    # and the slate is clean for that pair.
    assert _failures(site) == throttle.PAIR_FREE_FAILURES
    _time_passes(site, 1.1)
    assert sign_in(office, STAFF[Role.EDITOR], PASSWORD).status_code == 302
    assert _failures(site) == 0


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(3, "1 second"), (4, "2 seconds"), (9, "64 seconds"), (10, "3 minutes"), (40, "15 minutes")],
)
def test_the_wait_doubles_with_each_failure_up_to_15_minutes(
    site: Site, failures: int, wait: str
) -> None:
    # Earlier failures whose wait is over: the last one is tried now, and is refused after.
    _add_failures(site, STAFF[Role.EDITOR], OFFICE, failures - 1, ago=throttle.MAX_DELAY)
    assert sign_in(_from(site, OFFICE), STAFF[Role.EDITOR], WRONG).status_code == 401
    refused = sign_in(_from(site, OFFICE), STAFF[Role.EDITOR], PASSWORD)
    assert refused.status_code == 429 and f"Try again in {wait}." in refused.text


def test_failures_are_forgotten_after_a_day(site: Site) -> None:
    _add_failures(site, STAFF[Role.EDITOR], OFFICE, 12)
    assert sign_in(_from(site, OFFICE), STAFF[Role.EDITOR], PASSWORD).status_code == 429
    _time_passes(site, 24 * 3600 + 1)
    assert sign_in(_from(site, OFFICE), STAFF[Role.EDITOR], PASSWORD).status_code == 302


def test_unknown_accounts_are_throttled_alike(site: Site) -> None:
    pages = {}
    for email in (STAFF[Role.ADMIN], "nobody@staff.example.org"):
        client = _from(site, OFFICE)
        for _ in range(throttle.PAIR_FREE_FAILURES):
            sign_in(client, email, WRONG)
        refused = sign_in(client, email, WRONG)
        text = re.sub(r'"[\w.-]{40,}"', "TOKEN", refused.text.replace(email, "EMAIL"))
        pages[email] = (refused.status_code, text)
    (known, unknown) = pages.values()
    assert known[0] == unknown[0] == 429
    assert known[1] == unknown[1]


def test_password_spraying_slows_the_address_down_but_locks_no_account(site: Site) -> None:
    # Two guesses at each of many accounts: never three on one, but too many from one place.
    for n in range(throttle.NETWORK_FREE_FAILURES // 2):
        _add_failures(site, f"person{n}@staff.example.org", OFFICE, 2 if n else 1)
    sprayer = _from(site, OFFICE)
    assert sign_in(sprayer, STAFF[Role.ADMIN], WRONG).status_code == 401
    assert sign_in(sprayer, STAFF[Role.ADMIN], PASSWORD).status_code == 429
    assert sign_in(_from(site, HOME), STAFF[Role.ADMIN], PASSWORD).status_code == 302


def test_an_ipv6_client_is_counted_by_its_network(site: Site) -> None:
    for host in range(1, throttle.PAIR_FREE_FAILURES + 1):
        client = _from(site, f"2001:db8:1:2::{host}")
        assert sign_in(client, STAFF[Role.EDITOR], WRONG).status_code == 401
    same_network = _from(site, "2001:db8:1:2:ffff::9")
    assert sign_in(same_network, STAFF[Role.EDITOR], PASSWORD).status_code == 429
    elsewhere = _from(site, "2001:db8:1:3::1")
    assert sign_in(elsewhere, STAFF[Role.EDITOR], PASSWORD).status_code == 302


def _admin_acts(site: Site, role: Role, action: str, **options: object):
    admin = site.client(Role.ADMIN)
    return admin.post(
        f"/admin/users/{_user_id(site, role)}",
        data={"action": action, "csrf_token": csrf_token(admin, "/")},
        **options,
    )


def _audited(site: Site) -> list[str]:
    with site.factory() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_an_admin_unlocks_an_account_from_the_users_page(site: Site) -> None:
    _add_failures(site, STAFF[Role.EDITOR], OFFICE, 12)
    page = site.client(Role.ADMIN).get("/admin/users").text
    assert "<td>12</td>" in page and 'value="unlock"' in page
    assert page.count("<strong>Locked</strong> until") == 1  # the editor, no one else
    unlocked = _admin_acts(site, Role.EDITOR, "unlock", follow_redirects=True)
    page = unlocked.text
    assert "Unlocked editor@staff.example.org: 12 failed sign-ins forgotten." in page
    assert "<strong>Locked</strong>" not in page
    assert sign_in(_from(site, OFFICE), STAFF[Role.EDITOR], PASSWORD).status_code == 302
    assert _audited(site)[-1] == "user.unlock"


def test_a_few_typos_do_not_show_an_account_as_locked(site: Site) -> None:
    _add_failures(site, STAFF[Role.EDITOR], OFFICE, 2)
    page = site.client(Role.ADMIN).get("/admin/users").text
    assert "<td>2</td>" in page and "<strong>Locked</strong>" not in page


def test_unlock_and_reset_password_from_the_command_line(site: Site) -> None:
    url = site.factory.kw["bind"].url.render_as_string(hide_password=False)

    def run(*args: str, **kwargs):
        return CliRunner().invoke(cli, ["--db", url, "users", *args], **kwargs)

    _add_failures(site, STAFF[Role.EDITOR], OFFICE, 12)
    unlocked = run("unlock", STAFF[Role.EDITOR])
    assert unlocked.exit_code == 0 and "12 failed sign-ins forgotten" in unlocked.output
    assert sign_in(_from(site, OFFICE), STAFF[Role.EDITOR], PASSWORD).status_code == 302
    generated = run("reset-password", STAFF[Role.LIBRARIAN], "--generate")
    assert generated.exit_code == 0, generated.output
    new = re.search(r"One-time password: (\S+)", generated.output)[1]
    assert sign_in(_from(site, HOME), STAFF[Role.LIBRARIAN], new).status_code == 302
    prompted = run("reset-password", STAFF[Role.ADMIN], input="short\nshort\n")
    assert prompted.exit_code == 2 and "at least 12 characters" in prompted.output
    assert run("unlock", "nobody@example.org").exit_code == 2
    assert _audited(site)[-2:] == ["user.unlock", "user.reset_password"]


def test_a_hostile_user_agent_is_stored_cut_down_and_signing_in_works(site: Site) -> None:
    client = site.app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "\x00Evil\r\n" + "A" * 10_000
    assert sign_in(client, STAFF[Role.EDITOR], PASSWORD).status_code == 302
    with site.factory() as session:
        stored = session.scalars(select(WebSession.user_agent)).one()
    assert stored.startswith("EvilAAA") and len(stored) == 500


def test_disabling_asks_first_naming_the_browsers_it_signs_out(site: Site) -> None:
    saved = _signed_in_cookie(site, Role.LIBRARIAN)
    site.client(Role.LIBRARIAN)  # a second browser
    admin = site.client(Role.ADMIN)
    path = f"/admin/users/{_user_id(site, Role.LIBRARIAN)}"
    data = {"active": "0", "csrf_token": csrf_token(admin, "/")}
    asked = admin.post(path, data=data)
    assert asked.status_code == 200
    assert f"Disable {STAFF[Role.LIBRARIAN]}?</h1>" in asked.text
    assert "They are signed out of the 2 browsers they are signed in on" in asked.text
    assert _with_cookie(site, saved).get("/").status_code == 200  # nothing done yet
    done = admin.post(path, data={**data, "confirmed": "yes"}, follow_redirects=True)
    assert f"Disabled {STAFF[Role.LIBRARIAN]}." in done.text
    assert _with_cookie(site, saved).get("/").status_code == 302
    enabled = admin.post(path, data={"active": "1", "csrf_token": data["csrf_token"]})
    assert enabled.status_code == 302  # enabling asks nothing
