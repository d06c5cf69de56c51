"""Citations as readers see them: the same text as citeproc-js (Zotero's processor) in Cite
Them Right Harvard, APA and Vancouver; the seed's "Please cite as" line; safe HTML; which
items say enough to be cited; styles named in feeds.yaml; RIS and BibTeX that read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import bibtexparser
import pytest
import rispy
from pydantic import ValidationError
from sqlalchemy import select

from digest.catalogue.csl import catalogue_record
from digest.catalogue.records import CatalogueRecord
from digest.citations import check_style, item_citation, render
from digest.citations.export import bibtex, ris
from digest.citations.records import citable, fields_record
from digest.config import ConfigError, load_config, sync_config
from digest.config.schema import NewsletterConfig
from digest.db import transaction
from digest.models import Item, Newsletter

ROOT = Path(__file__).parent.parent / "benchmarks" / "citations"
RECORDS = json.loads((ROOT / "records.json").read_text(encoding="utf-8"))
EXPECTED = json.loads((ROOT / "expected.json").read_text(encoding="utf-8"))["styles"]
JUTTE = (
    "Jütte, S. (2016) Online child sexual abuse images: doing more to tackle demand and "
    "supply. London: NSPCC."
)


def canonical(markup: str) -> str:
    """HTML compared as HTML: citeproc-js writes "&" as "&#38;", Digest as "&amp;"."""
    return markup.replace("&#38;", "&amp;").replace("&#60;", "&lt;").replace("&#62;", "&gt;")


@pytest.mark.parametrize("style", ["harvard-cite-them-right", "apa", "vancouver"])
@pytest.mark.parametrize("fmt", ["html", "text"])
def test_citations_match_the_reference_processor(style: str, fmt: str) -> None:
    misses = []
    for record in RECORDS:
        got = render(record, style)
        ours = canonical(str(got.html)) if fmt == "html" else got.text
        theirs = canonical(EXPECTED[style]["records"][record["id"]][fmt])
        if ours != theirs:
            misses.append(f"{record['id']}\n  Digest:      {ours}\n  citeproc-js: {theirs}")
    print(f"{style} {fmt}: {len(RECORDS) - len(misses)}/{len(RECORDS)} equal", *misses, sep="\n")
    assert len(RECORDS) >= 60
    assert (len(RECORDS) - len(misses)) / len(RECORDS) >= 0.95


def test_the_default_style_gives_the_seeds_please_cite_line() -> None:
    record = catalogue_record(
        CatalogueRecord(
            title="Online child sexual abuse images: doing more to tackle demand and supply",
            authors=["Jütte, Sonja"],
            year=2016,
            publisher="NSPCC",
            place="London",
            url="https://library.example.org/record/1",
        )
    )
    cited = render(record, "harvard-cite-them-right")
    assert cited.text == JUTTE
    assert str(cited.html) == (
        "Jütte, S. (2016) <i>Online child sexual abuse images: doing more to tackle demand "
        "and supply</i>. London: NSPCC."
    )


def test_text_from_outside_is_escaped_and_only_its_italics_kept() -> None:
    record = {
        "type": "article-journal",
        "title": 'On <i>Oliver Twist</i> & <script>alert(1)</script> "care"',
        "author": [{"family": "O'Brien", "given": "Áine"}],
        "container-title": "Child & Family <b onclick=x>Review</b>",
        "issued": {"date-parts": [[2024]]},
    }
    cited = render(record, "apa")
    assert "<script>" not in cited.html and "onclick" not in cited.html
    assert "<i>Oliver Twist</i>" in cited.html and "&amp;" in cited.html
    assert cited.text.startswith("O’Brien, Á. (2024). On Oliver Twist & alert(1) “care”.")
    # A tag left open in a record does not run on into the rest of the citation.
    unclosed = render({**record, "title": "Unclosed <i>italic"}, "apa")
    assert "<i>Unclosed" not in unclosed.html and unclosed.text.startswith("O’Brien, Á. (2024)")
    # An italic name inside a book's italic title is set upright, as citeproc-js does.
    book = {"type": "book", "title": "Reading <i>Oliver Twist</i> today", "publisher": "P"}
    book = render(book, "apa")
    assert '<i>Reading <span style="font-style:normal">Oliver Twist</span> today</i>' in book.html


@pytest.mark.parametrize("style", ["harvard-cite-them-right", "apa", "vancouver"])
def test_markup_in_a_link_doi_or_cjk_name_stays_text(style: str) -> None:
    """A feed's link or author may carry markup HTML reads as a styled span
    (`<span/style=…>` needs no space); the email shows citations as they are, so none of it
    may become markup there."""
    styled = '<span/style="position:fixed;inset:0;background:url(https://evil.example/t.png)">'
    record = {
        "type": "webpage",
        "title": "Contact after adoption",
        "author": [{"family": f"李{styled}Win</span>", "given": "明"}],
        "container-title": "Adoption UK",
        "issued": {"date-parts": [[2026, 3, 2]]},
        "URL": f"https://f.example/a{styled}Click</span>",
        "DOI": f"10.1234/x{styled}",
    }
    cited = render(record, style)

    class Tags(HTMLParser):
        found: ClassVar[list[tuple[str, list]]] = []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.found.append((tag, attrs))

    Tags.found = []
    Tags().feed(str(cited.html))
    assert all(attrs in ([], [("style", "font-style:normal")]) for _, attrs in Tags.found)
    assert "span" not in {tag for tag, _ in Tags.found}  # none here is an upright title
    assert "<span/style" in cited.text  # the markup is shown as the text it was


def test_a_catalogued_chapter_is_cited_with_its_book_and_editors() -> None:
    chapter = catalogue_record(
        CatalogueRecord(
            title="Neglect and resilience",
            authors=["Daniel, Brigid"],
            year=2013,
            publisher="Wiley-Blackwell",
            place="Chichester",
            kind="chapter",
            container_title="The Blackwell companion to social work",
            editors=["Davies, Martin", "Jones, Ann"],
            edition="4",
            pages="200-212",
        )
    )
    assert render(chapter, "harvard-cite-them-right").text == (
        "Daniel, B. (2013) ‘Neglect and resilience’, in M. Davies and A. Jones (eds) The "
        "Blackwell companion to social work. 4th edn. Chichester: Wiley-Blackwell, pp. 200–212."
    )


def item(**fields) -> Item:
    defaults = {
        "id": 7,
        "title": "Keeping children safe online",
        "authors": [],
        "published": datetime(2025, 10, 2, tzinfo=UTC),
        "published_estimated": False,
        "first_seen_at": datetime(2025, 10, 3, tzinfo=UTC),
        "link": "https://www.example.org/news/online",
    }
    return Item(**{**defaults, **fields})


def test_which_items_say_enough_to_be_cited() -> None:
    # A news page with neither author nor site is not cited; with its site and date it is.
    assert item_citation(item(), None) is None
    page = item_citation(item(authors=["Hughes, Kathryn"]), None)
    assert page.text == (
        "Hughes, K. (2025) Keeping children safe online. Available at: "
        "https://www.example.org/news/online (Accessed: 3 October 2025)."
    )
    # A date Digest only guessed (the day it saw the page) is no date to cite.
    assert item_citation(item(authors=["Hughes, K."], published_estimated=True), None) is None
    # Issued by a publisher, it is a report.
    assert fields_record(item(publisher="NSPCC"))["type"] == "report"
    book = fields_record(
        item(isbn="9781787751234", authors=["Munro, Eileen"], place="London", publisher="SAGE")
    )
    assert book["type"] == "book" and citable(book)
    assert not citable({"type": "article-journal", "title": "No journal named"})


def test_an_item_with_only_an_old_citation_text_still_shows_it() -> None:
    old = item(citation="Smith & Co (2015) A report. London: Smith.")
    old.link = None
    cited = item_citation(old, "apa")
    assert cited.text == "Smith & Co (2015) A report. London: Smith."
    assert str(cited.html) == "Smith &amp; Co (2015) A report. London: Smith."


def test_corrections_are_laid_over_the_record() -> None:
    corrected = item(
        csl={
            "type": "report",
            "title": "Wrong title",
            "publisher": "NSPCC",
            "issued": {"date-parts": [[2016]]},
            "author": [{"family": "Jütte", "given": "S."}],
        },
        csl_corrections={"title": "Right title"},
    )
    assert item_citation(corrected, "vancouver").text == "Jütte S. Right title. NSPCC; 2016."


def newsletter(**extra) -> dict:
    return {
        "slug": "caspar",
        "title": "CASPAR",
        "sections": ["News"],
        "from_address": "caspar@example.org",
        **extra,
    }


FEEDS_YAML = """\
newsletters:
  - slug: caspar
    title: CASPAR
    sections: [News]
    from_address: caspar@digest.test
    citation_style: {style}
    citations_in_email: false
