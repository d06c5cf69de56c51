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


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


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
