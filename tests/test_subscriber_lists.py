"""Subscriber lists in and out, subject access, and erasure that leaves nothing personal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from digest.cli import cli
from digest.config import load_config, sync_config
from digest.db import session_factory, transaction
from digest.models import ConsentEvent, Subscriber, Subscription, Suppression

OURS = """\
email,name,status,topics,consent_source,consent_at,consent_ip,confirmed_at
ann@example.org,Ann Smith,active,neglect;online-grooming,CASPAR sign-up 2019,2019-04-01T09:00:00Z,192.0.2.1,2019-04-01T09:05:00Z
not-an-address,Bad Row,active,,,,,
ben@example.org,Ben,active,no-such-topic,,,,
cat@example.org,,unsubscribed,,,,,
dan@example.org,Dan,sleeping,,,,,
"""
MAILCHIMP = """\
Email Address,First Name,Last Name,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,TAGS
eve@example.org,Eve,Jones,2021-01-02 10:00:00,198.51.100.7,2021-01-02 10:10:00,Neglect
"""


@pytest.fixture
def run(engine, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DIGEST_SECRET_KEY", "list-tests")
    with transaction(session_factory(engine)) as session:
        sync_config(session, load_config(Path(__file__).parent / "data" / "config.yaml"))
    db = engine.url.render_as_string(hide_password=False)

    def invoke(*args: str, **kwargs: object):
        return CliRunner().invoke(cli, ["--db", db, "subscribers", *args], **kwargs)

    return invoke


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_import_reports_bad_rows_and_imports_the_rest(run, engine, tmp_path: Path) -> None:
    result = run("import", str(write(tmp_path, "ours.csv", OURS)), "--newsletter", "caspar")
    assert result.exit_code == 0, result.output
    assert "row 3: 'not-an-address' is not an email address" in result.output
    assert "row 4: unknown topic no-such-topic" in result.output
    assert "row 6: unknown status 'sleeping'" in result.output
    assert "2 added, 0 updated, 3 rows skipped" in result.output
    with engine.connect() as connection:
        rows = dict(
            connection.execute(
                select(Subscriber.email, Subscription.status).join(Subscription)
            ).all()
        )
        assert rows == {"ann@example.org": "active", "cat@example.org": "unsubscribed"}
        forms = connection.execute(select(ConsentEvent.form, ConsentEvent.ip)).all()
        assert ("import of ours.csv", "192.0.2.1") in [tuple(f) for f in forms]


def test_import_says_which_addresses_only_smtputf8_can_reach(run, engine, tmp_path) -> None:
    rows = "email,name\njürgen@bücher.example,Jürgen\nreader@bücher.example,\n用户@例子.广告,\n"
    result = run("import", str(write(tmp_path, "intl.csv", rows)), "--newsletter", "caspar")
    assert result.exit_code == 0, result.output
    assert "3 added" in result.output
    output = " ".join(result.output.split())
    assert "rows 2, 4: imported, but with letters outside plain ASCII" in output
    assert "SMTPUTF8" in output and "row 3" not in output  # an IDN domain needs no note
    with engine.connect() as connection:
        stored = set(connection.scalars(select(Subscriber.email)))
    assert stored == {"jürgen@bücher.example", "reader@bücher.example", "用户@例子.广告"}


def test_mailchimp_export_imports_and_round_trips(run, tmp_path: Path) -> None:
    run(
        "import",
        str(write(tmp_path, "mc.csv", MAILCHIMP)),
        "--newsletter",
        "caspar",
        "--source",
        "Mailchimp audience export",
    )
    out = tmp_path / "export.csv"
    assert run("export", "--newsletter", "caspar", "--out", str(out)).exit_code == 0
    (row,) = list(csv.DictReader(out.open()))
    assert row["email"] == "eve@example.org" and row["name"] == "Eve Jones"
    assert row["topics"] == "neglect" and row["status"] == "active"
    assert row["consent_source"] == "Mailchimp audience export"
    assert row["consent_ip"] == "198.51.100.7"
    assert row["confirmed_at"].startswith("2021-01-02T10:10:00")


def test_show_and_erase(run, engine, tmp_path: Path) -> None:
    run("import", str(write(tmp_path, "ours.csv", OURS)), "--newsletter", "caspar")
    shown = run("show", "ann@example.org")
    data = json.loads(shown.output)
    assert data["subscriptions"][0]["topics"] == ["neglect", "online-grooming"]
    assert data["consent_events"][0]["ip"] == "192.0.2.1"
    assert run("erase", "ann@example.org", "--yes").exit_code == 0
    with engine.connect() as connection:
        reasons = connection.execute(select(Suppression.reason)).scalars().all()
        assert sorted(reasons) == ["erased", "unsubscribed"]  # Ann; and Cat, who left
        # No trace of the person anywhere in the database, in any table.
        for table in (
            "subscribers",
            "subscriptions",
            "subscription_topics",
            "consent_events",
            "audit_log",
            "suppressions",
        ):
            dump = " ".join(str(r) for r in connection.execute(text(f"SELECT * FROM {table}")))
            assert "ann@example.org" not in dump and "Ann Smith" not in dump
            assert "192.0.2.1" not in dump
    # An old list cannot bring the address back.
    again = run("import", str(write(tmp_path, "ours.csv", OURS)), "--newsletter", "caspar")
    assert "Held back 1 row: 1 erased" in again.output
    assert run("show", "ann@example.org").exit_code == 2
    with engine.connect() as connection:
        assert connection.execute(select(Subscriber.email)).scalars().all() == ["cat@example.org"]
