"""Catalogue imports for New in the Library: RIS and CSV, with records to cite them by."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from digest.catalogue.importer import import_catalogue
from digest.catalogue.records import CatalogueFormatError
from digest.citations import item_citation
from digest.cli import cli
from digest.db import transaction
from digest.models import Item

ROOT = Path(__file__).parent.parent
RIS = """\
TY  - RPRT
AU  - Jütte, Sonja
TI  - Online child sexual abuse images: doing more to tackle demand and supply
PY  - 2016
PB  - NSPCC
CY  - London
UR  - https://learning.nspcc.org.uk/research-resources/2016/online-child-sexual-abuse-images
AB  - This report outlines existing research and statistics about child sexual abuse images.
ER  - 

TY  - BOOK
AU  - Smith, Anne-Marie
AU  - Jones, Peter Robert
TI  - Neglect in adolescence
PY  - 2025
PB  - Jessica Kingsley Publishers
CY  - London
SN  - 978-1-78775-123-4
ER  - 

TY  - BOOK
AU  - Nobody, A
PY  - 2024
ER  - 
"""
CSV = """\
title,authors,year,publisher,place,url,isbn,abstract
Keeping children safe in education 2026,Department for Education,2026,DfE,London,https://www.gov.uk/kcsie,,Statutory guidance for schools.
"Domestic abuse and children, a review",Brown, Kate; Green, Li,2025,Policy Press,Bristol,,,
,Nobody,twenty-twenty,X,Y,,,
Fourth,"Grey, Al",2024,Pub,Leeds,not-a-url,123,
Last good one,"White, Jo",2023,Routledge,Abingdon,,9780415123456,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_ris_import_reports_bad_records_and_imports_the_rest(factory, tmp_path: Path) -> None:
    with transaction(factory) as session:
        report = import_catalogue(session, write(tmp_path, "new.ris", RIS), "new-in-the-library")
    assert report.counts.new == 2
    assert [str(e) for e in report.errors] == ["record 3: the title is missing"]
    with factory() as session:
        jutte = session.scalar(select(Item).where(Item.title.startswith("Online child")))
        assert item_citation(jutte, None).text == (
            "Jütte, S. (2016) Online child sexual abuse images: doing more "
            "to tackle demand and supply. London: NSPCC."
        )
        (placement,) = jutte.placements
        assert (placement.newsletter.slug, placement.section.name) == (
            "new-in-the-library",
            "Books and reports",
        )
        assert jutte.authors == ["Jütte, Sonja"]
        assert jutte.published_estimated and jutte.published.year == 2016
        book = session.scalar(select(Item).where(Item.isbn.is_not(None)))
        assert book.isbn == "9781787751234"
        assert [s.feed.name for s in book.sources] == ["New in the Library catalogue"]


def test_reimport_adds_nothing(factory, tmp_path: Path) -> None:
    path = write(tmp_path, "new.ris", RIS)
    with transaction(factory) as session:
        import_catalogue(session, path, "new-in-the-library")
    with transaction(factory) as session:
        again = import_catalogue(session, path, "new-in-the-library", "Journal articles")
    assert (again.counts.new, again.counts.unchanged) == (0, 2)


def test_csv_import_with_malformed_rows(factory, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            str(factory.kw["bind"].url.render_as_string(hide_password=False)),
            "items",
            "import",
            str(write(tmp_path, "new.csv", CSV)),
            "--newsletter",
            "new-in-the-library",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "row 3: has 10 fields but the header names 8" in result.output
    assert (
        "row 4: the title is missing; the year 'twenty-twenty' is not a four-digit year"
        in result.output
    )
    assert (
        "row 5: the URL 'not-a-url' is not an http(s) address; the ISBN '123' is not a 10 "
        "or 13 digit ISBN"
    ) in result.output
    assert "2 new" in result.output and "3 skipped" in result.output
    with factory() as session:
        titles = set(session.scalars(select(Item.title)))
        citations = {item_citation(i, None).text for i in session.scalars(select(Item))}
    assert titles == {"Keeping children safe in education 2026", "Last good one"}
    assert (
        "Department for Education (2026) Keeping children safe in education 2026. London: "
        "DfE." in citations
    )


def test_shipped_catalogue_files_import(sqlite_factory) -> None:
    with transaction(sqlite_factory) as session:
        ris = import_catalogue(
            session, ROOT / "examples/catalogue/new-in-the-library.ris", "new-in-the-library"
        )
        csv = import_catalogue(
            session, ROOT / "examples/catalogue/new-in-the-library.csv", "new-in-the-library"
        )
    assert ris.errors == [] and ris.counts.new >= 8
    assert [e.number for e in csv.errors] == [6]


def test_unknown_format_is_refused(sqlite_factory, tmp_path: Path) -> None:
    with transaction(sqlite_factory) as session, pytest.raises(CatalogueFormatError):
        import_catalogue(session, write(tmp_path, "x.marc", "?"), "new-in-the-library")


ARTICLE_AND_CHAPTER = """\
TY  - JOUR
AU  - Ó Briain, Aoife
TI  - Kinship care and contact
T2  - Child Abuse Review
PY  - 2025
VL  - 34
IS  - 2
SP  - 101
EP  - 118
SN  - 0952-9136
DO  - 10.1002/car.2901
ER  - 

TY  - CHAP
AU  - Doyle, Catherine
TI  - Neglect in adolescence
BT  - Safeguarding Teenagers
ED  - Firmin, Carlene
ED  - Lloyd, Jenny
PY  - 2024
PB  - Policy Press
CY  - Bristol
SP  - 45
EP  - 60
SN  - 978-1-4473-7315-5
ER  - 
"""


def test_ris_articles_and_chapters_are_cited_with_their_journal_and_book(
    sqlite_factory, tmp_path: Path
) -> None:
    """A catalogue's article names its journal, volume, issue and pages, and its SN is the
    journal's ISSN, not an ISBN; a chapter names its book and editors."""
    path = write(tmp_path, "parts.ris", ARTICLE_AND_CHAPTER)
    with transaction(sqlite_factory) as session:
        report = import_catalogue(session, path, "new-in-the-library")
    assert (report.counts.new, report.errors) == (2, [])
    with sqlite_factory() as session:
        article = session.scalar(select(Item).where(Item.title == "Kinship care and contact"))
        chapter = session.scalar(select(Item).where(Item.title == "Neglect in adolescence"))
        assert article.isbn is None and article.csl["ISSN"] == "0952-9136"
        assert item_citation(article, None).text == (
            "Ó Briain, A. (2025) ‘Kinship care and contact’, Child Abuse Review, 34(2), "
            "pp. 101–118. Available at: https://doi.org/10.1002/car.2901."
        )
        assert "<i>Child Abuse Review</i>" in item_citation(article, None).html
        assert chapter.isbn == "9781447373155"
        assert item_citation(chapter, None).text == (
            "Doyle, C. (2024) ‘Neglect in adolescence’, in C. Firmin and J. Lloyd (eds) "
            "Safeguarding Teenagers. Bristol: Policy Press, pp. 45–60."
        )
