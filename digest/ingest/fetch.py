"""Fetching feeds over HTTP (or from local files) safely: limits, conditional GET, redirects."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import ssl
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from functools import cache
from urllib.parse import urlsplit

import httpx

from digest import __version__
from digest.defaults import MAX_ENTRIES
from digest.ingest.decoding import ACCEPT_ENCODING, BoundedDecoder, EncodingProblem, codings
from digest.ingest.errors import ErrorKind, FeedProblem, classify_exception, status_problem
from digest.ingest.netguard import PublicOnlyTransport
from digest.localfiles import (
    FileTooLarge,
    LocalFileError,
    is_local_path,
    local_path,
    read_regular_file,
)

USER_AGENT = f"Digest/{__version__} (current-awareness feed reader)"
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/feed+json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
PERMANENT_REDIRECTS = frozenset({301, 308})
MAX_RETRY_AFTER_SECONDS = 7 * 86400
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class FetchSettings:
    connect_timeout: float = 10.0
    total_timeout: float = 20.0
    max_body_bytes: int = 15 * 1024 * 1024
    max_redirects: int = 5
    max_concurrency: int = 32
    per_host_concurrency: int = 6
    max_entries: int = MAX_ENTRIES  # per feed and poll (DIGEST_MAX_ENTRIES_PER_FEED)


@dataclass(frozen=True)
class FetchRequest:
    feed_id: int
    url: str
    etag: str | None = None
    last_modified: str | None = None
    allow_private_network: bool = False
    accept: str | None = None  # what a source other than a feed asks for; None: a feed's types


class FetchStatus(StrEnum):
    FETCHED = "fetched"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"


@dataclass
class FetchResult:
    request: FetchRequest
    status: FetchStatus
    final_url: str
    body: bytes = b""
    body_hash: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None  # the new address after a permanent redirect
    problem: FeedProblem | None = None
    retry_after_seconds: int | None = None
    max_age_seconds: int | None = None


class BodyTooLarge(Exception):
    pass


async def _discard_body(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read a short unwanted body (a 304's empty one, an error page) to its end, so that the
    connection can be reused; a long one is cut off and its connection closed."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > limit:
            return


def parse_retry_after(value: str | None, now: datetime) -> int | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, min(int((when - now).total_seconds()), MAX_RETRY_AFTER_SECONDS))


def parse_max_age(cache_control: str | None) -> int | None:
    match = _MAX_AGE.search(cache_control or "")
    return int(match[1]) if match else None


def permanent_target(response: httpx.Response) -> str | None:
    """Where the leading run of permanent redirects in `response.history` ends, if any."""
    target = None
    hops = [*response.history, response]
    for hop, following in itertools.pairwise(hops):
        if hop.status_code not in PERMANENT_REDIRECTS:
            break
        target = str(following.url)
    return target


@cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client of this process: loading the certificate store takes a
    tenth of a second, which an unchanged poll of a thousand feeds notices, and a long-running
    process that made one for each poll kept memory it never gave back."""
    return httpx.create_ssl_context()


