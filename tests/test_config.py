"""The config file: every mistake named with file, line and field; a bad file writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from digest.cli import cli
from digest.config import ConfigError, load_config, sync_config
from digest.db import make_engine, session_factory, transaction, upgrade_schema
from digest.models import Feed, Newsletter, Topic

ROOT = Path(__file__).parent.parent
GOOD = """\
newsletters:
  - slug: caspar
    title: CASPAR
    sections: [Policy, News]
    from_address: caspar@digest.test
topics:
  - slug: neglect
    label: Neglect
feeds:
  - name: DfE
    url: https://www.gov.uk/government/organisations/department-for-education.atom
    newsletter: caspar
    section: Policy
    topics: [neglect]
    poll_interval: 2h
"""


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(p) for p in caught.value.problems]


def test_the_shipped_configs_are_valid() -> None:
    config = load_config(ROOT / "feeds.yaml")
    slugs = {t.slug for t in config.topics}
    assert {"caspar", "new-in-the-library"} <= {n.slug for n in config.newsletters}
    assert 25 <= len(config.topics) <= 40
    assert {
        "online-grooming",
        "live-streaming",
        "indecent-images-of-children",
        "prohibited-images",
        "child-sexual-exploitation",
        "neglect",
        "domestic-abuse",
        "child-sexual-abuse",
        "case-reviews",
        "legislation-and-policy",
    } <= slugs
    assert all(f.url.startswith("https://") for f in config.feeds)
    caspar = next(n for n in config.newsletters if n.slug == "caspar")
    assert caspar.sections == ["Policy", "Research", "Practice", "News"]
    assert (caspar.schedule.weekday, str(caspar.schedule.time), caspar.schedule.timezone) == (
        "tuesday",
        "09:00:00",
        "Europe/London",
    )
    demo = load_config(ROOT / "examples" / "demo.yaml")
    assert all(Path(f.url).is_file() for f in demo.feeds)


def test_good_file_loads_with_durations(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.feeds[0].poll_interval == 120


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("topics: [neglect]", "topics: [neglect, online-groomin]"),
            "feeds.yaml:14: feeds[0].topics[1]: unknown topic 'online-groomin' in feed 'DfE'",
        ),
        (
            ("url: https://www.gov.uk/", "url: ftp://www.gov.uk/"),
            "feeds.yaml:11: feeds[0].url: 'ftp://www.gov.uk/government/organisations/department-for-"
            "education.atom': only http, https or a local file path can be polled",
        ),
        (
            (
                "newsletters:\n",
                "newsletters:\n  - slug: other\n    title: Other\n    sections: [A]\n"
                "    from_address: a@b.org\n    schedule: {timezone: Europe/Londn}\n",
            ),
            "feeds.yaml:6: newsletters[0].schedule.timezone: 'Europe/Londn' is not an IANA timezone "
            "such as Europe/London",
        ),
        (
            ("section: Policy", "section: Research"),
            "feeds.yaml:13: feeds[0].section: newsletter 'caspar' has no section 'Research' "
            "(it has: Policy, News)",
        ),
        (
            ("poll_interval: 2h", "poll_interval: often"),
            "feeds.yaml:15: feeds[0].poll_interval: 'often' is not a duration such as 30m, 2h or 1d",
        ),
        (
            ("    label: Neglect\n", "    label: Neglect\n    colour: red\n"),
            "feeds.yaml:9: topics[0].colour: is not a known setting (check the spelling)",
        ),
        (
            ("  - slug: neglect\n", "  - slug: Neglect Topic\n"),
            "feeds.yaml:7: topics[0].slug: 'Neglect Topic' is not a slug (lower-case letters, digits "
            "and hyphens)",
        ),
        (("    title: CASPAR\n", ""), "feeds.yaml:2: newsletters[0].title: is required"),
        (
            (
                "    poll_interval: 2h\n",
                "    poll_interval: 2h\n  - name: DfE\n    url: https://x.org/"
                "\n    newsletter: caspar\n    section: News\n",
            ),
            "feeds.yaml:16: feeds[1].name: feed name 'DfE' is used twice",
        ),
        (
            ("    topics: [neglect]\n", "    topics: [neglect\n"),
            "feeds.yaml:15: not valid YAML: expected ',' or ']', but got ':'",
        ),
    ],
)
def test_each_mistake_is_named_with_its_line(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    assert [p.replace(str(tmp_path) + "/", "") for p in problems(path)] == [expected]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("newsletter: caspar", "newsletter: casper").replace(
        "label: Neglect", "label: Neglect\n    parent: abuse"
    )
    found = problems(write(tmp_path, text))
    assert len(found) == 2
    assert "unknown parent topic 'abuse'" in found[0]
    assert "unknown newsletter 'casper' (known: caspar)" in found[1]


def test_bad_file_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'd.sqlite'}"
    good = write(tmp_path, GOOD)
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(good), "--db", db, "init"]).exit_code == 0

    bad = write(
        tmp_path,
        GOOD.replace("title: CASPAR", "title: CASPAR weekly").replace(
            "topics: [neglect]", "topics: [nope]"
        ),
        "bad.yaml",
    )
    result = runner.invoke(cli, ["--config", str(bad), "--db", db, "config", "sync"])

    assert result.exit_code == 2
    assert f"{bad}:14: feeds[0].topics[0]: unknown topic 'nope' in feed 'DfE'" in result.output
    assert "nothing was written" in result.output
    factory = session_factory(make_engine(db))
    with factory() as session:
        assert session.scalar(select(Newsletter.title)) == "CASPAR"


def test_sync_upserts_and_keeps_rows_the_file_does_not_name(engine, tmp_path: Path) -> None:
    factory = session_factory(engine)
    with transaction(factory) as session:
        sync_config(session, load_config(write(tmp_path, GOOD)))
        session.add(Topic(slug="added-in-the-web-app", label="Added later"))
    changed = GOOD.replace("label: Neglect", "label: Neglect and deprivation").replace(
        "sections: [Policy, News]", "sections: [News, Policy, Research]"
    )
    with transaction(factory) as session:
        report = sync_config(session, load_config(write(tmp_path, changed)))
    assert report.created == {"newsletters": 0, "topics": 0, "feeds": 0}
    assert report.updated == {"newsletters": 1, "topics": 1, "feeds": 1}
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Topic)) == 2
        assert (
            session.scalar(select(Topic.label).where(Topic.slug == "neglect"))
            == "Neglect and deprivation"
        )
        newsletter = session.scalar(select(Newsletter))
        assert [s.name for s in newsletter.sections] == ["News", "Policy", "Research"]
        feed = session.scalar(select(Feed))
        assert (feed.section.name, feed.poll_interval_minutes) == ("Policy", 120)


def test_init_twice_is_safe(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'd.sqlite'}"
    args = ["--config", str(write(tmp_path, GOOD)), "--db", db, "init"]
    runner = CliRunner()
    first, second = runner.invoke(cli, args), runner.invoke(cli, args)
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert "feeds: 1 new" in first.output and "feeds: 0 new, 1 updated" in second.output
    engine = make_engine(db)
    upgrade_schema(engine)
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Feed)) == 1


def test_commands_before_init_say_what_to_do(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    result = CliRunner().invoke(cli, ["--db", db, "items", "list"])
    assert result.exit_code == 2
    assert "has no Digest schema yet: run `digest init` first" in result.output


def test_unreachable_database_exits_2(tmp_path: Path) -> None:
    db = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    result = CliRunner().invoke(cli, ["--config", str(write(tmp_path, GOOD)), "--db", db, "init"])
    assert result.exit_code == 2
    assert "database error" in result.output
