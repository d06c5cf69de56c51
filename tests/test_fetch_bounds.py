"""What a feed server sends costs Digest a bounded amount: content encodings are undone in
steps and stopped at the body cap, however they are stacked; encodings Digest cannot read are
refused by name. Served from a real HTTP server on loopback; peak memory is measured."""

from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from feedfactory import add_feed, get_feed, rss, sample_entries
from pytest_httpserver import HTTPServer
from werkzeug import Response

from digest.curation.manual import ManualItemError, fetch_description
from digest.ingest.errors import ErrorKind
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import poll_feeds

GiB = 2**30
SETTINGS = FetchSettings(connect_timeout=2, total_timeout=20)


def _gzip_stream(size: int, level: int = 9) -> bytes:
    """gzip of `size` zero bytes, compressed a MiB at a time (never `size` in memory)."""
    packer = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(2**20)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, packer.flush()])


@pytest.fixture(scope="module")
def stacked_bomb() -> bytes:
    """`Content-Encoding: gzip, gzip`: about 2 KB on the wire, 1 GiB inside."""
    return gzip.compress(_gzip_stream(GiB), 9)


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


def test_a_stacked_gzip_bomb_stops_at_the_cap_in_bounded_memory(
    httpserver: HTTPServer, sqlite_factory, stacked_bomb: bytes
) -> None:
    assert len(stacked_bomb) < 10_000
    feed_id = add_feed(sqlite_factory, "Bomb", _serve(httpserver, stacked_bomb, "gzip, gzip"))
    outcome, seconds, peak = _measured(lambda: _poll(sqlite_factory))
    assert outcome.problem.kind is ErrorKind.TOO_LARGE
    assert "larger than 15 MiB once decompressed" in get_feed(sqlite_factory, feed_id).last_error
    # The cap (15 MiB) and a little: nothing near the 1 GiB inside.
    assert peak < 48 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert seconds < 5, f"took {seconds:.1f} s"


def test_the_stacked_bomb_through_add_item_by_address_is_bounded_too(
    httpserver: HTTPServer, stacked_bomb: bytes
) -> None:
    url = _serve(httpserver, stacked_bomb, "gzip", "gzip", path="/page")

    def fetch() -> str:
        with pytest.raises(ManualItemError) as refused:
            fetch_description(url, allow_private_network=True)
        return str(refused.value)

    message, seconds, peak = _measured(fetch)
    assert "larger than 15 MiB once decompressed" in message
    assert peak < 48 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert seconds < 5


def test_a_small_cap_holds_to_within_a_step(
    httpserver: HTTPServer, sqlite_factory, stacked_bomb: bytes
) -> None:
    add_feed(sqlite_factory, "Bomb", _serve(httpserver, stacked_bomb, "gzip, gzip"))
    small = FetchSettings(connect_timeout=2, total_timeout=20, max_body_bytes=2**20)
    outcome, _, peak = _measured(lambda: poll_feeds(sqlite_factory, settings=small).outcomes[0])
    assert outcome.problem.kind is ErrorKind.TOO_LARGE
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


FEED = rss(sample_entries(count=2))
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
