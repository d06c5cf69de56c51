"""Sources in feeds.yaml that are not feeds (a PubMed search, a journal at Crossref, a catalogue
over OAI-PMH): each type's settings are checked, and a mistake is named with its file, line,
field and feed."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import ConfigError, load_config
from digest.config.sources import check_issn

HEAD = """\
newsletters:
  - slug: library
    title: New in the Library
    sections: [Books]
    from_address: library@digest.test
feeds:
"""


def load(tmp_path: Path, feed: str):
    path = tmp_path / "feeds.yaml"
    path.write_text(HEAD + feed, encoding="utf-8")
    return load_config(path).feeds[0]


def problems(tmp_path: Path, feed: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, feed)
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


def entry(name: str, *lines: str) -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return f'  - name: "{name}"\n{body}    newsletter: library\n    section: Books\n'


def test_a_pubmed_search_asks_the_service_when_no_url_is_given(tmp_path: Path) -> None:
    feed = load(tmp_path, entry("Neglect in PubMed", "type: pubmed", 'query: "child neglect"'))
    assert (feed.type, feed.url, feed.query) == (
        "pubmed",
        "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/",
        "child neglect",
    )


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("0952-9136", "0952-9136"),
        ("09529136", "0952-9136"),
        ("1099-0852", "1099-0852"),
        ("2049-3630", "2049-3630"),
        ("0145-2134", "0145-2134"),
        ("issn:0145-2134,from-pub-date:2024-01-01", "issn:0145-2134,from-pub-date:2024-01-01"),
    ],
)
def test_a_crossref_journal_by_issn_or_filter(tmp_path: Path, query: str, kept: str) -> None:
    feed = load(tmp_path, entry("Child Abuse Review", "type: crossref", f'query: "{query}"'))
    assert (feed.url, feed.query) == ("https://api.crossref.org/", kept)


def test_an_issn_ending_in_x() -> None:
    assert check_issn("1050-124x") == "1050-124X"


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("2026-01-01", "2026-01-01"),
        ("'2026-01-01'", "2026-01-01"),
        ("2026-01-01T08:30:00Z", "2026-01-01T08:30:00Z"),
    ],
)
def test_a_catalogues_first_date_as_yaml_reads_it(tmp_path: Path, written: str, kept: str) -> None:
    feed = load(
        tmp_path,
        entry(
            "Koha",
            "type: oai-pmh",
            "url: https://library.example.org/cgi-bin/koha/oai.pl",
            f"options: {{from: {written}}}",
        ),
    )
    assert feed.options["from"] == kept


def test_a_catalogue_takes_its_set_and_settings(tmp_path: Path) -> None:
    feed = load(
        tmp_path,
        entry(
            "Koha: new books",
            "type: oai-pmh",
            "url: https://library.example.org/cgi-bin/koha/oai.pl",
            "query: new-books",
            "options: {from: 2026-01-01}",  # a date to YAML, the text it shows to Digest
        ),
    )
    assert feed.query == "new-books"
    assert feed.options == {"from": "2026-01-01", "metadata_prefix": "marc21"}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ("type: pubmed",),
            "feeds.yaml:7: feeds[0].query: feed 'PubMed' is a PubMed search and needs a query: "
            "the search, as typed at PubMed",
        ),
        (
            ("type: crossref",),
            "feeds.yaml:7: feeds[0].query: feed 'PubMed' is a journal at Crossref and needs a "
            "query: the journal's ISSN or a Crossref filter",
        ),
        (
            ("type: crossref", "query: 0952-9137"),
            "feeds.yaml:9: feeds[0].query: feed 'PubMed': the ISSN '0952-9137' has a wrong check "
            "digit (it would end in 6): check it against the journal's own page",
        ),
        (
            ("type: crossref", "query: child abuse"),
            "feeds.yaml:9: feeds[0].query: feed 'PubMed': 'child abuse' is neither an ISSN (such "
            "as 0952-9136) nor a Crossref filter (such as "
            "issn:0952-9136,from-pub-date:2024-01-01)",
        ),
        (
            ("type: oai-pmh",),
            "feeds.yaml:7: feeds[0].url: feed 'PubMed' has no url: an OAI-PMH catalogue needs its "
            "repository's base URL",
        ),
        (
            ("url: ''",),
            "feeds.yaml:8: feeds[0].url: feed 'PubMed' has no url: a feed needs its address",
        ),
        (
            ("type: oai-pmh", "url: catalogue/export.xml"),
            "feeds.yaml:9: feeds[0].url: feed 'PubMed' is a catalogue harvested over OAI-PMH, "
            "which Digest asks over the web, so its url must start with https:// (or http://)",
        ),
        (
            ("type: oai-pmh", "url: https://library.example.org/oai.pl?verb=Identify"),
            "feeds.yaml:9: feeds[0].url: feed 'PubMed': give the repository's base URL, without "
            "?verb=… (for Koha: https://library.example.org/cgi-bin/koha/oai.pl)",
        ),
        (
            ("type: oai-pmh", "url: https://l.example.org/oai.pl", "query: new books"),
            "feeds.yaml:10: feeds[0].query: feed 'PubMed': the query of an OAI-PMH catalogue is "
            "the set to harvest (a setSpec such as 'new-books'), and 'new books' is not one",
        ),
        (
            ("type: oai-pmh", "url: https://l.example.org/oai.pl", "options: {prefix: dc}"),
            "feeds.yaml:10: feeds[0].options: feed 'PubMed': prefix is not a setting of an "
            "OAI-PMH catalogue (known: metadata_prefix, from, record_url)",
        ),
        (
            (
                "type: oai-pmh",
                "url: https://l.example.org/oai.pl",
                "options: {metadata_prefix: mods}",
            ),
            "feeds.yaml:10: feeds[0].options: feed 'PubMed': metadata_prefix 'mods' is not one "
            "Digest reads (use marc21, marcxml, oai_dc; Koha serves marc21 and oai_dc)",
        ),
        (
            ("type: oai-pmh", "url: https://l.example.org/oai.pl", "options: {from: last week}"),
            "feeds.yaml:10: feeds[0].options: feed 'PubMed': from 'last week' is not a date such "
            "as 2026-01-31",
        ),
        (
            (
                "type: oai-pmh",
                "url: https://l.example.org/oai.pl",
                "options: {record_url: 'https://l.example.org/opac'}",
            ),
            "feeds.yaml:10: feeds[0].options: feed 'PubMed': record_url must be a web address "
            "holding {id}, where the record's number goes (for Koha: "
            "https://library.example.org/cgi-bin/koha/opac-detail.pl?biblionumber={id})",
        ),
        (
            ("url: https://example.org/feed.xml", "query: neglect"),
            "feeds.yaml:9: feeds[0].query: feed 'PubMed' is a feed, which takes no query (set "
            "type to pubmed, crossref or oai-pmh for a search, a journal or a catalogue)",
        ),
        (
            ("type: pubmed", "query: neglect", "url: ftp://example.org/"),
            "feeds.yaml:10: feeds[0].url: 'ftp://example.org/': only http, https or a local file "
            "path can be polled",
        ),
        (
            ("type: pubmed", "query: neglect", "url: searches/pubmed.xml"),
            "feeds.yaml:10: feeds[0].url: feed 'PubMed' is a PubMed search, which Digest asks over "
            "the web, so its url must start with https:// (or http://)",
        ),
        (
            ("type: rss", "url: https://example.org/feed.xml"),
            "feeds.yaml:8: feeds[0].type: Input should be 'feed', 'pubmed', 'crossref' or "
            "'oai-pmh'",
        ),
    ],
)
def test_each_mistake_names_the_feed_and_its_line(
    tmp_path: Path, lines: tuple[str, ...], expected: str
) -> None:
    assert problems(tmp_path, entry("PubMed", *lines)) == [expected]


def test_the_readmes_example_sources_are_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("  - name: Neglect in PubMed")
    block = readme[start : readme.index("  ```", start)]
    path = tmp_path / "feeds.yaml"
    placed = "  - newsletter: library\n    section: Books\n    name:"
    path.write_text(HEAD + block.replace("  - name:", placed), encoding="utf-8")
    config = load_config(path)
    assert [f.type for f in config.feeds] == ["pubmed", "crossref", "oai-pmh"]


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (
            "api_key: abc123",
            "an API key is a secret and does not belong in this file: set DIGEST_NCBI_API_KEY",
        ),
        ("first_days: 0", "first_days must be a whole number from 1 to 3,650, not '0'"),
        ("max_results: lots", "max_results must be a whole number from 1 to 10,000"),
        ("contact: library", "contact 'library' is not an email address"),
        ("metadata_prefix: marc21", "metadata_prefix is not a setting of a pubmed source"),
    ],
)
def test_a_service_sources_options_are_checked(tmp_path: Path, option: str, said: str) -> None:
    written = entry(
        "Neglect in PubMed", "type: pubmed", 'query: "child neglect"', f"options: {{{option}}}"
    )
    (problem,) = problems(tmp_path, written)
    assert "Neglect in PubMed" in problem
    assert said in problem


def test_a_service_sources_options_that_fit_are_kept(tmp_path: Path) -> None:
    options = "options: {first_days: 7, max_results: 200, contact: lib@digest.test}"
    written = entry("Child Abuse Review", "type: crossref", "query: 0952-9136", options)
    feed = load(tmp_path, written)
    assert feed.options == {"first_days": "7", "max_results": "200", "contact": "lib@digest.test"}
