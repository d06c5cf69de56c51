"""Where outgoing mail goes: an SMTP server, or a Maildir folder (the embedded default).

A `Transport` is the configuration; `open()` gives a channel, one connection that is reused for
many messages and reconnects when the server drops it. Each send returns an `Outcome`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import mailbox
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from digest.addresses import AddressError, needs_smtputf8, on_the_wire
from digest.config import load_config
from digest.config.schema import DkimConfig, TransportConfig
from digest.defaults import MAIL_CONNECTIONS
from digest.delivery.outcomes import Outcome, Result
from digest.errors import Unavailable
from digest.settings import Settings

if TYPE_CHECKING:  # loaded when a transport signs: DKIM's libraries are slow to import
    from digest.delivery.dkim import Signer

log = logging.getLogger(__name__)
CRLF = b"\r\n"
RECONNECTS = 3  # a dropped connection is tried again on a new one, this many times in all


class DeliveryError(Unavailable, RuntimeError):
    """The message could not be handed over; the message says why."""


def no_smtputf8(address: str) -> str:
    return (
        f"the mail server does not accept international addresses (SMTPUTF8), so {address}, "
        "with letters outside ASCII before the “@”, cannot be sent to through it"
    )


def _envelope(sender: str, recipient: str) -> tuple[str, str] | Outcome:
    """Both addresses as they go on the wire, or the failure that says why one cannot."""
    try:
        return on_the_wire(sender), on_the_wire(recipient)
    except AddressError as exc:
        return Outcome(Result.FAILED, None, str(exc))


class Channel(Protocol):
    async def send(
        self,
        sender: str,
        recipient: str,
        raw: bytes,
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> Outcome:
        """Hand over one message. `before_commit` runs just before the point after which the
        server has the message (the final dot)."""

    async def close(self) -> None: ...


def _expand(url: str) -> str:
    """`${NAME}` replaced from the environment, so secrets stay out of the config file: the
    one reading of the environment outside `digest.settings`, when the transport opens."""

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name not in os.environ:
            raise DeliveryError(f"the mail transport needs ${{{name}}}, which is not set")
        return os.environ[name]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", value, url)


@dataclass(frozen=True)
class Transport:
    """`smtp://[user:password@]host:port` (`?starttls=1`), `smtps://…` for implicit TLS, or
    `maildir:PATH`; with a number of connections, rate limits and optional DKIM signing."""

    url: str
    connections: int = MAIL_CONNECTIONS
    per_second: float | None = None
    per_hour: int | None = None
    dkim: DkimConfig | None = None
    timeout: float = 60.0

    @classmethod
    def default(cls, settings: Settings) -> Transport:
        """The transport of newsletters that name none: `DIGEST_MAIL_URL`, with
        `DIGEST_MAIL_CONNECTIONS` connections."""
        return cls(settings.mail_url, connections=settings.mail_connections)

    @classmethod
    def from_config(cls, config: TransportConfig) -> Transport:
        return cls(
            config.url,
            connections=config.connections,
            per_second=config.per_second,
            per_hour=config.per_hour,
            dkim=config.dkim,
        )

    @staticmethod
    def all_from(configs: list[TransportConfig], settings: Settings) -> dict[str | None, Transport]:
        """The transports a config names, and the default (from the settings) as None."""
        named: dict[str | None, Transport] = {c.name: Transport.from_config(c) for c in configs}
        return {None: Transport.default(settings), **named}

    @staticmethod
    def all_from_file(config_path: str | None, settings: Settings) -> dict[str | None, Transport]:
        """The transports of a config file (none without one), and the default. Raises
        ConfigError for a file that is not valid."""
        if config_path is None or not Path(config_path).exists():
            return Transport.all_from([], settings)
        return Transport.all_from(load_config(config_path).transports, settings)

    def open(self) -> Channel:
        parts = urlsplit(_expand(self.url))
        if parts.scheme == "maildir":
            return MaildirChannel(Path(parts.path or parts.netloc))
        if parts.scheme in ("smtp", "smtps"):
            return SmtpChannel(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or (465 if parts.scheme == "smtps" else 25),
                implicit_tls=parts.scheme == "smtps",
                starttls=parse_qs(parts.query).get("starttls") == ["1"],
                username=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password or ""),
                timeout=self.timeout,
            )
        raise DeliveryError(f"unknown mail transport {self.url!r}")

    def send(self, sender: str, recipient: str, raw: bytes) -> None:
        """One message on its own connection (confirmations, links, tests), DKIM-signed when
        the transport signs."""
        if self.dkim is not None:
            raw = _signer(self.dkim.domain, self.dkim.selector, self.dkim.key_file).sign(raw)

        async def once() -> Outcome:
            channel = self.open()
            try:
                return await channel.send(sender, recipient, raw)
            finally:
                await channel.close()

        outcome = _run_to_completion(once())
        if outcome.result is not Result.SENT:
            reply = f"{outcome.code} " if outcome.code else ""
            raise DeliveryError(f"not sent to {recipient}: {reply}{outcome.message}")


Transports = Mapping[str | None, Transport]  # by name; None is the default


def for_newsletter(transports: Transports, name: str | None) -> Transport:
    """The transport a newsletter names; the default when it names none, or one not (or no
    longer) configured."""
    if name is not None and name not in transports:
        log.warning("unknown transport %r: using the default", name)
    return transports.get(name) or transports[None]


@lru_cache(maxsize=8)
def _signer(domain: str, selector: str, key_file: str) -> Signer:
    from digest.delivery.dkim import Signer

    return Signer(DkimConfig(domain=domain, selector=selector, key_file=key_file))


class MaildirChannel:
    """Each message a file in a Maildir, as a local delivery agent would leave it."""

    def __init__(self, folder: Path) -> None:
        for sub in ("tmp", "new", "cur"):  # safe when several connections open it at once
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(folder, create=False)

    async def send(
        self,
        sender: str,
        recipient: str,
        raw: bytes,
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> Outcome:
        addresses = _envelope(sender, recipient)
        if isinstance(addresses, Outcome):
            return addresses
        sender, recipient = addresses
        envelope = f"Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n".encode()
        if before_commit is not None:
            await before_commit()
        try:
            self.maildir.add(envelope + raw)
        except OSError as exc:
            return Outcome(Result.DEFERRED, None, f"could not write to the Maildir: {exc}")
        return Outcome(Result.SENT, 250, "stored")

    async def close(self) -> None:
        pass


class SmtpError(Exception):
    """A reply that ends the connection's usefulness (a refused greeting or login)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text = code, text


