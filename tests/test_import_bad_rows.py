"""Bad rows of a subscriber list are rows, not failed files: each is reported by its number
and the rest are imported, on SQLite and on PostgreSQL alike (where one value the database
refuses would otherwise abort the whole transaction). A file that cannot be read at all (no
encoding reads it, no email column) is refused whole, exit status 2, with nothing written."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text

from digest.cli import cli
from digest.models import ConsentEvent, Subscriber

HEADER = "email,name,status,topics,consent_source,consent_at,consent_ip,confirmed_at\n"


@pytest.fixture
def run(factory, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEY", "bad-rows-test")
    db = factory.kw["bind"].url.render_as_string(hide_password=False)

    def invoke(path: Path, *args: str) -> Result:
        command = ["--db", db, "subscribers", "import", str(path), "--newsletter", "caspar"]
        return CliRunner().invoke(cli, [*command, *args])

    return invoke


def names(factory) -> dict[str, str]:
    with factory() as session:
        return dict(session.execute(select(Subscriber.email, Subscriber.name)).all())


def flat(output: str) -> str:
    return " ".join(output.split())


def write(tmp_path: Path, rows: list[str], name: str = "list.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


GOOD_BEFORE, GOOD_AFTER = "before@example.org,Ann Before", "after@example.org,Ben After"


@pytest.mark.parametrize(
    ("bad", "reported"),
    [
        (f"long@example.org,{'N' * 300}", "row 3: the name has 300 characters, over the 200 taken"),
        ("nul@example.org,Nul\x00Byte", "row 3: name holds a control character (U+0000)"),
        ("bell@example.org,Bell\x07", "row 3: name holds a control character (U+0007)"),
        (
            f"ip@example.org,Ip,active,,,,{'1' * 100},",
            "row 3: the consent IP has 100 characters, over the 64 taken",
        ),
        (
            f"huge@example.org,{'x' * 200_000}",
            "row 3: name holds 200,000 characters, over the 131,072 taken",
        ),
        (
            "src@example.org,Src,active,,Form\x1bname,,,",
            "row 3: consent_source holds a control character (U+001B)",
        ),
    ],
    ids=["name-300", "nul", "control", "ip-100", "field-200k", "escape-in-source"],
)
def test_a_bad_row_is_reported_and_the_rest_imported(
    run, factory, tmp_path: Path, bad: str, reported: str
) -> None:
    result = run(write(tmp_path, [GOOD_BEFORE, bad, GOOD_AFTER]))
    assert result.exit_code == 0, result.output
    assert reported in flat(result.output)
    assert "2 added, 0 updated, 1 rows skipped" in result.output
    assert names(factory) == {"before@example.org": "Ann Before", "after@example.org": "Ben After"}


def test_a_latin1_file_is_read_and_its_encoding_named(run, factory, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("email,name\njose@example.es,José García\nzoe@example.org,Zoë Brontë\n"
                     .encode("latin-1"))  # fmt: skip
    result = run(path)
    assert result.exit_code == 0, result.output
    assert "is not UTF-8: read as cp1252" in flat(result.output)
    assert "2 added" in result.output
    assert names(factory) == {"jose@example.es": "José García", "zoe@example.org": "Zoë Brontë"}


def test_the_encoding_can_be_named(run, factory, tmp_path: Path) -> None:
    path = tmp_path / "polish.csv"
    path.write_bytes("email,name\nl@example.pl,Łukasz Żółć\n".encode("cp1250"))
    result = run(path, "--encoding", "cp1250")
    assert result.exit_code == 0, result.output
    assert names(factory) == {"l@example.pl": "Łukasz Żółć"}
    assert run(path, "--encoding", "klingon").exit_code == 2


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_files_with_a_byte_order_mark_are_read(run, factory, tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "marked.csv"
    path.write_bytes("email,name\nhanako@例え.jp,花子 山田 🙂\n".encode(encoding))
    result = run(path)
    assert result.exit_code == 0, result.output
    assert "not UTF-8" not in result.output
    assert names(factory) == {"hanako@例え.jp": "花子 山田 🙂"}


def test_a_file_no_encoding_reads_is_refused_whole(run, factory, tmp_path: Path) -> None:
    path = tmp_path / "list.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "a@example.org,A\n").encode()) * 3)
    result = run(path)
    assert result.exit_code == 2
    assert "cannot tell the character encoding" in flat(result.output)
    assert str(path.name) in result.output and "nothing was imported" in flat(result.output)
    assert "Traceback" not in result.output
    assert names(factory) == {}


def test_a_file_without_an_email_column_is_refused(run, factory, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("who,what\nAnn,reader\n", encoding="utf-8")
    result = run(path)
    assert result.exit_code == 2
    assert "no email column" in result.output and names(factory) == {}


def test_an_unclosed_quote_is_one_bad_row_saying_where(run, factory, tmp_path: Path) -> None:
    rows = [GOOD_BEFORE, 'open@example.org,"Never closed'] + [
        f"r{n}@example.org,Reader {n} {'x' * 60}" for n in range(3000)
    ]
    result = run(write(tmp_path, rows))
    assert result.exit_code == 0, result.output
    output = flat(result.output)
    assert "row 3: name holds" in output and "lines 3-3,003: is a closing quote missing?" in output
    assert names(factory) == {"before@example.org": "Ann Before"}


def test_a_quote_running_past_8_mib_stops_the_reading_there(run, factory, tmp_path: Path) -> None:
    rows = [GOOD_BEFORE, 'open@example.org,"Never closed'] + [
        f"r{n}@example.org,Reader {n} {'x' * 80}" for n in range(100_000)
    ]
    result = run(write(tmp_path, rows))
    assert result.exit_code == 0, result.output
    output = flat(result.output)
    assert "row 3: from line 3 on, a line or quoted cell runs past 8 MiB" in output
    assert "nothing after it was read" in output
    assert names(factory) == {"before@example.org": "Ann Before"}


def test_a_source_the_database_cannot_take_is_refused(run, factory, tmp_path: Path) -> None:
    result = run(write(tmp_path, [GOOD_BEFORE]), "--source", "s" * 250)
    assert result.exit_code == 2
    assert "--source: the source has 250 characters, over the 200 taken" in flat(result.output)
    assert names(factory) == {}


def test_a_row_the_database_refuses_leaves_the_rest_of_its_batch(
    run, factory, tmp_path: Path
) -> None:
    """The backstop: a row that passes every check but that the database refuses (here a
    trigger stands for whatever no check foresaw) is reported, and its batch is written
    without it."""
    with factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "IF NEW.email = 'refused@example.org' THEN RAISE EXCEPTION 'refused here' USING ERRCODE = 'check_violation'; "
                    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            session.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON subscribers "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        else:
            session.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON subscribers "
                    "WHEN NEW.email = 'refused@example.org' "
                    "BEGIN SELECT RAISE(ABORT, 'refused here'); END"
                )
            )
        session.commit()
    rows = [f"p{n}@example.org,Person {n}" for n in range(40)]
    rows.insert(20, "refused@example.org,Refused")
    result = run(write(tmp_path, rows))
    assert result.exit_code == 0, result.output
    assert "row 22: not stored: refused here" in flat(result.output)
    assert "40 added, 0 updated, 1 rows skipped" in result.output
    assert len(names(factory)) == 40 and "refused@example.org" not in names(factory)
    with factory() as session:
        assert session.scalar(select(ConsentEvent.id).limit(1)) is not None
        events = session.scalars(select(ConsentEvent.subscriber_id)).all()
    assert len(events) == 40


def test_a_pipe_is_refused_not_read_for_ever(run, factory, tmp_path: Path) -> None:
    pipe = tmp_path / "list.csv"
    os.mkfifo(pipe)
    result = run(pipe)
    assert result.exit_code == 2
    assert "not a file; nothing was imported" in result.output and names(factory) == {}
