"""The command line as a librarian uses it: init, poll, list, export, decide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from feedfactory import Entry, rss, sample_entries
from pytest_httpserver import HTTPServer

from digest.cli import cli

CONFIG = """\
newsletters:
  - slug: caspar
    title: CASPAR
    sections: [Policy, News]
    from_address: caspar@digest.test
topics:
  - slug: neglect
    label: Neglect
feeds:
  - name: Good feed
    url: {good}
    newsletter: caspar
    section: News
    topics: [neglect]
    allow_private_network: true
  - name: Missing feed
    url: {missing}
    newsletter: caspar
    section: Policy
    allow_private_network: true
"""


@pytest.fixture
def run(httpserver: HTTPServer, tmp_path: Path, database_url: str):
    httpserver.expect_request("/good.xml").respond_with_data(
        rss(
            [
                *sample_entries(count=2),
                Entry(
                    title="Neglect <script>x</script> review",
                    link="https://ex.org/n",
                    author="Jütte, Sonja",
                ),
            ]
        ),
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/missing.xml").respond_with_data("", status=404)
    config = tmp_path / "feeds.yaml"
    config.write_text(
        CONFIG.format(
            good=httpserver.url_for("/good.xml"), missing=httpserver.url_for("/missing.xml")
        )
    )
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, ["--config", str(config), "--db", database_url, *args])

    assert invoke("init").exit_code == 0
    return invoke


def test_poll_reports_each_feed_and_exits_0_when_some_fail(run) -> None:
    result = run("poll")
    assert result.exit_code == 0, result.output
    assert "Good feed" in result.output and "Missing feed" in result.output
    assert "The feed was not found (404 Not Found)" in result.output
    assert "2 feeds polled: 3 new items, 0 duplicates, 1 failed." in result.output
    # One plain line a feed, its result and reason on it; then the suggestions made as the
    # new items were stored.
    (missing,) = [line for line in result.output.splitlines() if line.startswith("Missing")]
    assert "failed" in missing and "404 Not Found" in missing
    assert "Topics suggested for" in result.output

    again = run("poll")
    assert "0 feeds polled" in again.output and "not due yet" in again.output, again.output
    assert (
        run("poll", "--feed", "Good feed").output.count("not modified")
        + run("poll", "--feed", "Good feed").output.count("same content")
        >= 1
    )


def test_poll_of_an_unknown_feed_exits_2(run) -> None:
    result = run("poll", "--feed", "Nope")
    assert result.exit_code == 2 and "no feed named Nope" in result.output


def test_feeds_list_shows_health_in_words(run) -> None:
    run("poll")
    result = run("feeds", "list")
    assert "Working." in result.output
    assert "Failing (once in a row): The feed was not found (404 Not Found)" in result.output
    assert "1 feeds need attention." in result.output
    attention = run("feeds", "list", "--attention")
    assert "Good feed" not in attention.output and "Missing feed" in attention.output


def test_pause_and_resume(run) -> None:
    assert run("feeds", "pause", "Missing feed", "--reason", "Site rebuilt").exit_code == 0
    assert "Site rebuilt" in run("feeds", "list").output
    assert "Missing feed" not in run("poll").output
    run("feeds", "resume", "Missing feed")
    assert "Missing feed" in run("poll").output


def test_export_jsonl_has_every_field(run) -> None:
    run("poll")
    lines = run("items", "export", "--format", "jsonl").output.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 3
    neglect = next(r for r in records if r["title"].startswith("Neglect"))
    assert neglect["title"] == "Neglect review"  # markup in titles never survives
    assert neglect["authors"] == ["Jütte, Sonja"]
    assert neglect["feeds"] == ["Good feed"]
    assert neglect["newsletters"] == [
        {"newsletter": "caspar", "status": "new", "section": "News", "topics": ["neglect"]}
    ]
    assert neglect["canonical_url"] == "https://ex.org/n" and neglect["url"] == "https://ex.org/n"
    for key in ("id", "published", "summary_html", "doi", "pmid", "record"):
        assert key in neglect
    # Cited in the newsletter's style (Cite Them Right by default), from the item's own fields.
    assert neglect["citation"].startswith("Jütte, S. (")
    assert "Neglect review" in neglect["citation"]


def test_list_filters_and_decisions(run) -> None:
    run("poll")
    records = [json.loads(line) for line in run("items", "export").output.splitlines()]
    first, second = records[0]["id"], records[1]["id"]
    assert run("items", "reject", str(first)).exit_code == 0
    assert run("items", "accept", str(second)).exit_code == 0
    rejected = run("items", "list", "--status", "rejected").output
    assert records[0]["title"][:20] in rejected and records[1]["title"][:20] not in rejected
    assert "Items (newest 1)" in run("items", "list", "--status", "accepted").output
    assert "Items (newest 3)" in run("items", "list", "--feed", "Good feed").output
    assert "Items (newest 0)" in run("items", "list", "--since", "2099-01-01").output
    deleted = run("items", "delete", str(second))
    assert deleted.exit_code == 0 and deleted.output.startswith("Deleted: ")
    assert run("items", "delete", "99999").exit_code == 2


def test_feeds_check_reads_without_storing(run) -> None:
    result = run("feeds", "check")
    assert result.exit_code == 0
    assert "ok, 3 entries" in result.output
    assert "The feed was not found (404 Not Found)" in result.output
    assert "Items (newest 0)" in run("items", "list").output


def test_config_check_and_opml_export(run, tmp_path: Path) -> None:
    assert "is valid: 1 newsletters, 1 topics, 2 feeds." in run("config", "check").output
    out = tmp_path / "feeds.opml"
    assert run("feeds", "export-opml", "--out", str(out)).exit_code == 0
    assert out.read_text().count('type="rss"') == 2
