"""The shape of `feeds.yaml`: newsletters, topics and feeds, checked field by field."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from digest.citations.styles import check_style
from digest.config.identity import check_colour, check_logo
from digest.config.sources import (
    SERVICE_URLS,
    SET_SPEC,
    SourceType,
    as_text,
    crossref_query,
    oai_options,
    service_options,
)
from digest.defaults import DEFAULT_TIMEZONE, MAIL_CONNECTIONS
from digest.localfiles import is_local_path

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_DURATION = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_MINUTES_PER_UNIT = {"m": 1, "h": 60, "d": 1440}
# C0 and C1 controls (tab, CR, LF, NEL among them), DEL, and the Unicode line and paragraph
# separators: none belongs in a one-line setting, and in a mail header they would start lines.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def parse_duration_minutes(value: object) -> int:
    """`30m`, `2h`, `1d` or a bare number of minutes, as minutes."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 2h or 1d")
    if isinstance(value, int):
        minutes = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration such as 30m, 2h or 1d")
        minutes = int(match[1]) * _MINUTES_PER_UNIT[match[2]]
    if not 5 <= minutes <= 7 * 1440:
        raise ValueError("a poll interval must be between 5 minutes and 7 days")
    return minutes


def _check_one_line(value: object) -> object:
    """A setting that may reach a mail header (From, Reply-To, Subject, List-Id, DKIM) or a
    protocol line, and so must be one line of text. Checked before any pattern, so that the
    error names the control character rather than a pattern; spaces at either end (a YAML
    block scalar's last line break among them) are dropped as for any other setting."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if match := _LINE_BREAKING.search(value):
        raise ValueError(
            f"holds a control character (U+{ord(match[0]):04X}); this setting must be one line "
            "of text, as it may go into an email header"
        )
    return value


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA timezone such as Europe/London") from None
    return name


# Validation context under which a feed may name a local file: only the config file gives it,
# since whoever writes that file may read the machine's files anyway. A form or an OPML file
# must not make Digest read /etc/passwd or /dev/zero.
LOCAL_FILES_ALLOWED = "local_files_allowed"


def _check_feed_url(value: str, info: ValidationInfo) -> str:
    """An http(s) URL with a host, or, in the config file only, a local file path (read when
    the feed is polled)."""
    if value.strip() and is_local_path(value) and not (info.context or {}).get(LOCAL_FILES_ALLOWED):
        raise ValueError(
            f"{value[:200]!r} is not a web address: a local file can be named only in the config "
            "file, so give the feed's full address, starting with https://"
        )
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value):
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("http", "https", "file"):
            raise ValueError(f"{value!r}: only http, https or a local file path can be polled")
        if scheme.lower() != "file" and not rest.split("/")[0].strip():
            raise ValueError(f"{value!r} has no host name")
    elif not value.strip():
        raise ValueError("the URL is empty")
    return value


Slug = Annotated[str, Field(pattern=SLUG_PATTERN, max_length=64)]
Line = Annotated[str, BeforeValidator(_check_one_line)]
Minutes = Annotated[int, BeforeValidator(parse_duration_minutes)]


def _check_citation_style(value: str) -> str:
    """A style the citations package has; a typo is told with the names nearest it."""
    return check_style(value)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Schedule(Strict):
    """When an edition goes out, and when its draft is made for the editors to review."""

    weekday: Weekday = "tuesday"
    time: dt.time = dt.time(9, 0)
    timezone: Annotated[str, AfterValidator(_check_timezone)] = DEFAULT_TIMEZONE
    draft_weekday: Weekday = "monday"
    draft_time: dt.time = dt.time(7, 0)

    @field_validator("weekday", "draft_weekday", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class NewsletterConfig(Strict):
    slug: Slug
    title: Line = Field(min_length=1, max_length=200)
    description: str = ""
    sections: list[Annotated[Line, Field(min_length=1, max_length=100)]] = Field(min_length=1)
    schedule: Schedule = Schedule()
    from_address: Line = Field(pattern=r"^(.*<)?[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>?$")
    reply_to: Line | None = Field(default=None, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    skip_when_empty: bool = True  # no edition in a week with nothing accepted
    when_nothing_matches: Literal["skip", "note"] = "note"  # for a subscriber's topics
    second_approver: bool = False  # two people: one approves, another built, edited or approved
    transport: Slug | None = None  # a name from `transports`; None: the default transport
    # Who sends it (the email's footer; the public pages' name): CAN-SPAM and PECR want the
    # sender identifiable, with a postal address.
    organisation: Line | None = Field(default=None, min_length=1, max_length=200)
    postal_address: str | None = Field(default=None, min_length=1, max_length=500)
    colour: Annotated[Line, AfterValidator(check_colour)] | None = None  # "#rrggbb"
    logo: Annotated[Line, AfterValidator(check_logo)] | None = None
    # How items are cited: a CSL style's name ("harvard-cite-them-right", "apa",
    # "vancouver", ...); None: the default, Cite Them Right Harvard. And whether the email
    # carries each item's citation (the archive always does).
    citation_style: Annotated[Line, AfterValidator(_check_citation_style)] | None = None
    citations_in_email: bool = True

    @field_validator("postal_address")
    @classmethod
    def _address_lines(cls, value: str | None) -> str | None:
        """Lines (a YAML block, or commas), each of plain text."""
        if value is None:
            return None
        lines = [" ".join(line.split()) for line in value.strip().splitlines()]
        if any(_LINE_BREAKING.search(line) for line in lines):
            raise ValueError("holds a control character; write the address as lines of text")
        return "\n".join(line for line in lines if line)

    @field_validator("sections")
    @classmethod
    def _unique_sections(cls, sections: list[str]) -> list[str]:
        seen = {s.casefold() for s in sections}
        if len(seen) != len(sections):
            raise ValueError("section names must be unique")
        return sections


class TopicConfig(Strict):
    slug: Slug
    label: Line = Field(min_length=1, max_length=200)
    description: str = ""
    keywords: list[Line] = []
    parent: Slug | None = None


def _named(info: ValidationInfo) -> str:
    name = info.data.get("name")
    return f"feed {name!r}" if name else "this feed"


_WHAT = {
    "pubmed": "is a PubMed search",
    "crossref": "is a journal at Crossref",
    "oai-pmh": "is a catalogue harvested over OAI-PMH",
}


class FeedConfig(Strict):
    name: Line = Field(min_length=1, max_length=200)
    # What is polled: a feed (RSS, Atom, RDF, JSON Feed), a PubMed search (`query`), a journal
    # at Crossref (`query`: its ISSN, or a Crossref filter) or a catalogue over OAI-PMH
    # (`query`: the set, if any). See `digest.ingest.sources`. Declared before the fields
    # whose rules depend on it, so that their checks can read it.
    type: SourceType = "feed"
    # A PubMed search or a Crossref journal may leave it out: the service is asked.
    url: Line = Field(default="", validate_default=True)
    newsletter: Slug
    section: Line
    topics: list[Slug] = []
    poll_interval: Minutes = 60
    enabled: bool = True
    allow_private_network: bool = False
    # Who readers are told an item comes from ("Source: …"); by default, the feed's name.
    publisher: Line | None = Field(default=None, min_length=1, max_length=200)
    query: Line | None = Field(default=None, min_length=1, max_length=2000, validate_default=True)
    # A source's own settings (OAI-PMH: metadata_prefix, from, record_url).
    options: dict[str, Line] = Field(default={}, validate_default=True)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")
        if not value and kind in SERVICE_URLS:
            return SERVICE_URLS[kind]
        if not value and kind is not None:
            what = (
                "an OAI-PMH catalogue needs its repository's base URL"
                if kind == "oai-pmh"
                else "a feed needs its address"
            )
            raise ValueError(f"{_named(info)} has no url: {what}")
        value = _check_feed_url(value, info)
        if kind in _WHAT and not re.match(r"^https?://", value, re.IGNORECASE):
            raise ValueError(
                f"{_named(info)} {_WHAT[kind]}, which Digest asks over the web, so its url must "
                "start with https:// (or http://)"
            )
        if kind == "oai-pmh" and "verb=" in value:
            raise ValueError(
                f"{_named(info)}: give the repository's base URL, without ?verb=… (for "
                "Koha: https://library.example.org/cgi-bin/koha/oai.pl)"
            )
        return value

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("type")
        if kind == "feed" and value is not None:
            raise ValueError(
                f"{_named(info)} is a feed, which takes no query (set type to pubmed, crossref "
                "or oai-pmh for a search, a journal or a catalogue)"
            )
        if kind in ("pubmed", "crossref") and value is None:
            needs = (
                "the search, as typed at PubMed"
                if kind == "pubmed"
                else "the journal's ISSN or a Crossref filter"
            )
            raise ValueError(f"{_named(info)} {_WHAT[kind]} and needs a query: {needs}")
        if kind == "crossref" and value is not None:
            try:
                return crossref_query(value)
            except ValueError as exc:
                raise ValueError(f"{_named(info)}: {exc}") from None
        if kind == "oai-pmh" and value is not None and not SET_SPEC.match(value):
            raise ValueError(
                f"{_named(info)}: the query of an OAI-PMH catalogue is the set to harvest "
                f"(a setSpec such as 'new-books'), and {value!r} is not one"
            )
        return value

    @field_validator("options", mode="before")
    @classmethod
    def _plain_options(cls, value: object) -> object:
        """A date or number written bare in YAML (`from: 2026-01-01`) is the text it shows."""
        if not isinstance(value, dict):
            return value
        return {key: as_text(item) for key, item in value.items()}

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        kind = info.data.get("type")
        if kind == "feed" and value:
            raise ValueError(f"{_named(info)} is a feed, which takes no options")
        try:
            if kind == "oai-pmh":
                return oai_options(value)
            if kind in ("pubmed", "crossref"):
                return service_options(kind, value)
        except ValueError as exc:
            raise ValueError(f"{_named(info)}: {exc}") from None
        return value


class DkimConfig(Strict):
    """DKIM signing: the key file holds an RSA private key (PEM); its public half is published
    in DNS at SELECTOR._domainkey.DOMAIN."""

    domain: Line = Field(min_length=3)
    selector: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    key_file: Line = Field(min_length=1)


class TransportConfig(Strict):
    """Where mail goes: `smtp://[user:password@]host:port` (`?starttls=1`), `smtps://…` or
    `maildir:PATH`. `${NAME}` in the URL is read from the environment, so passwords stay out
    of this file."""

    name: Slug
    url: Line = Field(pattern=r"^(smtps?://|maildir:)")
    connections: int = Field(default=MAIL_CONNECTIONS, ge=1, le=64)
    per_second: float | None = Field(default=None, gt=0)
    per_hour: int | None = Field(default=None, gt=0)
    dkim: DkimConfig | None = None


class DigestConfig(Strict):
    """The whole file. `extends` names another file whose newsletters and topics are used."""

    extends: str | None = None
    newsletters: list[NewsletterConfig] = []
    topics: list[TopicConfig] = []
    feeds: list[FeedConfig] = []
    transports: list[TransportConfig] = []

    def resolve_local_paths(self, base_dir: Path) -> None:
        """Make feed file paths absolute, relative to the file that names them."""
        for feed in self.feeds:
            if is_local_path(feed.url) and feed.url[:7].lower() != "file://":
                feed.url = str((base_dir / feed.url).resolve())