@dataclass
class SmtpChannel:
    """One SMTP connection (asyncio), opened on first use and reused for message after
    message, with pipelining (RFC 2920) when the server offers it."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str = ""
    timeout: float = 60.0
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    extensions: frozenset[str] = frozenset()

    async def _reply(self) -> tuple[int, str]:
        """One reply, all its lines: (code, text), within the timeout."""
        # One timer for the reply, not one a line: each costs a timer scheduled and
        # cancelled, and a message waits for four replies.
        async with asyncio.timeout(self.timeout):
            return await self._reply_lines()

    async def _reply_lines(self) -> tuple[int, str]:
        assert self.reader is not None
        lines = []
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("the server closed the connection")
            lines.append(line[4:].decode(errors="replace").strip())
            if line[3:4] != b"-":
                try:
                    return int(line[:3]), " ".join(lines)
                except ValueError:
                    raise ConnectionError(f"not an SMTP reply: {line[:80]!r}") from None

    async def _command(self, command: str) -> tuple[int, str]:
        assert self.writer is not None
        self.writer.write(command.encode() + CRLF)
        return await self._reply()

    async def _ehlo(self) -> None:
        code, text = await self._command(f"EHLO {socket.getfqdn()}")
        if code != 250:
            raise SmtpError(code, text)
        self.extensions = frozenset(word.split()[0].lower() for word in text.split(" ") if word)

    async def _connect(self) -> None:
        # Certificates are verified: system CAs, or the file named by SSL_CERT_FILE.
        context = ssl.create_default_context()
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(
                self.host, self.port, ssl=context if self.implicit_tls else None
            ),
            self.timeout,
        )
        # The final dot goes in a small write of its own: without this, Nagle's algorithm
        # would hold it back until the server acknowledged the body.
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code, text = await self._reply()
        if code != 220:  # e.g. 421 in the greeting
            raise SmtpError(code, text)
        await self._ehlo()
        if self.starttls:
            code, text = await self._command("STARTTLS")
            if code != 220:
                raise SmtpError(code, text)
            await self.writer.start_tls(context, server_hostname=self.host)
            await self._ehlo()
        if self.username:
            secret = base64.b64encode(f"\0{self.username}\0{self.password}".encode()).decode()
            code, text = await self._command(f"AUTH PLAIN {secret}")
            if code != 235:
                raise SmtpError(code, f"the server refused our login: {text}")

    async def send(
        self,
        sender: str,
        recipient: str,
        raw: bytes,
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> Outcome:
        outcome = Outcome(Result.DEFERRED, None, "not tried")
        for attempt in range(RECONNECTS):
            try:
                if self.writer is None:
                    await self._connect()
                return await self._transaction(sender, recipient, raw, before_commit)
            except SmtpError as exc:  # refused greeting or login: never the recipient's fault
                outcome = Outcome(Result.DEFERRED, exc.code, exc.text)
            except (OSError, EOFError, TimeoutError, ssl.SSLError) as exc:
                outcome = Outcome(Result.DEFERRED, None, f"connection lost: {exc}".strip())
            await self.close()
            await asyncio.sleep(0.2 * 2**attempt)
        return outcome

    async def _transaction(
        self,
        sender: str,
        recipient: str,
        raw: bytes,
        before_commit: Callable[[], Awaitable[None]] | None,
    ) -> Outcome:
        addresses = _envelope(sender, recipient)
        if isinstance(addresses, Outcome):
            return addresses
        given, (sender, recipient) = recipient, addresses
        mail = f"MAIL FROM:<{sender}>"
        if needs_smtputf8(sender + recipient):  # and the headers may hold UTF-8 (RFC 6532)
            if "smtputf8" not in self.extensions:
                return Outcome(Result.FAILED, None, no_smtputf8(given))
            mail += " SMTPUTF8"
        assert self.writer is not None
        commands = (mail, f"RCPT TO:<{recipient}>", "DATA")
        replies: list[tuple[int, str]] = []
        if "pipelining" in self.extensions:  # one round trip for all three
            self.writer.write("".join(f"{command}\r\n" for command in commands).encode())
            replies = [await self._reply() for _ in commands]
        else:
            for command, good in zip(commands, (250, 250, 354), strict=True):
                replies.append(await self._command(command))
                if replies[-1][0] not in (good, 251):
                    break
        (mail, mail_reply), *rest = replies
        rcpt, rcpt_reply = rest[0] if rest else (0, "")
        data, data_reply = rest[1] if len(rest) > 1 else (0, "")
        refused = None
        if mail != 250:
            refused = Outcome.from_reply(mail, mail_reply, Result.FAILED)
        elif rcpt not in (250, 251):
            refused = Outcome.from_reply(rcpt, rcpt_reply, Result.BOUNCED)
        elif data != 354:
            refused = Outcome.from_reply(data, data_reply, Result.FAILED)
        if refused is not None:
            if data == 354:  # the server waits for a message we will not send: end it empty
                await self._command(".")
            return await self._refused(refused)
        body = raw.replace(b"\r\n.", b"\r\n..")  # dot-stuffing (RFC 5321 4.5.2)
        self.writer.write(body if body.endswith(CRLF) else body + CRLF)
        if before_commit is not None:
            await before_commit()
        outcome = Outcome.from_reply(*await self._command("."), refused=Result.FAILED)
        return outcome if outcome.result is Result.SENT else await self._refused(outcome)

    async def _refused(self, outcome: Outcome) -> Outcome:
        """Reset the transaction so the connection can carry the next message; a 421 means
        the server is closing it."""
        if outcome.code == 421:
            await self.close()
            return outcome
        try:
            await self._command("RSET")
        except (OSError, EOFError, TimeoutError):
            await self.close()
        return outcome

    async def close(self) -> None:
        writer, self.writer, self.reader = self.writer, None, None
        if writer is None:
            return
        with contextlib.suppress(OSError, EOFError, TimeoutError, ssl.SSLError):
            writer.write(b"QUIT\r\n")
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), 1)


def _run_to_completion(coroutine: Coroutine[Any, Any, Outcome]) -> Outcome:
    """Run on a fresh event loop; on a thread of its own when the caller's thread has one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
