"""Undoing a response's Content-Encoding in bounded steps, so the body cap holds for what the
encodings unpack to, not for what arrives.

httpx decodes each chunk whole: a 64 KiB chunk of `gzip, gzip` unpacks to gigabytes before any
cap could look at it. Here every decompressor is asked for at most STEP bytes at a time, and
the layers are chained step by step, so memory stays within a few steps per layer, and the
reader stops as soon as the decoded total passes its cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from digest.errors import Invalid

STEP = 64 * 1024
# Servers apply one coding; two happen when a proxy compresses again. More is no real server.
MAX_CODINGS = 2
# What Digest reads, hence what it asks for (httpx would also offer br and zstd when their
# packages happen to be installed, and then decode them whole).
ACCEPT_ENCODING = "gzip, deflate"
_ALIASES = {"x-gzip": "gzip"}


class EncodingProblem(Invalid):
    """The body's encoding cannot be undone; the message says why in a librarian's words."""


class _Inflater:
    """gzip or deflate (zlib-wrapped, or raw as some servers send it), in steps."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._raw_fallback = coding == "deflate"
        self._started = False
        wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
        self._inflate = zlib.decompressobj(wbits)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._inflate.decompress(data, STEP)
            except zlib.error as exc:
                if self._raw_fallback and not self._started:
                    self._raw_fallback = False
                    self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise EncodingProblem(
                    f"The feed is sent {self.coding}-compressed, but its data is damaged ({exc})."
                ) from None
            self._started = True
            if out:
                yield out
            data = self._inflate.unconsumed_tail
            # A full step may leave output inside zlib even with all input taken: ask again.
            if not data and len(out) < STEP:
                return

    def finish(self) -> Iterator[bytes]:
        yield from self.feed(b"")


def codings(header_values: Iterable[str]) -> list[str]:
    """The codings a response names, in the order they were applied; identity left out.
    EncodingProblem for one Digest cannot read, or for too many."""
    names = [
        _ALIASES.get(name, name)
        for value in header_values
        for name in (part.strip().lower() for part in value.split(","))
        if name and name != "identity"
    ]
    if len(names) > MAX_CODINGS:
        raise EncodingProblem(
            f"The server applied {len(names)} content encodings one over another "
            f"({', '.join(names[:6])}{'…' if len(names) > 6 else ''}); Digest undoes at most "
            f"{MAX_CODINGS}."
        )
    unknown = [name for name in names if name not in ("gzip", "deflate")]
    if unknown:
        raise EncodingProblem(
            f"The server sent the feed in a content encoding Digest cannot read "
            f"({unknown[0][:40]}); it asks for gzip or deflate only."
        )
    return names


class BoundedDecoder:
    """Feeds raw body chunks through every coding, last applied first, in bounded steps."""

    def __init__(self, applied: list[str]) -> None:
        self._layers = [_Inflater(name) for name in reversed(applied)]

    def _through(self, chunks: Iterable[bytes], layer: int) -> Iterator[bytes]:
        if layer == len(self._layers):
            yield from chunks
            return
        inflater = self._layers[layer]
        for chunk in chunks:
            yield from self._through(inflater.feed(chunk), layer + 1)

    def decode(self, raw: bytes) -> Iterator[bytes]:
        """Decoded pieces of at most STEP bytes each, produced lazily: the consumer stops
        pulling when its cap is passed, and nothing more is unpacked."""
        return self._through([raw], 0)

    def finish(self) -> Iterator[bytes]:
        for layer, inflater in enumerate(self._layers):
            yield from self._through(inflater.finish(), layer + 1)
