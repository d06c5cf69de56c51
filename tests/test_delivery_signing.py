"""DKIM signatures that verify on the bytes received, and a rate limit that holds."""

from __future__ import annotations

import re
import time
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from delivery_helpers import add_subscribers, approved_edition, rsa_key
from smtp import smtp_server

from digest.config.schema import DkimConfig
from digest.db import transaction
from digest.delivery import queue
from digest.delivery.dkim import SIGNED_HEADERS, DkimKeyError, Signer
from digest.delivery.sender import Settings, Worker
from digest.delivery.transport import Transport
from digest.editions.message import MailSettings
from digest.models import Edition


def send_all(factory, transport: Transport) -> None:
    settings = Settings(["k"], MailSettings("https://d.example"), "test-hash-key")
    Worker(factory.kw["bind"], settings, {None: transport}).run(until_idle=True)


def start(factory, readers: int) -> list[str]:
    edition_id = approved_edition(factory)
    emails = add_subscribers(factory, readers)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
    return emails


def test_every_message_carries_a_dkim_signature_that_verifies(factory, tmp_path) -> None:
    key_file, record = rsa_key(tmp_path)
    start(factory, 3)
    dkim_config = DkimConfig(domain="digest.test", selector="weekly", key_file=key_file)
    with smtp_server() as (inbox, url):
        send_all(factory, Transport(url, dkim=dkim_config))

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"weekly._domainkey.digest.test."
        return record

    assert len(inbox.received) == 3
    for _, _, raw in inbox.received:
        assert raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(raw, dnsfunc=dns)
        signature = raw.split(b"\r\n\r\n")[0].decode()
        signed = signature.split(" h=")[1].split(";")[0].replace("\r\n", "").replace(" ", "")
        assert {h.lower() for h in signed.split(":")} >= {
            h.decode().lower() for h in SIGNED_HEADERS
        }
        assert b"a=rsa-sha256" in raw.split(b"\r\n\r\n")[0]
        tampered = raw.replace(b"Subject: CASPAR", b"Subject: CASPAX")
        assert not dkim.verify(tampered, dnsfunc=dns)


def test_our_signature_is_byte_for_byte_what_dkimpy_itself_writes(tmp_path) -> None:
    key_file, _ = rsa_key(tmp_path)
    signer = Signer(DkimConfig(domain="digest.test", selector="weekly", key_file=key_file))
    raw = (
        b"From: CASPAR <caspar@digest.test>\r\nTo: reader@example.org\r\n"
        b"Subject: CASPAR  this   week\r\nDate: Tue, 01 Dec 2026 09:00:00 +0000\r\n"
        b"Message-ID: <e-1.s-2@digest.test>\r\nList-Id: CASPAR <caspar.digest.test>\r\n"
        b"List-Unsubscribe: <https://d.example/u/abc>, <mailto:unsubscribe+abc@digest.test>\r\n"
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\n"
        + b"Safeguarding in the early years: a =C3=A9 summary.\r\n" * 400
    )
    reference = dkim.sign(
        raw,
        b"weekly",
        b"digest.test",
        Path(key_file).read_bytes(),
        include_headers=list(SIGNED_HEADERS),
        canonicalize=(b"relaxed", b"simple"),
    )
    when = int(re.search(rb"t=(\d+);", reference).group(1))  # dkimpy's clock: sign at its time
    signed = signer.sign(raw, now=when)
    assert signed == reference + raw


@pytest.mark.parametrize("content", [b"not a key", None])
def test_a_key_that_cannot_sign_is_named_in_the_error(tmp_path, content) -> None:
    path = tmp_path / "dkim.pem"
    if content is None:  # an EC key: DKIM here signs with RSA

        content = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    path.write_bytes(content)
    with pytest.raises(DkimKeyError, match=r"dkim\.pem"):
        Signer(DkimConfig(domain="digest.test", selector="weekly", key_file=str(path)))


def test_rate_limit_per_second_holds_across_connections(factory) -> None:
    start(factory, 12)
    with smtp_server() as (inbox, url):
        began = time.monotonic()
        send_all(factory, Transport(url, connections=3, per_second=5))
        took = time.monotonic() - began
    assert len(inbox.received) == 12
    assert took >= 2.1  # one every fifth of a second: the twelfth 2.2 s after the first
