"""Email addresses as they go on the wire: IDN domains as A-labels, a UTF-8 local part only
where the mail server accepts SMTPUTF8 (RFC 6531), and anything else refused with a reason a
person can act on. Also what to tell people, at entry, about an address they give."""

from __future__ import annotations

import re
from functools import lru_cache

import idna

from digest.errors import Invalid

MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3: a path is at most 256 octets, with its angle brackets
MAX_LOCAL = 64  # RFC 5321 4.5.3.1.1, in octets
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ASCII_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"  # RFC 5322 3.2.3
# A dot-atom of atext, or of any non-ASCII letter (RFC 6531 3.3). Quoted local parts are not
# taken: sign-up and import refuse them too.
_ATEXT = rf"(?:{_ASCII_ATEXT}|[^\x00-\x7f])+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # RFC 1035 2.3.1
_HOST_PATTERN = rf"{_LABEL}(?:\.{_LABEL})+"
_HOST = re.compile(_HOST_PATTERN)
# An address that needs no conversion: ASCII atoms, an ASCII host name. Almost every address
# is one of these, and checking it costs about a microsecond.
_PLAIN = re.compile(rf"{_ASCII_ATEXT}{{1,64}}(?:\.{_ASCII_ATEXT}+)*@{_HOST_PATTERN}")


class AddressError(Invalid):
    """The address cannot be sent to as it is; the message says why."""


def on_the_wire(address: str) -> str:
    """`address` as it goes in the envelope and the To header: its domain in A-labels, its
    local part as it is. A result that is not ASCII needs SMTPUTF8 to travel.

    Raises AddressError for what no mail server could take (a line break, bytes that are not
    text, more than 254 characters, not an address at all)."""
    plain = len(address) <= MAX_ADDRESS and _PLAIN.fullmatch(address)
    if plain and len(address.rpartition("@")[0]) <= MAX_LOCAL:
        return address
    return _converted(address)


@lru_cache(maxsize=1024)
def _converted(address: str) -> str:
    """The careful way, for the rare address that is not plain ASCII (or is not well formed).
    Syntax only: whether the domain takes mail is the receiving server's to say."""
    if _CONTROL.search(address):
        raise AddressError(f"the address {address!r} holds a line break or control character")
    try:
        size = len(address.encode("utf-8"))
    except UnicodeEncodeError:
        raise AddressError(
            f"the address {address!r} is not valid text (it holds bytes that are not UTF-8)"
        ) from None
    if size > MAX_ADDRESS:
        raise AddressError(
            f"the address is {size} bytes long; mail allows at most {MAX_ADDRESS}: {address[:60]}…"
        )
    local, at, domain = address.rpartition("@")
    if not (at and local and domain):
        raise AddressError(
            f"{address!r} is not an email address: it needs text either side of an @"
        )
    if not _LOCAL.fullmatch(local):
        raise AddressError(
            f"{address!r} is not an email address mail can carry: the part before the @ may "
            "hold letters, digits and !#$%&'*+-/=?^_`{|}~, and dots between them"
        )
    if len(local.encode()) > MAX_LOCAL:
        raise AddressError(
            f"{address!r} has {len(local.encode())} bytes before the @; mail allows {MAX_LOCAL}"
        )
    return f"{local}@{ascii_domain(domain)}"


def ascii_domain(domain: str) -> str:
    """A domain in A-labels (UTS 46), e.g. bücher.example → xn--bcher-kva.example."""
    try:
        converted = domain if domain.isascii() else idna.encode(domain, uts46=True).decode()
    except (idna.IDNAError, UnicodeError) as exc:
        raise AddressError(f"{domain!r} is not a domain name that mail can carry: {exc}") from None
    if not _HOST.fullmatch(converted):
        raise AddressError(
            f"{domain!r} is not a domain name that mail can carry: it needs labels of letters, "
            "digits and hyphens with dots between them"
        )
    return converted


def needs_smtputf8(wire_address: str) -> bool:
    return not wire_address.isascii()


def entry_note(address: str) -> str | None:
    """What to tell someone giving `address`, or None when it is delivered like any other.
    (IDN domains need no note: they are sent as A-labels, which every server takes.)"""
    if address.rpartition("@")[0].isascii():
        return None
    return (
        f"{address} has letters outside plain ASCII before the “@”. Email can reach it only "
        "where the mail servers on the way accept international addresses (SMTPUTF8); where "
        "they do not, that delivery is marked failed with this reason and nothing is sent."
    )


def import_note(rows: list[int]) -> str:
    """One line for an import report: which rows hold addresses only SMTPUTF8 can reach."""
    listed = ", ".join(str(n) for n in rows)
    return (
        f"row{'s' if len(rows) > 1 else ''} {listed}: imported, but with letters outside plain "
        "ASCII before the “@”; mail reaches such an address only where the mail servers on "
        "the way accept international addresses (SMTPUTF8), and elsewhere its deliveries are "
        "marked failed with that reason"
    )
