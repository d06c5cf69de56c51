"""A local HTTP server answering as Crossref's `/works/{doi}` and PubMed's `efetch.fcgi` do,
from the fixtures in data/crossref and data/pubmed, with any answer scripted per identifier
(a 429, a 503, a slow answer, a garbage body), and a log of the requests it got."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from lxml import etree

DATA = Path(__file__).parent / "data"


@dataclass
class Reply:
    """A scripted answer: its status, headers and body, after `delay` seconds."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def crossref_fixture(name: str) -> dict:
    return json.loads((DATA / "crossref" / f"{name}.json").read_text(encoding="utf-8"))


def crossref_work(doi: str, title: str, base: str = "journal_article") -> bytes:
    """A Crossref /works answer for `doi`, shaped as the fixture `base`."""
    work = copy.deepcopy(crossref_fixture(base))
    work["message"]["DOI"], work["message"]["title"] = doi, [title]
    work["message"]["URL"] = f"https://doi.org/{doi}"
    return json.dumps(work, ensure_ascii=False).encode()


def pubmed_articles() -> dict[str, bytes]:
    """Each <PubmedArticle> of data/pubmed/articles.xml, by PMID."""
    root = etree.fromstring((DATA / "pubmed" / "articles.xml").read_bytes())
    return {
        article.findtext("MedlineCitation/PMID"): etree.tostring(article)
        for article in root.iterfind("PubmedArticle")
    }


class Services:
    """What the server knows and was asked: works by DOI, articles by PMID, scripted replies
    by DOI or PMID (used first, in order), and every request's path and query."""

    def __init__(self) -> None:
        self.works: dict[str, bytes] = {}
        self.articles: dict[str, bytes] = pubmed_articles()
        self.scripted: dict[str, list[Reply]] = {}
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.url = ""

    def asked(self, prefix: str) -> list[str]:
        return [r for r in self.requests if r.startswith(prefix)]

    def reply_for(self, path: str, query: dict[str, list[str]]) -> Reply:
        with self.lock:
            self.requests.append(
                path + ("?" + "&".join(f"{k}={v[0]}" for k, v in query.items()) if query else "")
            )
            if path.startswith("/works/"):
                doi = unquote(path.removeprefix("/works/")).lower()
                if self.scripted.get(doi):
                    return self.scripted[doi].pop(0)
                if doi in self.works:
                    return Reply(200, self.works[doi], {"Content-Type": "application/json"})
                return Reply(404, b"Resource not found.", {"Content-Type": "text/plain"})
            if path.endswith("/efetch.fcgi"):
                ids = query.get("id", [""])[0].split(",")
                for pmid in ids:
                    if self.scripted.get(pmid):
                        return self.scripted[pmid].pop(0)
                found = b"".join(self.articles[i] for i in ids if i in self.articles)
                body = b"<?xml version='1.0'?>\n<PubmedArticleSet>" + found + b"</PubmedArticleSet>"
                return Reply(200, body, {"Content-Type": "text/xml; charset=UTF-8"})
        return Reply(400, b"unknown path")


def _handler(services: Services) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            reply = services.reply_for(parts.path, parse_qs(parts.query))
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as a timeout test means it to

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def local_services() -> Iterator[Services]:
    """The server running on 127.0.0.1, its base URL in `services.url`."""
    services = Services()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(services))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    services.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield services
    finally:
        server.shutdown()
        server.server_close()
