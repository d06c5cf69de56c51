"""SMTP with TLS (STARTTLS and implicit) and a login: certificates are checked, passwords
come from the environment, and a server we cannot trust gets nothing."""

from __future__ import annotations

import ssl
from collections.abc import Callable

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword
from delivery_helpers import add_subscribers, approved_edition
from smtp import smtp_server
from sqlalchemy import select

from digest.config.schema import TransportConfig
from digest.db import transaction
from digest.delivery import queue
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import Delivery, Edition


@pytest.fixture
def authority(tmp_path, monkeypatch) -> trustme.CA:
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))  # the only CA this client trusts
    return ca


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def only(login: bytes, password: bytes) -> Callable[..., AuthResult]:
    """An aiosmtpd authenticator that lets in one login."""

    def check(server, session, envelope, mechanism, auth_data) -> AuthResult:
        good = isinstance(auth_data, LoginPassword) and (
            auth_data.login,
            auth_data.password,
        ) == (login, password)
        return AuthResult(success=good)

    return check


def send(factory, transport: Transport) -> dict[str, str]:
    edition_id = approved_edition(factory)
    add_subscribers(factory, 2)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
    settings = Settings(["k"], MailSettings("https://d.example"), "test-hash-key")
    Worker(factory.kw["bind"], settings, {None: transport}).run(until_idle=True)
    with factory() as session:
        return {str(d.id): d.status.value for d in session.scalars(select(Delivery))}


def test_starttls_and_login_with_the_password_from_the_environment(
    factory, authority, monkeypatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
    options = {
        "tls_context": server_context(authority),
        "require_starttls": True,
        "authenticator": only(b"digest", b"s3cret"),
        "auth_require_tls": True,
    }
    with smtp_server(**options) as (inbox, url):
        config = TransportConfig(
            name="bulk",
            url=url.replace("smtp://", "smtp://digest:${SMTP_PASSWORD}@") + "?starttls=1",
        )
        assert set(send(factory, Transport.from_config(config)).values()) == {"sent"}
    assert len(inbox.received) == 2


def test_implicit_tls(factory, authority) -> None:
    with smtp_server(ssl_context=server_context(authority)) as (inbox, url):
        assert set(send(factory, Transport(url.replace("smtp://", "smtps://"))).values()) == {
            "sent"
        }
    assert len(inbox.received) == 2


def test_a_certificate_we_cannot_trust_gets_nothing(factory, authority) -> None:
    stranger = trustme.CA()  # signed by a CA the client does not know
    options = {"tls_context": server_context(stranger), "require_starttls": True}
    with smtp_server(**options) as (inbox, url):
        outcome = send(factory, Transport(url + "?starttls=1", timeout=5))
    assert set(outcome.values()) == {"deferred"} and inbox.received == []
    with factory() as session:
        error = session.scalar(select(Delivery.last_error))
        assert "certificate verify failed" in error