"""


def test_feeds_yaml_sets_the_style_and_the_email_switch(factory, tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(FEEDS_YAML.format(style="vancouver"), encoding="utf-8")
    with transaction(factory) as session:
        sync_config(session, load_config(path))
    with factory() as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        assert (newsletter.citation_style, newsletter.citations_in_email) == ("vancouver", False)
    path.write_text(FEEDS_YAML.format(style="vancuover"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = [str(p) for p in caught.value.problems]
    assert "citation_style" in problem and "did you mean vancouver" in problem


def test_feeds_yaml_names_a_style_and_a_typo_is_told_with_the_nearest() -> None:
    assert NewsletterConfig(**newsletter(citation_style="apa")).citation_style == "apa"
    assert NewsletterConfig(**newsletter()).citations_in_email is True
    with pytest.raises(ValidationError) as caught:
        NewsletterConfig(**newsletter(citation_style="harvard-cite-them-rite"))
    message = str(caught.value)
    assert "'harvard-cite-them-rite' is not a citation style" in message
    assert "did you mean harvard-cite-them-right" in message
    assert check_style("vancouver") == "vancouver"


def test_ris_export_reads_back_in_a_reference_manager() -> None:
    read = rispy.loads(ris(RECORDS))
    assert len(read) == len(RECORDS)
    back = {r["title"]: r for r in read}
    chapter = back["Neglect and resilience"]
    assert chapter["type_of_reference"] == "CHAP"
    assert chapter["secondary_authors"] == ["Davies, Martin", "Jones, Ann"]
    assert (chapter["start_page"], chapter["end_page"]) == ("200", "212")
    article = back["Kinderschutz in Europa: Übersicht und Vergleich"]
    assert article["authors"] == ["Šimůnek, Jiří", "Øvergaard, Åse", "Müller, Jürgen"]
    assert back["Who speaks for the child?"]["secondary_title"] == "Family Law"


def test_a_value_with_line_breaks_cannot_forge_a_record_in_the_ris_file() -> None:
    """The archive's RIS file is public: a volume from outside holding "ER  -" and a new
    "TY  -" must stay one value of one record; a `javascript:` link is not offered."""
    forged = "3\nER  - \n\nTY  - JOUR\nTI  - Injected\nUR  - https://evil.example/"
    record = {
        "type": "article-journal",
        "title": "Kinship care\nand contact",
        "container-title": "Child Abuse Review",
        "volume": forged,
        "issued": {"date-parts": [[2025]]},
        "URL": "javascript:alert(1)",
        "abstract": "First paragraph.\n\nSecond paragraph.",
    }
    (read,) = rispy.loads(ris([record]))
    assert read["title"] == "Kinship care and contact"
    assert read["volume"].startswith("3 ER - TY - JOUR")
    assert "urls" not in read
    assert read["abstract"] == "First paragraph. Second paragraph."
    assert "url" not in bibtex([record])


def test_bibtex_export_escapes_tex_and_reads_back() -> None:
    odd = {
        "id": "odd",
        "type": "report",
        "title": "50% of {children} & $cost #1_a ~ \\ ^",
        "author": [{"literal": "Save the Children"}],
        "publisher": "S&P",
        "issued": {"date-parts": [[2024]]},
    }
    text = bibtex([*RECORDS, odd])
    entries = bibtexparser.loads(text).entries
    assert len(entries) == len(RECORDS) + 1
    assert len({e["ID"] for e in entries}) == len(entries)  # each key once
    mine = next(e for e in entries if e["ENTRYTYPE"] == "techreport" and "50" in e["title"])
    assert (
        mine["title"]
        == r"50\% of \{children\} \& \$cost \#1\_a \textasciitilde{} \textbackslash{} \textasciicircum{}"
    )
    assert mine["author"] == "{Save the Children}" and mine["institution"] == r"S\&P"
    nonascii = next(e for e in entries if e["title"].startswith("Kinderschutz"))
    assert nonascii["author"] == "Šimůnek, Jiří and Øvergaard, Åse and Müller, Jürgen"
    assert nonascii["journal"] == "Zeitschrift für Kinderschutz"


def test_odd_records_from_outside_are_cited_with_what_can_be_read() -> None:
    odd = {
        "type": "article-journal",
        "title": "Odd but real",
        "container-title": "J",
        "author": "Smith, A",  # not a list of names
        "issued": {"date-parts": [[None]]},  # as some services send an unknown date
    }
    assert render(odd, "apa").text == "Odd but real. (n.d.). J."
    raw = {**odd, "author": [{"family": "Smith", "given": "Ann"}], "issued": {"raw": "2021-05-02"}}
    assert render(raw, "apa").text == "Smith, A. (2021). Odd but real. J."
    back = rispy.loads(ris([odd, raw]))
    assert [r.get("year") for r in back] == [None, "2021"] and back[0]["title"] == "Odd but real"
    assert len(bibtexparser.loads(bibtex([odd, raw])).entries) == 2
