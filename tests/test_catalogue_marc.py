"""MARC21 and MARCXML catalogue files for New in the Library: each record becomes an item with
the details its citation needs, a MARC-8 record reads as the cataloguer typed it, and a broken
record fails alone with its number and a reason."""

from __future__ import annotations

from pathlib import Path

import marcfixtures as marc
import pytest
from click.testing import CliRunner
from pymarc import Field
from sqlalchemy import select

from digest.catalogue.files import read_catalogue
from digest.catalogue.importer import import_catalogue
from digest.catalogue.records import CatalogueFormatError, CatalogueRecord, RecordError
from digest.cli import cli
from digest.db import transaction
from digest.models import Item

FORMATS = {"MARC21": ("new.mrc", marc.binary), "MARCXML": ("new.xml", marc.marcxml)}


def records_of(path: Path) -> list[CatalogueRecord | str]:
    """Each record read, or its error as people see it."""
    return [
        str(found) if isinstance(found, RecordError) else found[1] for found in read_catalogue(path)
    ]


@pytest.fixture(params=FORMATS)
def write(request: pytest.FixtureRequest, tmp_path: Path):
    name, encode = FORMATS[request.param]

    def written(*records) -> Path:
        path = tmp_path / name
        path.write_bytes(encode(*records))
        return path

    return written


def test_a_book_with_editors(write) -> None:
    (book,) = records_of(write(marc.book_with_editors()))
    assert book.kind == "book"
    assert book.title == "Contextual safeguarding: an overview of the research"
    assert book.authors == []
    # The illustrator is not among them.
    assert book.editors == ["Firmin, Carlene", "Łukasik, Józef"]
    assert (book.place, book.publisher, book.year) == ("Bristol", "Policy Press", 2019)
    assert book.isbn == "9781447345695"  # the first, without hyphens or "(pbk.)"
    assert book.edition == "Second edition."
    assert book.series == "Safeguarding studies"
    assert book.url == "https://policy.bristoluniversitypress.co.uk/contextual"
    assert book.abstract == "Chapters on peer abuse — and on what schools can do."


def test_a_report_with_its_doi(write) -> None:
    (report,) = records_of(write(marc.report()))
    assert report.kind == "report"
    assert report.authors == ["Jütte, Sonja"]
    assert report.title == (
        "Online child sexual abuse images: doing more to tackle demand and supply"
    )
    assert (report.place, report.publisher, report.year) == ("London", "NSPCC", 2016)
    assert report.doi == "10.1234/nspcc.2016.7"


def test_a_chapter_names_its_book_and_pages(write) -> None:
    (chapter,) = records_of(write(marc.chapter()))
    assert chapter.kind == "chapter"
    assert chapter.title == "Listening to children in Łódź"
    assert chapter.authors == ["Ngũgĩ, Wanjiru"]
    assert chapter.container_title == "Child protection in Europe"
    assert (chapter.place, chapter.publisher, chapter.pages) == ("London", "Routledge", "45-67")


def test_an_article_names_its_journal_volume_issue_and_pages(write) -> None:
    (article,) = records_of(write(marc.article()))
    assert article.kind == "article-journal"
    assert article.authors == ["O’Brien, Siobhán", "Dupré, Élodie"]
    assert article.container_title == "Child Abuse Review"
    assert (article.volume, article.issue, article.pages) == ("30", "2", "101-115")
    assert article.issn == "0952-9136"
    assert article.doi == "10.1002/car.2670"  # from its link at doi.org


@pytest.mark.parametrize(
    ("subfields", "title"),
    [
        ({"a": "Kinship care."}, "Kinship care"),
        ({"a": "Vitamin D."}, "Vitamin D."),
        (
            {"a": "[Neglect] :", "b": "a guide for schools /", "c": "NSPCC."},
            "Neglect: a guide for schools",
        ),
        ({"a": "Annual report.", "n": "Part 2,", "p": "Wales."}, "Annual report. Part 2, Wales"),
    ],
)
def test_titles_lose_the_cataloguers_punctuation(write, subfields, title) -> None:
    (found,) = records_of(
        write(marc.record("am", marc.fixed(), marc.field("245", "10", **subfields)))
    )
    assert found.title == title


def test_a_thesis_is_published_by_its_university(write) -> None:
    thesis = marc.record(
        "am",
        Field(tag="008", data="160101nuuuu    wlk" + " " * 22),
        marc.field("100", "1 ", a="Ap Iorwerth, Siân."),
        marc.field("245", "10", a="Gofal plant yng Nghymru /"),
        marc.field("502", b="PhD", c="Prifysgol Caerdydd", d="2024"),
    )
    (found,) = records_of(write(thesis))
    assert (found.kind, found.publisher, found.year) == ("thesis", "Prifysgol Caerdydd", 2024)
    assert found.authors == ["Ap Iorwerth, Siân"]


def test_a_marc8_record_reads_as_typed(tmp_path: Path) -> None:
    path = tmp_path / "old-system.mrc"
    path.write_bytes(marc.binary(marc.marc8_record()))
    assert b"J\xe8utte" in path.read_bytes()  # the umlaut before its letter: MARC-8
    (found,) = records_of(path)
    assert found.authors == ["Jütte, Sonja"]
    assert found.title == "Safeguarding in Łódź"
    assert found.place == "Łódź"


