"""An httpcore network backend that refuses non-public addresses after DNS resolution.

Checking the resolved address and then connecting to exactly that address means a DNS answer
that changes between check and connect (DNS rebinding) cannot reach an internal host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from digest.ingest.errors import BlockedAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 forms that carry an IPv4 address inside them: the IPv4 address is where a packet really
# goes (through a translator, a relay or the host's own stack), so it decides.
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 (SIIT)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291 2.5.5.1, deprecated
# Global unicast is the only IPv6 space the internet routes (RFC 4291 2.5.4).
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# Inside 2000::/3 yet never a public server, beyond what `is_global` already knows (Python
# 3.11 does not list these).
_NOT_PUBLIC_V6 = (
    ipaddress.IPv6Network("3fff::/20"),  # documentation, RFC 9637
    ipaddress.IPv6Network("2001:db8::/32"),  # documentation, RFC 3849
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address stands for, or None when it embeds none.

    Teredo gives two (its server and the client, whose bits are inverted); they must both be
    public. The NAT64 local-use prefix 64:ff9b:1::/48 (RFC 8215) is not listed: it may embed
    IPv4 at several offsets and is local by definition, so it is simply not global unicast.
    """
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _IPV4_TRANSLATED or address in _NAT64_WELL_KNOWN:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address in _IPV4_COMPATIBLE:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    return None


def _is_public_ipv4(address: ipaddress.IPv4Address) -> bool:
    return address.is_global and not address.is_multicast


def is_public_address(address: IPAddress) -> bool:
    """Whether Digest may connect to `address` for a feed not marked allow_private_network.

    An allowlist for IPv6 (global unicast only), so that any range Python does not yet know
    as special (site-local fec0::/10, NAT64 local use, ...) is refused rather than let through.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return _is_public_ipv4(address)
    inner = embedded_ipv4(address)
    if inner is not None:
        return all(_is_public_ipv4(a) for a in inner)
    return (
        address in _GLOBAL_UNICAST
        and address.is_global
        and not any(address in network for network in _NOT_PUBLIC_V6)
    )


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"DNS lookup of {host} failed: {exc}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        blocked = [a for a in addresses if not is_public_address(a)]
        if blocked:
            raise BlockedAddressError(
                f"{host} resolves to {blocked[0]}, a private or local network address. Digest "
                "does not fetch from those unless the feed is set to allow_private_network."
            )
        return await self._inner.connect_tcp(
            str(addresses[0]),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("Unix sockets are never fetched from")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PublicOnlyTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, its connection pool connecting through `PublicOnlyBackend`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # httpx offers no public hook for the network backend, so hand its pool ours.
        self._pool._network_backend = PublicOnlyBackend()
