"""Why a poll failed, classified, and said in words a librarian can act on."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from enum import StrEnum

import httpx


class ErrorKind(StrEnum):
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"
    RATE_LIMITED = "rate_limited"  # 429 or 503: the server asked us to come back later
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    NOT_A_FEED = "not_a_feed"
    PARSE_ERROR = "parse_error"
    BLOCKED_ADDRESS = "blocked_address"
    FILE = "file"
    # A feed that was read, but with a problem worth knowing about; it is not a failure.
    WARNING = "warning"


@dataclass(frozen=True)
class FeedProblem:
    kind: ErrorKind
    message: str
    http_status: int | None = None


class BlockedAddressError(httpx.ConnectError):
    """The host resolves to an address Digest must not fetch from (loopback, private, ...)."""


_STATUS_WORDS = {
    400: "The server rejected the request as malformed (400 Bad Request).",
    401: "The feed needs a login (401 Unauthorized); Digest cannot read it without one.",
    403: "The server refused access to the feed (403 Forbidden). It may block automated readers.",
    404: "The feed was not found (404 Not Found). The address may have changed: check the site "
    "for its new feed address.",
    410: "The publisher has removed this feed for good (410 Gone). The feed has been paused.",
    429: "The server asked Digest to slow down (429 Too Many Requests).",
    503: "The server is temporarily unavailable (503 Service Unavailable).",
}


def status_problem(status: int, reason: str) -> FeedProblem:
    words = _STATUS_WORDS.get(status)
    if status in (429, 503):
        return FeedProblem(ErrorKind.RATE_LIMITED, _STATUS_WORDS[status], status)
    if words is None and status >= 500:
        words = f"The server had an internal problem ({status} {reason}). It is usually temporary."
    if words is None:
        words = f"The server answered {status} {reason} instead of the feed."
    return FeedProblem(ErrorKind.HTTP_STATUS, words, status)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify_exception(exc: BaseException, host: str, total_timeout: float) -> FeedProblem:
    """Turn whatever the HTTP stack raised into a classified problem with a plain sentence."""
    chain = _causes(exc)
    for cause in chain:
        if isinstance(cause, BlockedAddressError):
            return FeedProblem(ErrorKind.BLOCKED_ADDRESS, str(cause))
        if isinstance(cause, socket.gaierror):
            return FeedProblem(
                ErrorKind.DNS,
                f"The server name {host} could not be found (DNS "
                "lookup failed). Check the address for typos; the site may have "
                "moved or closed.",
            )
        if isinstance(cause, ssl.SSLError | ssl.CertificateError):
            return FeedProblem(
                ErrorKind.TLS,
                f"The secure connection to {host} failed "
                f"({getattr(cause, 'reason', None) or cause}). The site's "
                "certificate may be expired or not trusted.",
            )
    for cause in chain:
        if isinstance(cause, TimeoutError | httpx.TimeoutException):
            return FeedProblem(
                ErrorKind.TIMEOUT,
                f"{host} did not send the feed within "
                f"{total_timeout:g} seconds. The server may be overloaded.",
            )
        if isinstance(cause, httpx.TooManyRedirects):
            return FeedProblem(
                ErrorKind.TOO_MANY_REDIRECTS,
                "The address redirects too many "
                "times (more than 5, or in a loop). Check the feed address in a "
                "browser.",
            )
        if isinstance(cause, httpx.ConnectError | ConnectionError):
            return FeedProblem(
                ErrorKind.CONNECT,
                f"Could not connect to {host}: the server "
                "refused the connection or did not answer.",
            )
    first = chain[0]
    if isinstance(first, httpx.RemoteProtocolError):
        return FeedProblem(
            ErrorKind.CONNECT, f"{host} closed the connection before the feed was complete."
        )
    return FeedProblem(ErrorKind.CONNECT, f"Fetching from {host} failed: {first}")
