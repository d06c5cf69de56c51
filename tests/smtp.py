"""A real SMTP server on loopback for tests (aiosmtpd), keeping what it receives, and able to
misbehave on cue: refuse connections, defer or refuse recipients, drop the line, dawdle."""

from __future__ import annotations

import asyncio
import email
import socket
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass
class Faults:
    """What the server does wrong. Counts say how many times; then it behaves."""

    refuse_connections: int = 0  # answer "421" to this many new connections
    rcpt: dict[str, tuple[str, int]] = field(default_factory=dict)  # address: (reply, times)
    drop_in_data: dict[str, int] = field(default_factory=dict)  # address: times
    data_delay: float = 0.0  # seconds before answering each message


@dataclass
class Inbox:
    faults: Faults = field(default_factory=Faults)
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    mail_options: list[list[str]] = field(default_factory=list)  # MAIL FROM's, per message
    arrived: list[float] = field(default_factory=list)  # time.monotonic() of each message
    tries: Counter[str] = field(default_factory=Counter)
    connected: int = 0  # connections open now
    most_connected: int = 0  # the most ever open at once

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        self.tries[address] += 1
        reply, times = self.faults.rcpt.get(address, ("", 0))
        if times:
            self.faults.rcpt[address] = (reply, times - 1)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        for address in envelope.rcpt_tos:
            if self.faults.drop_in_data.get(address):
                self.faults.drop_in_data[address] -= 1
                server.transport.close()
                return "421 closing"  # never reaches the client: the line is already down
        if self.faults.data_delay:
            await asyncio.sleep(self.faults.data_delay)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.mail_options.append(list(envelope.mail_options))
        self.arrived.append(time.monotonic())
        return "250 Message accepted"

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=default)
            for _, recipients, raw in self.received
            if to is None or to in recipients
        ]

    def count(self, to: str) -> int:
        return sum(to in recipients for _, recipients, _ in self.received)


class _FaultySMTP(SMTP):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        inbox: Inbox = self.event_handler
        inbox.connected += 1
        inbox.most_connected = max(inbox.most_connected, inbox.connected)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.connected -= 1
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        inbox: Inbox = self.event_handler
        if inbox.faults.refuse_connections > 0:
            inbox.faults.refuse_connections -= 1
            await self.push("421 4.3.2 Service not available, try later")
            self.transport.close()
            return
        await super()._handle_client()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server(faults: Faults | None = None, **options: object) -> Iterator[tuple[Inbox, str]]:
    """An SMTP server on loopback; yields its inbox and a `smtp://` URL for Digest. `options`
    go to aiosmtpd (TLS contexts, an authenticator, …); it offers SMTPUTF8 unless given
    `enable_SMTPUTF8=False`."""
    inbox = Inbox(faults or Faults())
    port = free_port()
    controller = _Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()
