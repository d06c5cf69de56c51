"""Sources polled that are not feeds: a PubMed search, a journal at Crossref, a catalogue over
OAI-PMH. Each speaks its own protocol through the same guarded fetcher and gives back what a
feed's poll gives (entries, or a problem in plain words), so that health, back-off and the
feed health page treat it as they treat a feed.

A harvester is an async function `harvest(fetcher, source) -> Harvest`, named here by its
module so that a poll imports only the protocols it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from digest.ingest.errors import ErrorKind, FeedProblem
from digest.ingest.fetch import Fetcher, FetchRequest, FetchResult, FetchSettings, FetchStatus
from digest.ingest.parse import ParsedFeed
from digest.models import Feed
from digest.settings import Settings

# type in feeds.yaml -> "module:function" of its harvester.
HARVESTERS: dict[str, str] = {
    "pubmed": "digest.research.pubmed_source:harvest",
    "crossref": "digest.research.crossref_source:harvest",
    "oai-pmh": "digest.catalogue.oaipmh:harvest",
}


@dataclass(frozen=True)
class SourcePlan:
    """What harvesting one source needs, detached from the database session."""

    feed_id: int
    name: str
    source_type: str
    url: str
    query: str | None
    options: dict[str, Any] = field(default_factory=dict)
    harvested_until: str | None = None  # where the last harvest got to; None: never harvested
    allow_private_network: bool = False
    settings: FetchSettings = field(default_factory=FetchSettings)
    # Who Digest asks as, from the settings, never from feeds.yaml: the contact address the
    # services ask for ("contact") and an NCBI API key ("api_key"), which is a secret.
    access: Mapping[str, str] = field(default_factory=dict, repr=False)

    def request(self, url: str, accept: str) -> FetchRequest:
        """A request to this source's service, as the fetcher takes it."""
        return FetchRequest(
            self.feed_id, url, allow_private_network=self.allow_private_network, accept=accept
        )


@dataclass
class Harvest:
    """The last response (its status and problem are the source's health) and the entries
    found, with `parsed.harvested_until` saying where this harvest got to."""

    result: FetchResult
    parsed: ParsedFeed | None


Harvester = Callable[[Fetcher, SourcePlan], Awaitable[Harvest]]


# How a failure names each kind of source.
SOURCE_NAMES = {"pubmed": "PubMed", "crossref": "Crossref", "oai-pmh": "the catalogue"}


def harvester(source_type: str) -> Harvester:
    module, _, function = HARVESTERS[source_type].partition(":")
    found: Harvester = getattr(importlib.import_module(module), function)
    return found


async def harvest(fetcher: Fetcher, source: SourcePlan) -> Harvest:
    """The source harvested by its type's harvester. Anything unforeseen that one raises is
    that source's failure, in words: it must not end the poll, every other feed's with it."""
    try:
        return await harvester(source.source_type)(fetcher, source)
    except Exception as error:
        name = SOURCE_NAMES.get(source.source_type, source.source_type)
        problem = FeedProblem(
            ErrorKind.PARSE_ERROR, f"Harvesting from {name} failed unexpectedly: {error!r}"
        )
        return failed(source, source.url, problem)


def failed(source: SourcePlan, url: str, problem: FeedProblem) -> Harvest:
    """A harvest that stopped on `problem`, found before or without a response."""
    request = source.request(url, "*/*")
    return Harvest(FetchResult(request, FetchStatus.FAILED, url, problem=problem), None)


def source_plan(
    feed: Feed, settings: FetchSettings, access: Mapping[str, str]
) -> SourcePlan | None:
    """What harvesting `feed` needs, for a source that is not a feed; None for a feed."""
    if feed.source_type is None:
        return None
    return SourcePlan(
        feed.id,
        feed.name,
        feed.source_type,
        feed.url,
        feed.source_query,
        dict(feed.source_options or {}),
        feed.harvested_until,
        feed.allow_private_network,
        settings,
        access,
    )


def service_access(settings: Settings) -> dict[str, str]:
    """Who a poll's PubMed and Crossref sources ask as (`SourcePlan.access`): the contact
    address and the NCBI API key, from the settings only."""
    access = {"contact": settings.research_contact, "api_key": settings.ncbi_api_key}
    return {name: value for name, value in access.items() if value}
