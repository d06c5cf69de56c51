"""Reading subscriber list files as other tools really write them: our own export, Mailchimp's
audience exports (subscribed, unsubscribed and cleaned: three files, the last two without a
status column) and listmonk's subscriber export. Pure: text in, rows and row errors out.

Mailchimp writes times as `2024-03-05 10:11:12` (UTC), quotes a field that holds a space, and
puts tags in one cell as a quoted list, `"A","B"`. listmonk writes Go's `time.Time` text
(`2021-02-11 18:28:31.455849 +0000 UTC`) and its attributes as JSON.

A row is checked against what the database takes (the lengths of the model's columns, no
control characters) here, before anything is written: a bad row is one error, never a
failed transaction.
"""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from email_validator import EmailNotValidError, validate_email

from digest import csvfiles
from digest.models import ConsentEvent, Subscriber, SubscriberStatus
from digest.subscriptions.suppression import Reason

COLUMNS = (
    "email",
    "name",
    "status",
    "topics",
    "consent_source",
    "consent_at",
    "consent_ip",
    "confirmed_at",
)
# A status word (of our export, or of a list from elsewhere) and, where it says the person
# left, why they are held back.
STATUSES: dict[str, tuple[SubscriberStatus, Reason | None]] = {
    "active": (SubscriberStatus.ACTIVE, None),
    "subscribed": (SubscriberStatus.ACTIVE, None),
    "enabled": (SubscriberStatus.ACTIVE, None),
    "confirmed": (SubscriberStatus.ACTIVE, None),
    "pending": (SubscriberStatus.PENDING, None),
    "unconfirmed": (SubscriberStatus.PENDING, None),
    "unsubscribed": (SubscriberStatus.UNSUBSCRIBED, Reason.UNSUBSCRIBED),
    "disabled": (SubscriberStatus.UNSUBSCRIBED, Reason.UNSUBSCRIBED),  # listmonk
    "blocklisted": (SubscriberStatus.SUPPRESSED, Reason.BLOCKLISTED),  # listmonk
    "cleaned": (SubscriberStatus.SUPPRESSED, Reason.CLEANED),  # Mailchimp
    "bounced": (SubscriberStatus.SUPPRESSED, Reason.BOUNCED),
    "complained": (SubscriberStatus.SUPPRESSED, Reason.COMPLAINED),
    "suppressed": (SubscriberStatus.SUPPRESSED, Reason.SUPPRESSED),
}

# What the database takes, from the models, so that no row fails its insert.
MAX_NAME = Subscriber.__table__.c.name.type.length
MAX_EMAIL = Subscriber.__table__.c.email.type.length
MAX_IP = ConsentEvent.__table__.c.ip.type.length
MAX_SOURCE = ConsentEvent.__table__.c.form.type.length
_GO_TIME = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d{1,9}))? ([+-]\d{4})(?: [A-Za-z0-9+-]+)?"
    r"(?: m=[+-][\d.]+)?"
)


class Format(enum.StrEnum):
    OURS = "Digest export"
    MAILCHIMP = "Mailchimp export"
    LISTMONK = "listmonk export"


_TAKEN = {  # the columns whose cells are stored, of each format
    Format.OURS: COLUMNS,
    Format.MAILCHIMP: (
        "email", "first name", "last name", "optin_time", "optin_ip", "confirm_time",
        "confirm_ip", "tags", "unsub_time", "clean_time", "unsub_reason", "unsub_reason_other",
        "unsub_campaign_title", "clean_campaign_title", "status",
    ),
    Format.LISTMONK: ("email", "name", "status", "created_at"),
}  # fmt: skip


@dataclass(frozen=True)
class ListRow:
    """One person of a list file, in our terms."""

    number: int  # the row's number in the file, the header being row 1
    email: str  # normalised, lower case
    name: str
    status: SubscriberStatus
    left: Reason | None  # why they are held back, when the row says they left
    topics: tuple[str, ...] = ()  # topic slugs or labels: each must name a topic
    tags: tuple[str, ...] = ()  # Mailchimp tags: topics where they name one
    consent_at: datetime | None = None
    confirmed_at: datetime | None = None
    left_at: datetime | None = None
    consent_ip: str | None = None
    consent_source: str | None = None
    left_detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RowError:
    number: int
    message: str

    def __str__(self) -> str:
        return f"row {self.number}: {self.message}"


@dataclass
class ListFile:
    format: Format
    rows: Iterator[ListRow | RowError]  # read as they are taken, in the file's order


def when(value: str, column: str) -> datetime | None:
    """A time as any of the three tools writes it; naive times are UTC."""
    value = value.strip()
    if not value:
        return None
    if match := _GO_TIME.fullmatch(value):
        fraction = (match[2] or "0")[:6].ljust(6, "0")
        parsed = datetime.strptime(f"{match[1]}.{fraction} {match[3]}", "%Y-%m-%d %H:%M:%S.%f %z")
        return parsed.astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{column} {value!r} is not a date and time") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _format(columns: list[str]) -> Format | None:
    if "email address" in columns:
        return Format.MAILCHIMP
    if {"uuid", "email", "attributes", "status"} <= set(columns):
        return Format.LISTMONK
    return Format.OURS if "email" in columns else None


def _tags(cell: str) -> tuple[str, ...]:
    """Mailchimp's tags cell: `"A","B"` (a tag may hold a comma inside its quotes)."""
    if not cell.strip():
        return ()
    return tuple(t.strip() for t in next(csv.reader([cell], skipinitialspace=True)) if t.strip())


