"""OPML: a feed reader's list comes in, and ours goes out the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from digest.db import transaction
from digest.ingest.opml import OpmlError, export_opml, import_opml
from digest.models import Feed

READER_EXPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0"><head><title>My subscriptions</title></head><body>
  <outline text="Safeguarding">
    <outline type="rss" text="Ofsted news" title="Ofsted news"
             xmlUrl="https://www.gov.uk/government/organisations/ofsted.atom"
             htmlUrl="https://www.gov.uk/government/organisations/ofsted" category="neglect"/>
    <outline type="rss" text="Grooming research" xmlUrl="https://journal.example.org/rss"
             category="Online grooming"/>
    <outline type="rss" text="Old gopher feed" xmlUrl="gopher://old.example.org/feed"/>
  </outline>
</body></opml>"""


def feeds_by_name(factory) -> dict[str, tuple[str, str, str, list[str]]]:
    with factory() as session:
        return {
            f.name: (f.url, f.newsletter.slug, f.section.name, [t.slug for t in f.topics])
            for f in session.scalars(select(Feed))
        }


def test_import_maps_categories_to_topics_and_skips_bad_urls(sqlite_factory) -> None:
    with transaction(sqlite_factory) as session:
        report = import_opml(
            session, READER_EXPORT, "caspar", "research", ["legislation-and-policy"]
        )
    assert report.added == ["Ofsted news", "Grooming research"]
    assert len(report.skipped) == 1 and report.skipped[0].startswith("Old gopher feed: ")
    feeds = feeds_by_name(sqlite_factory)
    assert feeds["Ofsted news"] == (
        "https://www.gov.uk/government/organisations/ofsted.atom",
        "caspar",
        "Research",
        ["legislation-and-policy", "neglect"],
    )
    assert feeds["Grooming research"][3] == ["legislation-and-policy", "online-grooming"]


def test_reimport_updates_instead_of_duplicating(sqlite_factory) -> None:
    for _ in range(2):
        with transaction(sqlite_factory) as session:
            report = import_opml(session, READER_EXPORT, "caspar", "News")
    assert report.added == [] and len(report.updated) == 2


def test_round_trip(factory, sqlite_factory, tmp_path: Path) -> None:
    with transaction(factory) as session:
        import_opml(session, READER_EXPORT, "caspar", "Research")
    with factory() as session:
        exported = export_opml(session)
    with transaction(sqlite_factory) as session:
        import_opml(session, exported, "caspar", "Research")
    assert feeds_by_name(sqlite_factory) == feeds_by_name(factory)
    assert b'category="neglect"' in exported and b"<title>Digest feeds</title>" in exported


def test_unknown_section_is_refused(sqlite_factory) -> None:
    with transaction(sqlite_factory) as session, pytest.raises(OpmlError, match="no section"):
        import_opml(session, READER_EXPORT, "caspar", "Gossip")


def test_sources_that_are_not_feeds_stay_out_of_the_export(sqlite_factory) -> None:
    """A feed reader given PubMed's or a catalogue's address would find no feed there."""
    with transaction(sqlite_factory) as session:
        import_opml(session, READER_EXPORT, "caspar", "Research")
        search = session.scalar(select(Feed).where(Feed.name == "Grooming research"))
        search.source_type, search.source_query = "pubmed", "grooming[tiab]"
    with sqlite_factory() as session:
        exported = export_opml(session)
    assert b"Ofsted news" in exported
    assert b"Grooming research" not in exported