class Fetcher:
    """Fetches many feeds concurrently, within a global and a per-host limit."""

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        s = self.settings
        limits = httpx.Limits(
            max_connections=s.max_concurrency, max_keepalive_connections=s.max_concurrency
        )
        common = {
            "timeout": httpx.Timeout(s.total_timeout, connect=s.connect_timeout),
            "follow_redirects": True,
            "max_redirects": s.max_redirects,
            "headers": {
                "User-Agent": USER_AGENT,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            "trust_env": False,
        }
        tls = _tls_context()
        self._public = httpx.AsyncClient(
            transport=PublicOnlyTransport(limits=limits, verify=tls), **common
        )
        self._any = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(limits=limits, verify=tls), **common
        )
        self._all = asyncio.Semaphore(s.max_concurrency)
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(s.per_host_concurrency)
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._public.aclose()
        await self._any.aclose()

    async def fetch(self, request: FetchRequest) -> FetchResult:
        if is_local_path(request.url):
            return await self._read_file(request)
        host = urlsplit(request.url).hostname or request.url
        async with self._all, self._per_host[host]:
            try:
                async with asyncio.timeout(self.settings.total_timeout):
                    return await self._get(request)
            except BodyTooLarge:
                return self._failed(
                    request,
                    FeedProblem(
                        ErrorKind.TOO_LARGE,
                        f"The feed is larger than {self.settings.max_body_bytes // 2**20} MiB "
                        "once decompressed, so it was not read. Ask the publisher for a shorter "
                        "feed.",
                    ),
                )
            except EncodingProblem as exc:
                return self._failed(request, FeedProblem(ErrorKind.PARSE_ERROR, str(exc)))
            except (httpx.HTTPError, httpx.InvalidURL, OSError, TimeoutError) as exc:
                problem = classify_exception(exc, host, self.settings.total_timeout)
                return self._failed(request, problem)
            except Exception as exc:  # one strange feed must not stop the poll of the others
                return self._failed(
                    request,
                    FeedProblem(
                        ErrorKind.CONNECT, f"Fetching from {host} failed unexpectedly: {exc!r}"
                    ),
                )

    async def _get(self, request: FetchRequest) -> FetchResult:
        headers = {"Accept": request.accept} if request.accept else {}
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        client = self._any if request.allow_private_network else self._public
        async with client.stream("GET", request.url, headers=headers) as response:
            result = FetchResult(
                request=request,
                status=FetchStatus.FETCHED,
                final_url=str(response.url),
                headers={k.lower(): v for k, v in response.headers.items()},
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                moved_to=permanent_target(response),
                max_age_seconds=parse_max_age(response.headers.get("cache-control")),
            )
            if response.status_code >= 300:
                await _discard_body(response)
            if response.status_code == 304:
                result.status = FetchStatus.NOT_MODIFIED
                result.etag = result.etag or request.etag
                result.last_modified = result.last_modified or request.last_modified
                return result
            if response.status_code >= 300:
                result.status = FetchStatus.FAILED
                result.problem = status_problem(response.status_code, response.reason_phrase)
                if response.status_code in (429, 503):
                    result.retry_after_seconds = parse_retry_after(
                        response.headers.get("retry-after"), datetime.now(UTC)
                    )
                return result
            result.body = await self._read_capped(response)
            result.body_hash = hashlib.sha256(result.body).hexdigest()
            return result

    async def _read_capped(self, response: httpx.Response) -> bytes:
        limit = self.settings.max_body_bytes
        declared = response.headers.get("content-length", "")
        if (
            declared.isdigit()
            and "content-encoding" not in response.headers
            and int(declared) > limit
        ):
            raise BodyTooLarge
        # Decoded here, not by httpx, which would unpack each chunk whole (see `decoding`).
        decoder = BoundedDecoder(codings(response.headers.get_list("content-encoding")))
        body, arrived = bytearray(), 0
        async for raw in response.aiter_raw():
            arrived += len(raw)
            if arrived > limit:
                raise BodyTooLarge
            for piece in decoder.decode(raw):
                body += piece
                if len(body) > limit:
                    raise BodyTooLarge
        for piece in decoder.finish():
            body += piece
            if len(body) > limit:
                raise BodyTooLarge
        return bytes(body)

    async def _read_file(self, request: FetchRequest) -> FetchResult:
        """A feed file named in the config: a regular file only, within the size cap and the
        time limit (a file on a hung network mount costs a thread, not the poll)."""
        path = local_path(request.url)
        limit = self.settings.max_body_bytes
        try:
            async with asyncio.timeout(self.settings.total_timeout):
                body = await asyncio.to_thread(read_regular_file, path, limit)
        except TimeoutError:
            return self._failed(
                request,
                FeedProblem(
                    ErrorKind.TIMEOUT,
                    f"The file {path} could not be read within "
                    f"{self.settings.total_timeout:g} seconds.",
                ),
            )
        except LocalFileError as exc:
            kind = ErrorKind.TOO_LARGE if isinstance(exc, FileTooLarge) else ErrorKind.FILE
            sentence = str(exc)
            return self._failed(
                request, FeedProblem(kind, sentence[0].upper() + sentence[1:] + ".")
            )
        return FetchResult(
            request=request,
            status=FetchStatus.FETCHED,
            final_url=path.as_uri() if path.is_absolute() else str(path),
            body=body,
            body_hash=hashlib.sha256(body).hexdigest(),
        )

    @staticmethod
    def _failed(request: FetchRequest, problem: FeedProblem) -> FetchResult:
        return FetchResult(
            request=request, status=FetchStatus.FAILED, final_url=request.url, problem=problem
        )
