"""Behind a reverse proxy: whose address the limits and consent records see, and when the
session cookie is Secure. Forwarded headers are believed only from as many proxies as
DIGEST_TRUSTED_PROXIES says (none by default), since anyone can send them."""

from __future__ import annotations

import pytest
from smtp import smtp_server
from sqlalchemy import select
from webapp import PASSWORD, STAFF, Site, csrf_token, make_site

from digest import formlimits
from digest.models import ConsentEvent, LoginFailure, Role
from digest.settings import SettingError, read_settings

PROXY = "10.0.0.2"


@pytest.fixture
def mail():
    """Where the sign-ups' mail goes."""
    with smtp_server() as (_, url):
        yield url


def _site(factory, proxies: str | None, mail: str | None = None, https: str | None = None) -> Site:
    """The app, run with DIGEST_TRUSTED_PROXIES and DIGEST_HTTPS as given (else unset)."""
    named = {"DIGEST_TRUSTED_PROXIES": proxies, "DIGEST_HTTPS": https}
    env = {name: value for name, value in named.items() if value is not None}
    keys = {"token_keys": ("proxy-key",), "secret_key": "proxy-secret"}
    return make_site(factory, env=env, **keys, **({"mail_url": mail} if mail else {}))


def _sign_up(site: Site, email: str, forwarded_for: str | None, remote: str = PROXY):
    client = site.app.test_client()
    client.environ_base["REMOTE_ADDR"] = remote
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    token = csrf_token(client, "/subscribe/caspar")
    return client.post(
        "/subscribe/caspar",
        data={"email": email, "consent": "yes", "csrf_token": token},
        headers=headers,
    )


def _consent_ips(site: Site) -> list[str]:
    site.settle()
    with site.factory() as session:
        return list(session.scalars(select(ConsentEvent.ip).order_by(ConsentEvent.id)))


def test_forwarded_for_is_ignored_by_default(factory, mail) -> None:
    site = _site(factory, None, mail)
    assert _sign_up(site, "a@example.org", "203.0.113.5").status_code == 200
    assert _consent_ips(site) == [PROXY]
    # Making up a new X-Forwarded-For for each request does not escape the network's limit.
    for n in range(1, formlimits.PER_NETWORK_PER_HOUR):
        _sign_up(site, f"p{n}@example.org", f"203.0.113.{n + 5}")
    assert _sign_up(site, "last@example.org", "198.51.100.1").status_code == 429


def test_a_trusted_proxy_gives_each_visitor_their_own_address(factory, mail) -> None:
    site = _site(factory, "1", mail)
    # The proxy appends the address it saw; what the visitor wrote before it is not believed.
    assert _sign_up(site, "a@example.org", "192.0.2.66, 203.0.113.5").status_code == 200
    assert _consent_ips(site) == ["203.0.113.5"]
    for n in range(1, formlimits.PER_NETWORK_PER_HOUR):
        assert _sign_up(site, f"p{n}@example.org", "203.0.113.5").status_code == 200
    assert _sign_up(site, "more@example.org", "203.0.113.5").status_code == 429
    # Another visitor behind the same proxy is not held up by the first one's limit.
    assert _sign_up(site, "other@example.org", "198.51.100.1").status_code == 200


def test_sign_in_throttling_counts_the_visitor_behind_a_trusted_proxy(factory) -> None:
    site = _site(factory, "1")
    client = site.app.test_client()
    client.environ_base["REMOTE_ADDR"] = PROXY
    client.post(
        "/login",
        data={"email": STAFF[Role.ADMIN], "password": "wrong", "csrf_token": csrf_token(client)},
        headers={"X-Forwarded-For": "203.0.113.5"},
    )
    with site.factory() as session:
        assert session.scalars(select(LoginFailure.ip)).all() == ["203.0.113.5"]


def _session_cookie_secure(site: Site, proto: str | None) -> bool:
    client = site.app.test_client()
    headers = {"X-Forwarded-Proto": proto} if proto else {}
    if proto == "https":  # as a browser sends it; Flask-WTF checks it on HTTPS
        headers["Referer"] = "https://localhost/login"
    response = client.post(
        "/login",
        data={
            "email": STAFF[Role.LIBRARIAN],
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
        headers=headers,
    )
    assert response.status_code == 302
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if "digest_session" in c]
    return "; Secure" in cookie


@pytest.mark.parametrize(
    ("proxies", "https", "proto", "secure"),
    [
        (None, None, "https", False),  # anyone can send X-Forwarded-Proto: not believed
        (None, "1", None, True),  # DIGEST_HTTPS=1: always
        ("1", None, "https", True),  # the trusted proxy says the visitor came over HTTPS
        ("1", None, "http", False),
    ],
)
def test_the_session_cookie_is_secure_when_the_visitor_came_over_https(
    factory, proxies, https, proto, secure
) -> None:
    assert _session_cookie_secure(_site(factory, proxies, https=https), proto) is secure


@pytest.mark.parametrize("value", ["-1", "two", "9"])
def test_a_bad_proxy_setting_is_named(value) -> None:
    with pytest.raises(SettingError, match="DIGEST_TRUSTED_PROXIES must be"):
        read_settings({"DIGEST_TRUSTED_PROXIES": value})


def test_a_forwarded_value_that_is_no_address_is_stored_cut_down(factory, mail) -> None:
    site = _site(factory, "1", mail)
    odd = "\x00not-an-address-" + "x" * 300
    assert _sign_up(site, "a@example.org", odd).status_code == 200
    (stored,) = _consent_ips(site)
    assert stored.startswith("not-an-address-") and len(stored) == 64
    client = site.app.test_client()
    response = client.post(
        "/login",
        data={
            "email": STAFF[Role.ADMIN],
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
        headers={"X-Forwarded-For": odd},
    )
    assert response.status_code == 302
