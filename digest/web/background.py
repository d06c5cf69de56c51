"""The web app's sender of what the public forms queued (`subscriptions.requests`): a thread
that a request wakes after it commits, and that also looks every half minute for requests
another process left behind."""

from __future__ import annotations

import logging
import threading
import time
import weakref

from sqlalchemy.orm import Session, sessionmaker

from digest.subscriptions import requests

log = logging.getLogger(__name__)
LOOK_AGAIN_SECONDS = 30.0
_started: weakref.WeakSet[RequestSender] = weakref.WeakSet()


class RequestSender:
    def __init__(self, factory: sessionmaker[Session], mail: requests.Mail) -> None:
        self._factory = factory
        self._mail = mail
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Something was queued: send it now. The thread starts on the first call, so an app
        that never queues anything runs no thread."""
        with self._lock:
            if self._thread is None:
                self._stopping.clear()
                self._thread = threading.Thread(
                    target=self._run, name="public-form-mail", daemon=True
                )
                self._thread.start()
                _started.add(self)
        self._idle.clear()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(LOOK_AGAIN_SECONDS)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                requests.process_all(self._factory, self._mail, self._stopping.is_set)
            except Exception:  # the database is away: try again at the next wake or look
                log.exception("could not send what the public forms asked for")
            if not self._wake.is_set():
                self._idle.set()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far has been processed (tests, and shutdown)."""
        deadline = time.monotonic() + timeout
        self.wake()
        while time.monotonic() < deadline:
            if self._idle.wait(0.05):
                with self._factory() as session:
                    if requests.pending(session) == 0:
                        return
                self.wake()
        raise TimeoutError(f"public-form mail still waiting after {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread once the request in hand is processed; a later `wake` starts a new
        one. What is still queued stays queued, for the next start or another process."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping.set()
            self._wake.set()
        if thread is not None:
            thread.join(timeout)


def stop_all() -> None:
    """Stop every sender this process started: before its database goes away (tests), so
    that no thread is left writing to it."""
    for sender in list(_started):
        sender.stop()
