"""The web app served over real HTTP on loopback by waitress, as `digest serve` serves it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from waitress.server import create_server


@contextmanager
def served_over_http(app: Flask, port: int = 0) -> Iterator[str]:
    """Serves `app` until the block ends; yields its address (http://127.0.0.1:PORT)."""
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:
            # Its sockets are closed from this thread while its loop waits on them: the loop
            # then ends with "bad file descriptor", which is the stop asked for.
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        stopping.set()
        server.close()
        thread.join(timeout=10)
