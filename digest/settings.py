"""Digest's settings: every option declared once, with its type, default and environment
variable; read once, by `read_settings`, and passed to what needs them (the web app, the
delivery worker, the scheduler, the command line). The README's Environment table lists the
same options, and a test keeps the two in step.

Nothing else reads Digest's settings from the environment. One thing does read it: a
`${NAME}` in a transport URL of the config file is replaced when the transport opens
(`delivery/transport.py`), so that a mail server's password need not be written in the file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.defaults import (
    DEFAULT_CONFIG,
    DEFAULT_DATABASE_URL,
    DEFAULT_TIMEZONE,
    MAIL_CONNECTIONS,
    MAX_ENTRIES,
)
from digest.errors import Invalid
from digest.mailsettings import MailSettings

# Parsing costs about 0.4 ms an entry and storing as much again: 20,000 is some 15 s a poll.
MAX_ENTRIES_CEILING = 20_000
MAX_PROXIES = 5  # more hops than any real deployment: a typo, most likely


class SettingError(Invalid):
    """A setting from the environment that cannot be used; the message names it."""


class Unfit(ValueError):
    """What a value should have been ("a whole number above 0"), and the value as shown."""

    def __init__(self, wanted: str, shown: str) -> None:
        super().__init__(wanted)
        self.wanted, self.shown = wanted, shown


@dataclass(frozen=True)
class Option:
    """One setting: its environment variable; its default, written as in the environment ("" for
    none), or worked out from the rest of the environment; how the text becomes the value; and
    what it means. `name` is its field of `Settings`."""

    env: str
    default: str | Callable[[Mapping[str, str]], str]
    parse: Callable[[str], Any]
    meaning: str
    name: str = ""


def _option(
    env: str,
    default: str | Callable[[Mapping[str, str]], str],
    parse: Callable[[str], Any],
    meaning: str,
    *,
    secret: bool = False,
) -> Any:
    """A field of `Settings` declaring its option; a secret one is left out of the repr."""
    return field(repr=not secret, metadata={"option": Option(env, default, parse, meaning)})


def _text(raw: str) -> str:
    return raw


def _optional(raw: str) -> str | None:
    return raw or None


def _site(raw: str) -> str:
    return raw.rstrip("/")


def _keys(raw: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unfit("an IANA timezone such as Europe/London", repr(raw[:40])) from None
    return raw


def _optional_path(raw: str) -> Path | None:
    return Path(raw) if raw else None


def _flag(raw: str) -> bool:
    return raw == "1"  # anything else is off, as it always was


@dataclass(frozen=True)
class _Whole:
    """A whole number from `least`, up to `most` (`beyond` saying why, else the range is said);
    in `unit` ("minutes", "hours", "days"), a length of time."""

    least: int = 1
    most: int | None = None
    beyond: str = ""
    unit: str = ""

    def __call__(self, raw: str) -> int | timedelta:
        number = int(raw) if raw.isascii() and raw.isdigit() else None
        over = number is not None and self.most is not None and number > self.most
        if over and self.beyond:
            raise Unfit(f"at most {self.most} ({self.beyond})", str(number))
        if number is None or number < self.least or over:
            raise Unfit(self._wanted(), repr(raw[:40]))
        return timedelta(**{self.unit: number}) if self.unit else number

    def _wanted(self) -> str:
        if self.most is not None and not self.beyond:
            return f"a whole number from {self.least} to {self.most:,}"
        if self.least == 1:
            return "a whole number above 0"
        return f"a whole number of {self.least} or more"


def _contact(raw: str) -> str | None:
    if raw and ("@" not in raw.strip("@") or any(c.isspace() for c in raw)):
        raise Unfit("an email address", repr(raw[:40]))
    return raw or None


# Crossref's documented limits for a single work (from December 2025): 10 requests a second,
# 3 at once, for a caller who gives a contact address (its "polite pool"); 5 a second, 1 at
# once, for one who does not. NCBI allows 3 requests a second, 10 with an API key.
def _crossref_rate(env: Mapping[str, str]) -> str:
    return "10" if env.get("DIGEST_RESEARCH_CONTACT", "").strip() else "5"


def _crossref_concurrency(env: Mapping[str, str]) -> str:
    return "3" if env.get("DIGEST_RESEARCH_CONTACT", "").strip() else "1"


def _pubmed_rate(env: Mapping[str, str]) -> str:
    return "10" if env.get("DIGEST_NCBI_API_KEY", "").strip() else "3"


def _key_file_in_config_home(env: Mapping[str, str]) -> str:
    """In the user's config folder (XDG_CONFIG_HOME, else ~/.config), outside the project."""
    return str(Path(env.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "digest" / "secret_key")


@dataclass(frozen=True)
class Settings:
    """How this Digest runs, read once when it starts (`read_settings`)."""

    config_path: str = _option("DIGEST_CONFIG", DEFAULT_CONFIG, _text, "the config file")
    database_url: str = _option(
        "DIGEST_DATABASE_URL", DEFAULT_DATABASE_URL, _text, "the database (SQLAlchemy URL)"
    )
    base_url: str = _option(
        "DIGEST_BASE_URL", "http://127.0.0.1:8000", _site, "where the public pages are"
    )
    secret_key: str | None = _option(
        "DIGEST_SECRET_KEY",
        "",
        _optional,
        "signs cookies and form tokens, and keys the suppression list's hashes",
        secret=True,
    )
    secret_key_file: Path = _option(
        "DIGEST_SECRET_KEY_FILE",
        _key_file_in_config_home,
        Path,
        "the secret key's file, made on first use, when DIGEST_SECRET_KEY is not set",
    )
    token_keys: tuple[str, ...] = _option(
        "DIGEST_TOKEN_KEYS", "", _keys, "keys of subscriber links, oldest first", secret=True
    )
    mail_url: str = _option(
        "DIGEST_MAIL_URL", "maildir:var/mail", _text, "the default transport", secret=True
    )
    mail_connections: int = _option(
        "DIGEST_MAIL_CONNECTIONS",
        str(MAIL_CONNECTIONS),
        _Whole(),
        "connections of the default transport",
    )
    bounce_mailbox: str | None = _option(
        "DIGEST_BOUNCE_MAILBOX", "", _optional, "returned mail to process", secret=True
    )
    send_grace: timedelta = _option(
        "DIGEST_SEND_GRACE_MINUTES",
        "360",
        _Whole(least=0, unit="minutes"),
        "how late a missed send may still go out by itself",
    )
    delivery_retention: timedelta = _option(
        "DIGEST_DELIVERY_RETENTION_DAYS",
        "90",
        _Whole(least=0, unit="days"),
        "how long per-subscriber delivery rows are kept",
    )
    demo: bool = _option("DIGEST_DEMO", "0", _flag, "1 shows the Outbox page")
    https: bool = _option("DIGEST_HTTPS", "0", _flag, "1 marks cookies Secure always")
    trusted_proxies: int = _option(
        "DIGEST_TRUSTED_PROXIES",
        "0",
        _Whole(least=0, most=MAX_PROXIES, beyond="the number of proxies in front of Digest"),
        "how many reverse proxies to believe for X-Forwarded-For and -Proto",
    )
    # A working day without a click signs a browser out; a week signs it out whatever it does.
    session_idle: timedelta = _option(
        "DIGEST_SESSION_IDLE_MINUTES",
        "480",
        _Whole(unit="minutes"),
        "a staff session ends after this long unused",
    )
    session_lifetime: timedelta = _option(
        "DIGEST_SESSION_MAX_HOURS",
        "168",
        _Whole(unit="hours"),
        "a staff session ends this long after signing in",
    )
    max_entries_per_feed: int = _option(
        "DIGEST_MAX_ENTRIES_PER_FEED",
        str(MAX_ENTRIES),
        _Whole(most=MAX_ENTRIES_CEILING),
        "how many entries a poll reads from a feed, the newest",
    )
    timezone: str = _option(
        "DIGEST_TIMEZONE",
        DEFAULT_TIMEZONE,
        _timezone,
        "the clock of staff pages that are not about one newsletter",
    )
    log_file: Path = _option(
        "DIGEST_LOG_FILE", "var/log/digest.log", Path, "where the long-running commands log"
    )
    upload_dir: Path | None = _option(
        "DIGEST_UPLOAD_DIR",
        "",
        _optional_path,
        "where an uploaded list waits between its preview and its import",
    )
    research_contact: str | None = _option(
        "DIGEST_RESEARCH_CONTACT",
        "",
        _contact,
        "the email address Crossref and PubMed may write to about Digest's look-ups",
    )
    ncbi_api_key: str | None = _option(
        "DIGEST_NCBI_API_KEY", "", _optional, "NCBI's API key for PubMed look-ups", secret=True
    )
    crossref_url: str = _option(
        "DIGEST_CROSSREF_URL", "https://api.crossref.org", _site, "Crossref's REST API"
    )
    pubmed_url: str = _option(
        "DIGEST_PUBMED_URL",
        "https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
        _site,
        "PubMed's E-utilities",
    )
    crossref_rate: int = _option(
        "DIGEST_CROSSREF_RATE", _crossref_rate, _Whole(), "look-ups a second at Crossref"
    )
    crossref_concurrency: int = _option(
        "DIGEST_CROSSREF_CONCURRENCY",
        _crossref_concurrency,
        _Whole(),
        "look-ups at Crossref at once",
    )
    pubmed_rate: int = _option(
        "DIGEST_PUBMED_RATE", _pubmed_rate, _Whole(), "requests a second to PubMed"
    )
    research_private_network: bool = _option(
        "DIGEST_RESEARCH_PRIVATE_NETWORK",
        "0",
        _flag,
        "1 lets the Crossref and PubMed addresses be on a private network (a local mirror)",
    )

    @cached_property
    def mail(self) -> MailSettings:
        """The public site's address, for the links in emails and feeds."""
        return MailSettings(self.base_url)

    def secret(self) -> str:
        """The key that signs cookies and form tokens and keys the suppression list's hashes:
        DIGEST_SECRET_KEY, else the key file's. There is never a default key in the code."""
        return self.secret_key or _key_in(self.secret_key_file)

    def link_keys(self) -> list[str]:
        """Keys for subscriber links, oldest first, so that old links keep working after a new
        key is added at the end; without DIGEST_TOKEN_KEYS, the secret key."""
        return list(self.token_keys) or [self.secret()]


OPTIONS: tuple[Option, ...] = tuple(
    replace(f.metadata["option"], name=f.name) for f in fields(Settings)
)


def read_settings(env: Mapping[str, str] | None = None, **given: Any) -> Settings:
    """The settings from `env` (the process's environment by default), each option its
    default when unset or blank; `given` values (by field name, already of their type)
    override them. Raises SettingError, naming the variable, for a value that cannot be used."""
    env = os.environ if env is None else env
    unknown = given.keys() - {option.name for option in OPTIONS}
    if unknown:
        raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
    return Settings(
        **{o.name: given[o.name] if o.name in given else _read(o, env) for o in OPTIONS}
    )


def _read(option: Option, env: Mapping[str, str]) -> Any:
    raw = env.get(option.env, "").strip()
    if not raw:
        raw = option.default(env) if callable(option.default) else option.default
    try:
        return option.parse(raw)
    except Unfit as exc:
        raise SettingError(f"{option.env} must be {exc.wanted}, not {exc.shown}") from None


@cache
def _key_in(path: Path) -> str:
    """The key in `path`, the file made with a new random key if there is none (only its owner
    may read it)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
