"""Client addresses as rate limits count them: one key per place a request comes from."""

from __future__ import annotations

import ipaddress

IPV6_PREFIX = 64  # one machine (or one home) may hold a whole /64: count it as one place
MAX_KEY_LENGTH = 64  # the width of the columns that hold these keys


def network_of(address: str | None) -> str:
    """The key an address's requests are counted under: an IPv4 address as it is, an IPv6
    address as its /64 network (an IPv4 address mapped into IPv6 as the IPv4 address), and
    anything else (a proxy's odd value) cut to the column's width."""
    text = (address or "").strip()
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return text[:MAX_KEY_LENGTH] or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)
