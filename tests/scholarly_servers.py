"""Local HTTP servers answering as PubMed's E-utilities and Crossref's REST API do, over small
databases a test fills, and sources (feeds of type pubmed or crossref) pointing at them.

The answers have the services' documented shapes (tests/data/sources holds one of each, as
the services send them); what varies is only which records a request's dates, filter,
cursor or page select.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug import Request, Response

from digest.config import FeedConfig
from digest.config.sync import apply_feed
from digest.db import transaction
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import FeedOutcome, poll_feeds
from digest.models import Feed, Newsletter, Topic
from digest.timeutil import utcnow

DATA = Path(__file__).parent / "data" / "sources"
_ARTICLE = re.compile(r"<PubmedArticle>.*?</PubmedArticle>", re.DOTALL)
_PMID = re.compile(r"<PMID[^>]*>(\d+)</PMID>")
EFETCH_HEAD = (
    '<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
    '1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)


def today() -> date:
    return utcnow().date()


def add_source(
    factory: sessionmaker[Session],
    name: str,
    kind: str,
    url: str,
    query: str,
    options: dict[str, str] | None = None,
    topics: list[str] = (),
) -> int:
    """A source made the way the config makes it (private network allowed, as the servers
    are local); returns its feed's id."""
    spec = FeedConfig(
        name=name,
        url=url,
        newsletter="caspar",
        section="Research",
        topics=list(topics),
        allow_private_network=True,
        type=kind,
        query=query,
        options=options or {},
    )
    with transaction(factory) as session:
        feed = Feed(name=name, url=url)
        session.add(feed)
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        topic_rows = list(session.scalars(select(Topic).where(Topic.slug.in_(spec.topics))))
        apply_feed(feed, spec, newsletter, topic_rows)
        session.flush()
        return feed.id


@dataclass
class _Scripted:
    """Answers given instead of the real one, next request first, per path suffix."""

    # None in a queue: that request is answered as usual.
    queued: dict[str, list[Response | None]] = field(default_factory=lambda: defaultdict(list))

    def take(self, path: str) -> Response | None:
        for suffix, answers in self.queued.items():
            if path.endswith(suffix) and answers:
                return answers.pop(0)
        return None


