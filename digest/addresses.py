"""Email addresses as they go on the wire: IDN domains as A-labels, a UTF-8 local part only
where the mail server accepts SMTPUTF8 (RFC 6531), and anything else refused with a reason a
person can act on. Also what to tell people, at entry, about an address they give."""

from __future__ import annotations

import re
from functools import lru_cache

import idna
from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3: a path is at most 256 octets, with its angle brackets
# An address that needs no conversion: printable ASCII atoms, an ASCII host name. Almost every
# address is one of these, and checking it costs about a microsecond.
_PLAIN = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class AddressError(ValueError):
    """The address cannot be sent to as it is; the message says why."""


def on_the_wire(address: str) -> str:
    """`address` as it goes in the envelope and the To header: its domain in A-labels, its
    local part as it is. A result that is not ASCII needs SMTPUTF8 to travel.

    Raises AddressError for what no mail server could take (a line break, bytes that are not
    text, more than 254 characters, not an address at all)."""
    if len(address) <= MAX_ADDRESS and _PLAIN.fullmatch(address):
        local = address.rpartition("@")[0]
        if len(local) <= 64:
            return address
    return _converted(address)


@lru_cache(maxsize=1024)
def _converted(address: str) -> str:
    if _CONTROL.search(address):
        raise AddressError(f"the address {address!r} holds a line break or control character")
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        raise AddressError(
            f"the address {address!r} is not valid text (it holds bytes that are not UTF-8)"
        ) from None
    if len(address.encode()) > MAX_ADDRESS:
        raise AddressError(
            f"the address is {len(address.encode())} bytes long; mail allows at most "
            f"{MAX_ADDRESS}: {address[:60]}…"
        )
    try:
        valid = validate_email(
            address, check_deliverability=False, globally_deliverable=False, allow_smtputf8=True
        )
    except EmailNotValidError as exc:
        raise AddressError(
            f"{address!r} is not an email address that mail can carry: {exc}"
        ) from None
    return valid.ascii_email or f"{valid.local_part}@{valid.ascii_domain}"


def ascii_domain(domain: str) -> str:
    """A domain in A-labels (UTS 46), e.g. bücher.example → xn--bcher-kva.example."""
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise AddressError(f"{domain!r} is not a domain name that mail can carry: {exc}") from None


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