def _status(values: dict[str, str], kind: Format) -> tuple[SubscriberStatus, Reason | None]:
    if kind is Format.MAILCHIMP and "unsub_time" in values:
        return SubscriberStatus.UNSUBSCRIBED, Reason.UNSUBSCRIBED
    if kind is Format.MAILCHIMP and "clean_time" in values:
        return SubscriberStatus.SUPPRESSED, Reason.CLEANED
    word = (values.get("status") or "active").lower()
    if word not in STATUSES:
        raise ValueError(f"unknown status {values['status']!r}")
    return STATUSES[word]


def _name(value: str) -> str:
    name = " ".join(value.split())
    if len(name) > MAX_NAME:
        raise ValueError(f"the name has {len(name):,} characters, over the {MAX_NAME} taken")
    return name


def _row(number: int, values: dict[str, str], kind: Format) -> ListRow:
    address = validate_email(values.get("email", ""), check_deliverability=False)
    email = address.normalized.lower()
    if len(email) > MAX_EMAIL:  # (validation allows fewer: this holds whatever it allows)
        raise ValueError(f"the address has {len(email):,} characters, over the {MAX_EMAIL} taken")
    status, left = _status(values, kind)
    common = {"number": number, "email": email, "status": status}
    if kind is Format.MAILCHIMP:
        first, last = values.get("first name", ""), values.get("last name", "")
        left_column = "unsub_time" if "unsub_time" in values else "clean_time"
        left_at = when(values.get(left_column, ""), left_column.upper())
        detail = {
            "reason": values.get("unsub_reason", ""),
            "reason_other": values.get("unsub_reason_other", ""),
            "campaign": values.get("unsub_campaign_title") or values.get("clean_campaign_title"),
        }
        return ListRow(
            **common,
            name=_name(" ".join(filter(None, [first, last]))),
            left=left,
            tags=_tags(values.get("tags", "")),
            consent_at=when(values.get("optin_time", ""), "OPTIN_TIME")
            or when(values.get("confirm_time", ""), "CONFIRM_TIME"),
            confirmed_at=when(values.get("confirm_time", ""), "CONFIRM_TIME"),
            left_at=left_at,
            consent_ip=_ip(values.get("optin_ip") or values.get("confirm_ip")),
            left_detail={k: v for k, v in detail.items() if v},
        )
    if kind is Format.LISTMONK:
        return ListRow(
            **common,
            name=_name(values.get("name", "")),
            left=left,
            consent_at=when(values.get("created_at", ""), "created_at"),
        )
    wanted = values.get("topics", "").replace(";", ",").split(",")
    return ListRow(
        **common,
        name=_name(values.get("name", "")),
        left=left,
        topics=tuple(t.strip() for t in wanted if t.strip()),
        consent_at=when(values.get("consent_at", ""), "consent_at"),
        confirmed_at=when(values.get("confirmed_at", ""), "confirmed_at"),
        consent_ip=_ip(values.get("consent_ip")),
        consent_source=values.get("consent_source") or None,
    )


def _ip(value: str | None) -> str | None:
    if value and len(value) > MAX_IP:
        raise ValueError(f"the consent IP has {len(value):,} characters, over the {MAX_IP} taken")
    return value or None


def person(address: str, name: str, topics: Sequence[str], source: str) -> ListRow:
    """One person that staff add by hand, as a row of a list; ValueError for a bad address."""
    try:
        valid = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{address!r} is not an email address ({exc})") from None
    return ListRow(
        number=1,
        email=valid.normalized.lower(),
        name=" ".join(name.split())[:200],
        status=SubscriberStatus.ACTIVE,
        left=None,
        topics=tuple(t.strip() for t in topics if t.strip()),
        consent_source=source,
    )


def read_list(found: csvfiles.CsvFile) -> ListFile:
    """The rows of a list file, read as they are taken; CsvFileError when it has no email
    column. Bad rows come as RowErrors and do not stop the rest."""
    kind = _format(found.columns)
    if kind is None:
        raise csvfiles.CsvFileError(
            f"no email column in the first row (expected: {', '.join(COLUMNS)})"
        )
    columns = ["email" if c == "email address" else c for c in found.columns]
    return ListFile(kind, _rows(found, columns, kind))


def _rows(
    found: csvfiles.CsvFile, columns: list[str], kind: Format
) -> Iterator[ListRow | RowError]:
    taken = _TAKEN[kind]
    for record in found.records:
        number = record.number
        if record.problem:
            yield RowError(number, record.problem)
            continue
        cells = record.cells
        if len(cells) < len(columns):  # a short row: the cells it lacks are empty
            cells = cells + [""] * (len(columns) - len(cells))
        values = {k: v.strip() for k, v in zip(columns, cells, strict=False)}
        if kind is Format.OURS:  # our export quoted cells a spreadsheet would run
            values = {k: csvfiles.restore(v) for k, v in values.items()}
        if record.control and (problem := csvfiles.control_problem(values, taken)):
            yield RowError(number, problem)
            continue
        try:
            yield _row(number, values, kind)
        except EmailNotValidError as exc:
            yield RowError(number, f"{values.get('email', '')!r} is not an email address ({exc})")
        except ValueError as exc:
            yield RowError(number, str(exc))
