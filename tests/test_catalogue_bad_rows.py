"""Bad catalogue records are records, not failed files: each is reported by its number and the
rest imported, on SQLite and on PostgreSQL alike; a file no encoding reads is refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text

from digest.cli import cli
from digest.models import Item

HEADER = "title,authors,year,publisher,place,url,isbn,abstract,doi\n"
BEFORE = 'Neglect in adolescence,"Smith, Anne",2025,Jessica Kingsley,London,,,,'
AFTER = 'Online harms and children,"Jones, Peter",2024,NSPCC,London,,,,'


@pytest.fixture
def run(factory):
    db = factory.kw["bind"].url.render_as_string(hide_password=False)

    def invoke(path: Path, *args: str) -> Result:
        command = ["--db", db, "items", "import", str(path), "--newsletter", "new-in-the-library"]
        return CliRunner().invoke(cli, [*command, *args])

    return invoke


def titles(factory) -> set[str]:
    with factory() as session:
        return set(session.scalars(select(Item.title)))


def write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "catalogue.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("bad", "reported"),
    [
        ("Nul\x00title,,2020,,,,,,", "row 3: title holds a control character (U+0000)"),
        ('Bell,"Ring\x07, A",2020,,,,,,', "row 3: authors holds a control character (U+0007)"),
        (
            f"Huge,,2020,,,,,{'a' * 200_000},",
            "row 3: abstract holds 200,000 characters, over the 131,072 taken",
        ),
        (
            f"Long DOI,,2020,,,,,,10.1234/{'d' * 300}",
            "row 3: the DOI has 308 characters, over the 200 taken",
        ),
    ],
    ids=["nul", "control", "abstract-200k", "doi-308"],
)
def test_a_bad_record_is_reported_and_the_rest_imported(
    run, factory, tmp_path: Path, bad: str, reported: str
) -> None:
    result = run(write(tmp_path, [BEFORE, bad, AFTER]))
    assert result.exit_code == 0, result.output
    assert reported in " ".join(result.output.split())
    assert "2 new" in result.output and "1 skipped" in result.output
    assert titles(factory) == {"Neglect in adolescence", "Online harms and children"}


def test_a_latin1_catalogue_is_read_and_its_encoding_named(run, factory, tmp_path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes((HEADER + "Études sur l’enfance,\"Müller, Zoë\",2021,Éditions,Paris,,,,\n")
                     .encode("cp1252"))  # fmt: skip
    result = run(path)
    assert result.exit_code == 0, result.output
    assert "is not UTF-8: read as cp1252" in " ".join(result.output.split())
    assert titles(factory) == {"Études sur l’enfance"}


def test_a_catalogue_no_encoding_reads_is_refused_whole(run, factory, tmp_path) -> None:
    path = tmp_path / "catalogue.csv"
    path.write_bytes(bytes(range(256)) * 64)
    result = run(path)
    assert result.exit_code == 2
    assert "cannot tell the character encoding" in " ".join(result.output.split())
    assert "Traceback" not in result.output and titles(factory) == set()


def test_a_ris_record_with_a_control_character_is_reported(run, factory, tmp_path) -> None:
    path = tmp_path / "catalogue.ris"
    path.write_text(
        "TY  - BOOK\nTI  - Good one\nPY  - 2020\nER  - \n\n"
        "TY  - BOOK\nTI  - Bad\x01one\nPY  - 2020\nER  - \n",
        encoding="utf-8",
    )
    result = run(path)
    assert result.exit_code == 0, result.output
    assert "record 2: title holds a control character (U+0001)" in result.output
    assert titles(factory) == {"Good one"}


def test_a_record_the_database_refuses_leaves_the_rest_of_its_batch(
    run, factory, tmp_path: Path
) -> None:
    with factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.title = 'Refused' THEN RAISE EXCEPTION 'refused here' USING ERRCODE = 'check_violation'; "
                    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            session.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON items "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        else:
            session.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON items WHEN NEW.title = 'Refused' "
                    "BEGIN SELECT RAISE(ABORT, 'refused here'); END"
                )
            )
        session.commit()
    rows = [f"Title number {n},,2020,,,https://example.org/{n},,," for n in range(30)]
    rows.insert(10, "Refused,,2020,,,https://example.org/refused,,,")
    result = run(write(tmp_path, rows))
    assert result.exit_code == 0, result.output
    assert "row 12: not stored: refused here" in " ".join(result.output.split())
    assert "30 new" in result.output and "1 skipped" in result.output
    assert len(titles(factory)) == 30 and "Refused" not in titles(factory)
