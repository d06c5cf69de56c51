"""Who a request comes from: its address as rate limits count it, and what it says about
itself (its address, its user agent) made safe to store. Both come from the client or a proxy,
so either may be anything: a NUL (which PostgreSQL refuses), line breaks, megabytes."""

from __future__ import annotations

import ipaddress

IPV6_PREFIX = 64  # one machine (or one home) may hold a whole /64: count it as one place
MAX_KEY_LENGTH = 64  # the width of the columns that hold these keys and addresses
MAX_AGENT_LENGTH = 500


def printable(text: str | None, length: int) -> str:
    """`text` without control characters, cut to `length` characters."""
    return "".join(c for c in (text or "")[: 4 * length] if c.isprintable())[:length]


def client_address(raw: str | None) -> str:
    """An address to store: an IP address as it is, anything else printable and cut down."""
    text = (raw or "").strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return printable(text, MAX_KEY_LENGTH) or "unknown"


def user_agent(raw: str | None) -> str:
    return printable(raw, MAX_AGENT_LENGTH)


def network_of(address: str | None) -> str:
    """The key an address's requests are counted under: an IPv4 address as it is, an IPv6
    address as its /64 network (an IPv4 address mapped into IPv6 as the IPv4 address), and
    anything else (a proxy's odd value) cut to the column's width."""
    text = (address or "").strip()
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return printable(text, MAX_KEY_LENGTH) or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)
