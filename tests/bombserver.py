"""An HTTP server in a process of its own, serving compression bombs, so that a test measuring
its own memory counts the client's alone.

Run as `python bombserver.py`: it prints its port, then serves `/stacked` (`Content-Encoding:
gzip, gzip`; 1 GiB of zeros inside, about 2 KB on the wire) until it is killed.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GiB = 2**30


def gzip_of_zeros(size: int, level: int = 9) -> bytes:
    """gzip of `size` zero bytes, compressed a MiB at a time (never `size` in memory)."""
    packer = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(2**20)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, packer.flush()])


class _Bombs(BaseHTTPRequestHandler):
    stacked = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Encoding", "gzip, gzip")
        self.send_header("Content-Length", str(len(self.stacked)))
        self.end_headers()
        self.wfile.write(self.stacked)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def bomb_server() -> Iterator[str]:
    """The server's base URL, e.g. http://127.0.0.1:PORT (loopback)."""
    process = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.kill()
        process.wait()


if __name__ == "__main__":
    _Bombs.stacked = gzip.compress(gzip_of_zeros(GiB), 9)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bombs)
    print(server.server_address[1], flush=True)
    server.serve_forever()