def test_a_utf8_record_labelled_marc8_reads_as_utf8(tmp_path: Path) -> None:
    """Systems that convert to UTF-8 but leave leader/09 blank are common."""
    data = bytearray(marc.binary(marc.chapter()))
    data[9:10] = b" "
    path = tmp_path / "mislabelled.mrc"
    path.write_bytes(bytes(data))
    (found,) = records_of(path)
    assert (found.title, found.authors) == ("Listening to children in Łódź", ["Ngũgĩ, Wanjiru"])


def test_a_record_without_a_title_fails_alone(write) -> None:
    found = records_of(write(marc.report(), marc.untitled(), marc.article()))
    assert found[1] == "record 2: the title is missing"
    assert [r.title[:12] for r in (found[0], found[2])] == ["Online child", "Peer-on-peer"]


def _with_length(record: bytes, length: int) -> bytes:
    return f"{length:05d}".encode() + record[5:]


def _with_directory_damaged(record: bytes) -> bytes:
    return record[:27] + b"00x1" + record[31:]  # the first field's length


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda r: _with_length(r, len(r) + 40),
            f"record 2: not a readable MARC record: its leader says it has "
            f"{len(marc.binary(marc.report())) + 40:,} bytes but it has "
            f"{len(marc.binary(marc.report())):,} (the record is cut short or its length is "
            "wrong)",
        ),
        (
            _with_directory_damaged,
            "record 2: not a readable MARC record: its directory of fields is damaged",
        ),
        (
            lambda r: b"xx" + r[2:],
            "record 2: not a readable MARC record: its leader does not start with a five-digit "
            "record length",
        ),
    ],
    ids=["wrong length", "bad directory", "no length"],
)
def test_a_broken_record_fails_alone(tmp_path: Path, damage, reason: str) -> None:
    broken = damage(marc.binary(marc.report()))
    path = tmp_path / "export.mrc"
    path.write_bytes(marc.binary(marc.article()) + broken + marc.binary(marc.chapter()))
    first, second, third = records_of(path)
    assert second.startswith(reason)
    assert (first.kind, third.kind) == ("article-journal", "chapter")


def test_a_file_cut_off_mid_record_keeps_the_records_before(tmp_path: Path) -> None:
    whole = marc.binary(marc.article(), marc.report())
    path = tmp_path / "export.mrc"
    path.write_bytes(whole[: len(whole) - 30])
    first, second = records_of(path)
    assert first.kind == "article-journal"
    assert second == "record 2: the file ends in the middle of this record"


def test_line_breaks_between_records_are_allowed(tmp_path: Path) -> None:
    path = tmp_path / "export.mrc"
    path.write_bytes(marc.binary(marc.article()) + b"\r\n" + marc.binary(marc.report()) + b"\n")
    assert [r.kind for r in records_of(path)] == ["article-journal", "report"]


def test_broken_marcxml_keeps_the_records_before_and_says_where(tmp_path: Path) -> None:
    whole = marc.marcxml(marc.article(), marc.report())
    path = tmp_path / "export.xml"
    path.write_bytes(whole[: whole.index(b"<record>", 100) + 300])
    found = records_of(path)
    assert found[0].kind == "article-journal"
    assert found[1].startswith("record 2: the XML is broken here, so the file stops:")


def test_marc_is_known_by_its_content_whatever_its_name(tmp_path: Path) -> None:
    binary, xml = tmp_path / "export.dat", tmp_path / "export.txt"
    binary.write_bytes(marc.binary(marc.report()))
    xml.write_bytes(marc.marcxml(marc.article()))
    assert [r.kind for r in records_of(binary) + records_of(xml)] == [
        "report",
        "article-journal",
    ]


def test_xml_that_is_not_marcxml_is_refused_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    path.write_text("<rss><channel/></rss>", encoding="utf-8")
    with pytest.raises(CatalogueFormatError, match=r"named as MARCXML .* but does not hold it"):
        read_catalogue(path)


def test_xml_entities_are_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password", encoding="utf-8")
    path = tmp_path / "export.xml"
    path.write_bytes(
        marc.marcxml(marc.report())
        .replace(
            b"<collection",
            f'<!DOCTYPE collection [<!ENTITY s SYSTEM "file://{secret}">]><collection'.encode(),
        )
        .replace(b"Online child", b"&s; Online child")
    )
    (found,) = records_of(path)
    assert found.title.startswith("Online child sexual abuse images")  # the rest is kept


def test_import_from_the_command_line_then_the_same_books_as_marcxml(
    factory, tmp_path: Path
) -> None:
    export = tmp_path / "koha-export.mrc"
    export.write_bytes(
        marc.binary(marc.book_with_editors(), marc.report(), marc.untitled(), marc.marc8_record())
    )
    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli, ["--db", url, "items", "import", str(export), "--newsletter", "new-in-the-library"]
    )
    assert result.exit_code == 0, result.output
    assert "record 3: the title is missing" in result.output
    assert "3 new" in result.output and "1 skipped" in result.output
    with factory() as session:
        book = session.scalar(select(Item).where(Item.isbn == "9781447345695"))
        assert (book.publisher, book.place) == ("Policy Press", "Bristol")
        old = session.scalar(select(Item).where(Item.title == "Safeguarding in Łódź"))
        assert old.authors == ["Jütte, Sonja"]
    again = tmp_path / "koha-export.xml"
    again.write_bytes(marc.marcxml(marc.book_with_editors(), marc.report()))
    with transaction(factory) as session:
        report = import_catalogue(session, again, "new-in-the-library")
    assert (report.counts.new, report.errors) == (0, [])