class Entrez:
    """E-utilities (`esearch.fcgi`, `efetch.fcgi`) at `base`, over articles added with the
    date PubMed added them (their Entrez date); every article matches the search."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.base = server.url_for("/entrez/eutils/")
        self.articles: dict[str, tuple[date, str]] = {}
        self.script = _Scripted()
        self.ignores_retstart = False  # a broken mirror: every page is the first
        self.arrivals: list[float] = []  # when each request came (time.monotonic)
        # Words of the search PubMed knows no records for: it searches without them, and says so.
        self.phrases_not_found: list[str] = []
        self.fixtures = {
            _PMID.search(xml)[1]: xml
            for xml in _ARTICLE.findall((DATA / "pubmed_articles.xml").read_text("utf-8"))
        }
        server.expect_request("/entrez/eutils/esearch.fcgi").respond_with_handler(self._esearch)
        server.expect_request("/entrez/eutils/efetch.fcgi").respond_with_handler(self._efetch)

    def add(self, pmid: str, added: date) -> None:
        """The fixture article `pmid`, added to PubMed on `added`."""
        self.articles[pmid] = (added, self.fixtures[pmid])

    def add_many(self, first_pmid: int, count: int, added: date) -> list[str]:
        """`count` more articles (a template's, numbered), added on `added`."""
        template = self.fixtures["39100003"]
        made = []
        for n in range(first_pmid, first_pmid + count):
            xml = template.replace("39100003", str(n)).replace(
                "Siblings’ disclosures", f"Study {n}: siblings’ disclosures"
            )
            self.articles[str(n)] = (
                added,
                xml.replace("10.5555/chiabu.2026.107101", f"10.5555/{n}"),
            )
            made.append(str(n))
        return made

    def answer_next(self, utility: str, response: Response) -> None:
        """The next request to `utility` ("esearch.fcgi", "efetch.fcgi") gets `response`."""
        self.script.queued[utility].append(response)

    def asked(self, utility: str) -> list[dict[str, str]]:
        """The query arguments of each request made to `utility`, in order."""
        return [
            dict(request.args.items())
            for request, _ in self.server.log
            if request.path.endswith(utility)
        ]

    def _esearch(self, request: Request) -> Response:
        self.arrivals.append(time.monotonic())
        if scripted := self.script.take(request.path):
            return scripted
        args = request.args
        answer = json.loads((DATA / "esearch.json").read_text("utf-8"))
        result = answer["esearchresult"]
        if not args.get("term"):
            answer["esearchresult"] = {"ERROR": "Empty term and query_key - nothing todo"}
            return _json(answer)
        if "reldate" in args:
            low, high = today() - timedelta(days=int(args["reldate"])), today()
        else:
            low, high = (date(*map(int, args[k].split("/"))) for k in ("mindate", "maxdate"))
        found = sorted(
            (pmid for pmid, (added, _) in self.articles.items() if low <= added <= high),
            key=lambda pmid: (self.articles[pmid][0], int(pmid)),
            reverse=True,  # PubMed's order for a search: the most recently added first
        )
        start, size = int(args.get("retstart", 0)), int(args.get("retmax", 20))
        start = 0 if self.ignores_retstart else start
        page = found[start : start + size]
        result.update(
            count=str(len(found)), retmax=str(len(page)), retstart=str(start), idlist=page
        )
        if self.phrases_not_found:
            result["errorlist"] = {"phrasesnotfound": self.phrases_not_found, "fieldsnotfound": []}
            result["warninglist"] = {
                "phrasesignored": [],
                "quotedphrasesnotfound": [],
                "outputmessages": [],
            }
        return _json(answer)

    def _efetch(self, request: Request) -> Response:
        self.arrivals.append(time.monotonic())
        if scripted := self.script.take(request.path):
            return scripted
        wanted = request.args.get("id", "").split(",")
        body = "".join(self.articles[pmid][1] for pmid in wanted if pmid in self.articles)
        xml = f"{EFETCH_HEAD}<PubmedArticleSet>\n{body}\n</PubmedArticleSet>\n"
        return Response(xml.encode("utf-8"), content_type="text/xml; charset=UTF-8")


class Crossref:
    """Crossref's works routes (`/journals/{issn}/works`, `/works`) at `base`, over works
    added with the date they were registered, paged with cursors as Crossref pages."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.base = server.url_for("/crossref")
        self.envelope = json.loads((DATA / "crossref_works.json").read_text("utf-8"))
        self.fixtures = {work["DOI"]: work for work in self.envelope["message"]["items"]}
        self.works: dict[str, dict[str, Any]] = {}
        self.cursors: dict[str, int] = {}
        # How long each answer takes, and the most requests in hand at once (on a server
        # that answers requests in threads, several can be).
        self.delay = 0.0
        self.most_at_once, self._in_hand, self._counting = 0, 0, threading.Lock()
        self.script = _Scripted()
        server.expect_request(re.compile(r"^/crossref/journals/[^/]+/works$")).respond_with_handler(
            self._journal_works
        )
        server.expect_request("/crossref/works").respond_with_handler(self._works)

    def add(
        self, doi: str, created: date, issn: str = "0145-2134", issued: date | None = None
    ) -> None:
        """The fixture work `doi`, registered on `created`, in the journal `issn` (and dated
        to an issue of `issued`, in print only, if given)."""
        work = copy.deepcopy(self.fixtures[doi])
        if issued is not None:
            parts = {"date-parts": [[issued.year, issued.month]]}
            for name in ("published-online", "published"):
                work.pop(name, None)
            work["issued"] = work["published-print"] = work["published"] = parts
        self._keep(work, created, issn)

    def add_many(self, count: int, created: date, issn: str = "0145-2134") -> list[str]:
        made = []
        for n in range(count):
            work = copy.deepcopy(self.fixtures["10.5555/j.chiabu.2026.107233"])
            work["DOI"] = f"10.5555/{issn}.{n:04d}"
            work["title"] = [f"Study {n:04d} of safeguarding leads"]
            self._keep(work, created, issn)
            made.append(work["DOI"])
        return made

    def rename(self, doi: str, new: str) -> None:
        """The work `doi` known by the DOI `new` instead."""
        work = self.works.pop(doi)
        work["DOI"], work["URL"] = new, f"https://doi.org/{new}"
        self.works[new] = work

    def _keep(self, work: dict[str, Any], created: date, issn: str) -> None:
        parts = [created.year, created.month, created.day]
        work["created"] = {"date-parts": [parts], "date-time": f"{created.isoformat()}T09:00:00Z"}
        work["ISSN"] = [issn]
        self.works[work["DOI"]] = work

    def answer_next(self, route: str, response: Response | None) -> None:
        """The next request to a path ending in `route` ("/works") gets `response` (None: the
        usual answer)."""
        self.script.queued[route].append(response)

    def asked(self) -> list[dict[str, str]]:
        """Each request's path (as "path") and query arguments, in order."""
        return [
            {"path": request.path.removeprefix("/crossref"), **dict(request.args.items())}
            for request, _ in self.server.log
            if request.path.startswith("/crossref/")
        ]

    def _journal_works(self, request: Request) -> Response:
        if scripted := self.script.take(request.path):
            return scripted
        issn = request.path.split("/")[-2]
        if not any(issn in work["ISSN"] for work in self.works.values()):
            return Response("Resource not found.", status=404, content_type="text/plain")
        return self._page(request, [f"issn:{issn}"])

    def _works(self, request: Request) -> Response:
        if scripted := self.script.take(request.path):
            return scripted
        return self._page(request, [])

    def _page(self, request: Request, route_filters: list[str]) -> Response:
        with self._counting:
            self._in_hand += 1
            self.most_at_once = max(self.most_at_once, self._in_hand)
        try:
            time.sleep(self.delay)
            return self._answer(request, route_filters)
        finally:
            with self._counting:
                self._in_hand -= 1

    def _answer(self, request: Request, route_filters: list[str]) -> Response:
        filters = route_filters + request.args.get("filter", "").split(",")
        selected = list(self.works.values())
        for each in filter(None, filters):
            name, _, value = each.partition(":")
            if name == "issn":
                selected = [w for w in selected if value in w["ISSN"]]
            elif name == "type":
                selected = [w for w in selected if w["type"] == value]
            elif name == "from-created-date":
                since = date.fromisoformat(value)
                selected = [w for w in selected if _created(w) >= since]
            else:
                return _json(_validation_failure(name), status=400)
        selected.sort(key=lambda work: work["DOI"])
        cursor, rows = request.args.get("cursor"), int(request.args.get("rows", 20))
        start = self.cursors.get(cursor, 0) if cursor else int(request.args.get("offset", 0))
        page = selected[start : start + rows]
        answer = copy.deepcopy(self.envelope)
        message = answer["message"]
        token = f"DnF1ZXJ5VGhlbkZldGNo{len(self.cursors) + 1:08d}"
        self.cursors[token] = start + len(page)
        message.update({"items": page, "total-results": len(selected), "items-per-page": rows})
        message["next-cursor"] = token
        if not cursor:
            del message["next-cursor"]  # Crossref gives a cursor only to who asked for one
        return _json(answer)


def _created(work: dict[str, Any]) -> date:
    return date(*work["created"]["date-parts"][0])


def _validation_failure(name: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "message-type": "validation-failure",
        "message": [
            {
                "type": "filter-not-available",
                "value": name,
                "message": f"Filter {name} specified but there is no such filter for this route.",
            }
        ],
    }


def _json(data: dict[str, Any], status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return Response(body, status=status, content_type="application/json; charset=utf-8")


def esearch_error(message: str) -> Response:
    """An esearch answer saying the search failed, as E-utilities say it (status 200)."""
    return _json(
        {"header": {"type": "esearch", "version": "0.3"}, "esearchresult": {"ERROR": message}}
    )


def plain(text: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(text, status=status, headers=headers or {}, content_type="text/plain")


# Sources answer at once from the local servers: a test waits seconds, not minutes.
FAST = FetchSettings(connect_timeout=2, total_timeout=5)


def poll_one(factory: sessionmaker[Session]) -> FeedOutcome:
    """Poll the one source there is, due or not, and say how it went."""
    (outcome,) = poll_feeds(factory, include_not_due=True, settings=FAST).outcomes
    return outcome
