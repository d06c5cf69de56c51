"""What a feed server sends costs Digest a bounded amount: content encodings are undone in
steps and stopped at the body cap, however they are stacked; encodings Digest cannot read are
refused by name. Served from real HTTP servers on loopback, the bombs from another process so
that the peak of memory measured here is Digest's alone."""

from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import pytest
from bombserver import bomb_server
from feedfactory import add_feed, get_feed, rss, sample_entries
from pytest_httpserver import HTTPServer
from werkzeug import Response

from digest.curation.manual import ManualItemError, fetch_description
from digest.ingest.errors import ErrorKind
from digest.ingest.fetch import Fetcher, FetchRequest, FetchSettings
from digest.ingest.poll import poll_feeds

FEED = rss(sample_entries(count=2))
SETTINGS = FetchSettings(connect_timeout=2, total_timeout=20)


@pytest.fixture(scope="module")
def bombs() -> Iterator[str]:
    """Base URL of a server in another process (so that only Digest's memory is measured);
    its `/stacked` says `Content-Encoding: gzip, gzip`: about 2 KB on the wire, 1 GiB inside."""
    with bomb_server() as url:
        yield url


def _serve(httpserver: HTTPServer, body: bytes, *encodings: str, path: str = "/feed") -> str:
    headers = [("Content-Encoding", value) for value in encodings]
    httpserver.expect_request(path).respond_with_response(
        Response(body, headers=headers, content_type="application/rss+xml")
    )
    return httpserver.url_for(path)


def _measured(action: Callable[[], object]) -> tuple[object, float, int]:
    """What `action` returned, its seconds, and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = action()
        return result, time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _poll(factory):
    (outcome,) = poll_feeds(factory, settings=SETTINGS).outcomes
    return outcome


@pytest.mark.alone
def test_a_stacked_gzip_bomb_stops_at_the_cap_in_bounded_memory(bombs: str, sqlite_factory) -> None:
    feed_id = add_feed(sqlite_factory, "Bomb", f"{bombs}/stacked")
    outcome, seconds, peak = _measured(lambda: _poll(sqlite_factory))
    assert outcome.problem.kind is ErrorKind.TOO_LARGE
    assert "larger than 15 MiB once decompressed" in get_feed(sqlite_factory, feed_id).last_error
    # The cap (15 MiB) and a little: nothing near the 1 GiB inside (2 GiB before).
    assert peak < 48 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert seconds < 5, f"took {seconds:.1f} s"


@pytest.mark.alone
def test_the_stacked_bomb_through_add_item_by_address_is_bounded_too(bombs: str) -> None:
    def fetch() -> str:
        with pytest.raises(ManualItemError) as refused:
            fetch_description(f"{bombs}/stacked", allow_private_network=True)
        return str(refused.value)

    message, seconds, peak = _measured(fetch)
    assert "larger than 15 MiB once decompressed" in message
    assert peak < 48 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert seconds < 5


def test_a_small_cap_holds_to_within_a_step(bombs: str) -> None:
    """The fetcher alone: what it holds is the cap and a few 64 KiB steps."""
    small = FetchSettings(connect_timeout=2, total_timeout=20, max_body_bytes=2**20)

    async def fetch():
        async with Fetcher(small) as fetcher:
            return await fetcher.fetch(
                FetchRequest(1, f"{bombs}/stacked", allow_private_network=True)
            )

    asyncio.run(fetch())  # the first fetch sets up what all share (TLS contexts): not counted
    result, _, peak = _measured(lambda: asyncio.run(fetch()))
    assert result.problem.kind is ErrorKind.TOO_LARGE
    assert peak < 3 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


READABLE = {
    "gzip": (gzip.compress(FEED), ["gzip"]),
    "x-gzip": (gzip.compress(FEED), ["x-gzip"]),
    "deflate (zlib)": (zlib.compress(FEED), ["deflate"]),
    "deflate (raw)": (_raw_deflate(FEED), ["deflate"]),
    "gzip, gzip": (gzip.compress(gzip.compress(FEED)), ["gzip, gzip"]),
    "deflate then gzip, two headers": (gzip.compress(zlib.compress(FEED)), ["deflate", "gzip"]),
    "identity, gzip": (gzip.compress(FEED), ["Identity, GZIP"]),
    "none": (FEED, []),
}


@pytest.mark.parametrize(("body", "encodings"), READABLE.values(), ids=READABLE.keys())
def test_feeds_in_any_encoding_digest_reads_are_read(
    httpserver: HTTPServer, sqlite_factory, body: bytes, encodings: list[str]
) -> None:
    add_feed(sqlite_factory, "Encoded", _serve(httpserver, body, *encodings))
    outcome = _poll(sqlite_factory)
    assert outcome.problem is None and outcome.counts.new == 2


REFUSED = {
    "three stacked": (gzip.compress(gzip.compress(gzip.compress(FEED))), ["gzip, gzip, gzip"]),
    "a thousand stacked": (FEED, [", ".join(["gzip"] * 1000)]),
    "br": (FEED, ["br"]),
    "zstd": (FEED, ["zstd"]),
    "compress": (FEED, ["compress"]),
    "unknown": (FEED, ["x-digest-test"]),
    "damaged gzip": (gzip.compress(FEED)[:40] + b"\x00" * 64, ["gzip"]),
}
REASONS = {
    "three stacked": "applied 3 content encodings one over another",
    "a thousand stacked": "applied 1000 content encodings",
    "br": "content encoding Digest cannot read (br)",
    "zstd": "cannot read (zstd)",
    "compress": "cannot read (compress)",
    "unknown": "cannot read (x-digest-test)",
    "damaged gzip": "its data is damaged",
}


@pytest.mark.parametrize(("body", "encodings"), REFUSED.values(), ids=REFUSED.keys())
def test_encodings_digest_cannot_undo_are_refused_by_name(
    httpserver: HTTPServer, sqlite_factory, body: bytes, encodings: list[str], request
) -> None:
    feed_id = add_feed(sqlite_factory, "Odd", _serve(httpserver, body, *encodings))
    outcome = _poll(sqlite_factory)
    assert outcome.problem.kind is ErrorKind.PARSE_ERROR
    assert REASONS[request.node.callspec.id] in get_feed(sqlite_factory, feed_id).last_error


def test_digest_asks_only_for_the_encodings_it_reads(
    httpserver: HTTPServer, sqlite_factory
) -> None:
    url = _serve(httpserver, FEED)
    add_feed(sqlite_factory, "Plain", url)
    _poll(sqlite_factory)
    ((request, _),) = httpserver.log
    assert request.headers["Accept-Encoding"] == "gzip, deflate"
