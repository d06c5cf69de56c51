"""The SSRF guard: which resolved addresses a feed not marked allow_private_network may reach.

IPv6 forms that embed an IPv4 address are judged by the IPv4 address they carry, and IPv6
space that is not global unicast is refused, whatever Python's `is_global` says of it.
"""

from __future__ import annotations

import ipaddress

import pytest
from feedfactory import add_feed, rss, sample_entries
from pytest_httpserver import HTTPServer

from digest.ingest.errors import ErrorKind
from digest.ingest.fetch import FetchSettings
from digest.ingest.netguard import is_public_address
from digest.ingest.poll import poll_feeds

FAST = FetchSettings(connect_timeout=1, total_timeout=2)

NOT_PUBLIC = [
    ("127.0.0.1", "IPv4 loopback"),
    ("10.1.2.3", "IPv4 private"),
    ("169.254.169.254", "IPv4 link-local (cloud metadata)"),
    ("100.64.0.1", "IPv4 shared address space"),
    ("0.0.0.0", "IPv4 unspecified"),
    ("224.0.0.1", "IPv4 multicast"),
    ("::1", "IPv6 loopback"),
    ("::", "IPv6 unspecified"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:0:7f00:1", "IPv4-translated loopback"),
    ("::ffff:0:a9fe:a9fe", "IPv4-translated link-local"),
    ("::127.0.0.1", "IPv4-compatible loopback"),
    ("::10.0.0.1", "IPv4-compatible private"),
    ("64:ff9b::7f00:1", "NAT64 well-known prefix, loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 well-known prefix, link-local"),
    ("64:ff9b:1::7f00:1", "NAT64 local-use prefix"),
    ("64:ff9b:1:abcd::808:808", "NAT64 local-use prefix, public IPv4 inside"),
    ("2002:7f00:1::", "6to4 of loopback"),
    ("2002:c0a8:101::1", "6to4 of 192.168.1.1"),
    ("2001:0:7f00:1::", "Teredo, server loopback"),
    ("2001:0:808:808:0:0:80ff:fffe", "Teredo, obfuscated client 127.0.0.1"),
    ("2001:0:808:808:0:0:f5ff:fffe", "Teredo, obfuscated client 10.0.0.1"),
    ("fec0::1", "site-local (deprecated)"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fe80::1", "link-local"),
    ("ff02::1", "multicast"),
    ("100::1", "discard-only"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation (RFC 9637)"),
    ("4000::1", "outside global unicast"),
]

PUBLIC = [
    ("8.8.8.8", "IPv4 public"),
    ("2a00:1450:4009:81f::200e", "IPv6 global unicast"),
    ("::ffff:8.8.8.8", "IPv4-mapped public"),
    ("64:ff9b::808:808", "NAT64 well-known prefix, public"),
    ("2002:808:808::1", "6to4 of a public address"),
    ("2001:0:808:808:0:0:f7f7:f7f7", "Teredo, public server and client 8.8.8.8"),
]


@pytest.mark.parametrize(("address", "why"), NOT_PUBLIC, ids=[a for a, _ in NOT_PUBLIC])
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address)), why


@pytest.mark.parametrize(("address", "why"), PUBLIC, ids=[a for a, _ in PUBLIC])
def test_public_addresses_are_allowed(address: str, why: str) -> None:
    assert is_public_address(ipaddress.ip_address(address)), why


@pytest.mark.parametrize(
    "literal", ["::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "::ffff:0:7f00:1", "fec0::1"]
)
def test_feed_at_an_ipv6_literal_embedding_loopback_is_blocked(
    httpserver: HTTPServer, sqlite_factory, literal: str
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(rss(sample_entries()))
    url = f"http://[{literal}]:{httpserver.port}/feed.xml"
    add_feed(sqlite_factory, "Sneaky", url, allow_private_network=False)
    (outcome,) = poll_feeds(sqlite_factory, settings=FAST).outcomes
    assert outcome.problem.kind is ErrorKind.BLOCKED_ADDRESS
    assert "private or local network address" in outcome.problem.message
