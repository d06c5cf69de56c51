"""Lists as other tools really export them, imported as what they mean.

The files in tests/data/lists/ have the columns of each tool's export in its order and its
quoting: Mailchimp's subscribed, unsubscribed and cleaned audience exports (the last two have
no status column), and listmonk's subscriber export. Consent keeps its original date; tags
that are not topics are reported once and do not stop the address; and our own export comes
back unchanged when imported again.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from digest.cli import cli
from digest.models import ConsentEvent, Subscriber, Subscription, Suppression

LISTS = Path(__file__).parent / "data" / "lists"


@pytest.fixture
def run(factory, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEY", "formats-test-secret")
    db = factory.kw["bind"].url.render_as_string(hide_password=False)

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--db", db, "subscribers", *args])
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def import_file(run, path: Path | str, newsletter: str = "caspar") -> str:
    return run("import", str(LISTS / path), "--newsletter", newsletter, "--source", "old tool")


def people(factory) -> dict[str, tuple[str, str, list[str], datetime | None]]:
    """Address: (name, status, topics, confirmed_at) of every CASPAR subscription."""
    with factory() as session:
        return {
            s.subscriber.email: (
                s.subscriber.name,
                s.status.value,
                [t.slug for t in s.topics],
                s.confirmed_at,
            )
            for s in session.scalars(select(Subscription))
        }


def consent_dates(factory) -> dict[str, datetime]:
    with factory() as session:
        return dict(
            session.execute(
                select(Subscriber.email, ConsentEvent.at)
                .join(ConsentEvent, ConsentEvent.subscriber_id == Subscriber.id)
                .where(ConsentEvent.kind == "import")
            ).all()
        )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_mailchimp_subscribed_export_keeps_names_tags_and_consent_dates(run, factory) -> None:
    output = import_file(run, "mailchimp_subscribed.csv")
    assert "(Mailchimp export): 4 added, 0 updated, 0 rows skipped." in output
    # A tag that is not a topic is said once, with how many rows carried it.
    assert "'VIP' (2 rows)" in output and "'2019 conference, Leeds' (1 row)" in output
    assert output.count("VIP") == 1
    found = people(factory)
    assert found["ann.jones@example.org"] == (
        "Ann Jones",
        "active",
        ["neglect", "online-grooming"],
        at("2019-04-01 09:05:12"),
    )
    assert found["gwenllian.ap.rhys@example.org"][:3] == (
        "Gwenllïan ap Rhŷs",
        "active",
        ["online-grooming"],
    )
    assert found["hanako@例え.jp"][:2] == ("花子 山田", "active")
    assert found["jose.garcia@example.es"][0] == "José García 🙂"
    # Consent is dated when it was given (OPTIN_TIME, else CONFIRM_TIME), not today.
    assert consent_dates(factory) == {
        "ann.jones@example.org": at("2019-04-01 09:00:00"),
        "gwenllian.ap.rhys@example.org": at("2020-11-02 17:30:00"),
        "hanako@例え.jp": at("2021-07-07 07:07:07"),
        "jose.garcia@example.es": at("2022-02-02 02:02:02"),
    }


@pytest.mark.parametrize(
    ("export", "address", "status", "reason"),
    [
        ("mailchimp_unsubscribed.csv", "ben.left@example.org", "unsubscribed", "unsubscribed"),
        ("mailchimp_unsubscribed.csv", "cerys@example.cymru", "unsubscribed", "unsubscribed"),
        ("mailchimp_cleaned.csv", "gone@old-employer.example", "suppressed", "cleaned"),
        ("listmonk_subscribers.csv", "blocked@example.org", "suppressed", "blocklisted"),
        ("listmonk_subscribers.csv", "paused@example.org", "unsubscribed", "unsubscribed"),
    ],
)
def test_exports_of_people_who_left_put_them_on_the_suppression_list(
    run, factory, tmp_path: Path, export: str, address: str, status: str, reason: str
) -> None:
    output = import_file(run, export)
    assert "the person left: recorded, and on the suppression list" in output
    assert people(factory)[address][1] == status
    with factory() as session:
        assert reason in session.scalars(select(Suppression.reason)).all()
    # Even a list that says they are subscribed does not bring them back.
    ours = tmp_path / "ours.csv"
    ours.write_text(f"email,status\n{address.upper()},active\n", encoding="utf-8")
    assert f"Held back 1 row: 1 {reason}" in import_file(run, ours)
    assert people(factory)[address][1] == status


def test_an_unsubscribe_in_mailchimp_is_kept_with_its_date_and_reason(run, factory) -> None:
    import_file(run, "mailchimp_unsubscribed.csv")
    with factory() as session:
        event = session.scalar(
            select(ConsentEvent)
            .join(Subscriber, Subscriber.id == ConsentEvent.subscriber_id)
            .where(Subscriber.email == "cerys@example.cymru", ConsentEvent.kind == "unsubscribe")
        )
        assert event.at == at("2024-02-29 23:59:59")
        assert event.detail["reason_other"] == "Too many emails — sorry!"


def test_listmonk_export_keeps_its_statuses_and_its_creation_dates(run, factory) -> None:
    output = import_file(run, "listmonk_subscribers.csv")
    assert "(listmonk export): 4 added, 0 updated, 0 rows skipped." in output
    found = people(factory)
    assert found["dylan@example.org"][:2] == ("Dylan Thomas", "active")
    assert found["siân@example.org"][:2] == ("Siân Lloyd", "active")
    dates = consent_dates(factory)
    assert dates["dylan@example.org"] == datetime(2021, 2, 11, 18, 28, 31, 455849, tzinfo=UTC)
    assert dates["siân@example.org"] == at("2022-06-30 07:00:00")  # +0100 BST


def test_a_bad_date_is_reported_by_row_and_column(run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        '"Email Address","First Name",OPTIN_TIME,TAGS\n'
        "a@example.org,A,yesterday,\n"
        'b@example.org,B,"2024-03-05 10:11:12",\n',
        encoding="utf-8",
    )
    output = import_file(run, bad)
    assert "row 2: OPTIN_TIME 'yesterday' is not a date and time" in output
    assert "1 added" in output


def test_our_export_comes_back_unchanged_when_imported_again(run, factory, tmp_path) -> None:
    for export in ("mailchimp_subscribed.csv", "mailchimp_unsubscribed.csv"):
        import_file(run, export)
    first = tmp_path / "first.csv"
    run("export", "--newsletter", "caspar", "--out", str(first))
    with factory() as session:  # a new install: nothing but the file
        for table in (ConsentEvent, Subscriber, Suppression):
            session.execute(delete(table))
        session.commit()
    assert "0 rows skipped" in run("import", str(first), "--newsletter", "caspar")
    second = tmp_path / "second.csv"
    run("export", "--newsletter", "caspar", "--out", str(second))
    rows = list(csv.DictReader(first.open(encoding="utf-8")))
    assert rows == list(csv.DictReader(second.open(encoding="utf-8")))
    ann = next(r for r in rows if r["email"] == "ann.jones@example.org")
    assert ann["consent_at"].startswith("2019-04-01T09:00:00")
    assert ann["confirmed_at"].startswith("2019-04-01T09:05:12")
    assert ann["consent_source"] == "old tool"
    assert {r["status"] for r in rows} == {"active", "unsubscribed"}
