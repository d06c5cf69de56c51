"""Editions: a draft from the week's accepted items, ordered, approved and frozen."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from webapp import add_items, entry, placements, settings_for

from digest.cli import cli
from digest.curation import decisions
from digest.db import transaction
from digest.editions import compose
from digest.editions.groups import grouped
from digest.editions.render import entries
from digest.models import (
    AuditEntry,
    Edition,
    EditionState,
    Item,
    ItemStatus,
    Newsletter,
    Placement,
    Section,
    Topic,
)
from digest.scheduler import tasks

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday; CASPAR goes out on Tuesday


def caspar(session) -> Newsletter:
    return session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))


def accept(factory, titles_sections_topics: list[tuple[str, str, str]]) -> dict[str, int]:
    """Items accepted into CASPAR, each in a section with a topic; returns ids by title."""
    ids = add_items(
        factory,
        [
            entry(title, f"https://example.org/{title.replace(' ', '-')}")
            for title, _, _ in titles_sections_topics
        ],
    )
    placement_of = dict(zip(ids, placements(factory, ids), strict=True))
    with transaction(factory) as session:
        sections = {s.name: s.id for s in caspar(session).sections}
        topics = {t.slug: t.id for t in session.scalars(select(Topic))}
        by_title = {session.get(Item, i).title: i for i in ids}
        for title, section, topic in titles_sections_topics:
            placement = placement_of[by_title[title]]
            decisions.place(session, placement, sections[section], "librarian")
            decisions.set_topics(session, [placement], [topics[topic]], "librarian")
        decisions.set_status(session, list(placement_of.values()), ItemStatus.ACCEPTED, "librarian")
    return by_title


def titles(edition: Edition) -> list[str]:
    return [e.item.title for e in edition.entries]


def test_draft_groups_by_section_then_topic(factory) -> None:
    accept(
        factory,
        [
            ("Grooming news", "News", "online-grooming"),
            ("Neglect study", "Research", "neglect"),
            ("New statutory guidance", "Policy", "legislation-and-policy"),
            ("Abuse online study", "Research", "online-abuse"),
        ],
    )
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        assert edition.period_start == date(2026, 11, 23)
        assert edition.subject == "CASPAR: week commencing 23 November 2026"
        assert titles(edition) == [
            "New statutory guidance",
            "Neglect study",
            "Abuse online study",
            "Grooming news",
        ]
        # Building again adds only what was accepted since, at the end.
        assert compose.build_draft(session, caspar(session), "editor", NOW) is edition
    accept(factory, [("Late policy", "Policy", "neglect")])
    with transaction(factory) as session:
        again = compose.build_draft(session, caspar(session), "editor", NOW)
        assert titles(again)[-1] == "Late policy" and len(again.entries) == 5


def test_empty_week_gets_no_edition_unless_configured(factory) -> None:
    with transaction(factory) as session:
        assert compose.build_draft(session, caspar(session), "editor", NOW) is None
        caspar(session).skip_when_empty = False
        empty = compose.build_draft(session, caspar(session), "editor", NOW)
        assert empty is not None and empty.entries == []
        with pytest.raises(compose.EditionError, match="no items cannot be approved"):
            compose.approve(session, empty, "editor", now=NOW)


def test_editor_orders_and_removes_items(factory) -> None:
    ids = accept(
        factory,
        [("A", "Policy", "neglect"), ("B", "Policy", "neglect"), ("C", "Policy", "neglect")],
    )
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        start = titles(edition)
        compose.move_item(session, edition, ids[start[2]], 0, "editor")
        assert titles(edition) == [start[2], start[0], start[1]]
        compose.remove_item(session, edition, ids[start[0]], "editor")
        assert titles(edition) == [start[2], start[1]]
        assert [e.position for e in edition.entries] == [0, 1]
        with pytest.raises(compose.EditionError, match="already in an edition"):
            compose.add_item(session, edition, ids[start[1]], "editor")
        compose.add_item(session, edition, ids[start[0]], "editor")
        assert titles(edition)[-1] == start[0]


def test_approval_freezes_the_content(factory) -> None:
    ids = accept(factory, [("Original title", "Research", "neglect")])
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        compose.approve(session, edition, "editor", now=NOW)
        assert edition.state is EditionState.APPROVED
        assert edition.send_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
        # A librarian's later rewrite does not reach the approved edition.
        decisions.edit_text(session, ids["Original title"], "Rewritten", "", "librarian")
        assert edition.entries[0].frozen["title"] == "Original title"
        assert edition.entries[0].frozen["topics"] == ["neglect"]
        for change in (
            lambda: compose.set_text(session, edition, "New", "", "editor"),
            lambda: compose.remove_item(session, edition, ids["Original title"], "editor"),
        ):
            with pytest.raises(compose.EditionError, match="frozen until it is un-approved"):
                change()
        compose.unapprove(session, edition, "editor")
        compose.set_text(session, edition, "CASPAR special", "Hello.", "editor")
        assert (edition.state, edition.subject, edition.entries[0].frozen) == (
            EditionState.DRAFT,
            "CASPAR special",
            None,
        )


def test_second_approver_rule(factory) -> None:
    """(The whole rule is specified in test_four_eyes.py.)"""
    accept(factory, [("Item", "News", "neglect")])
    with transaction(factory) as session:
        caspar(session).second_approver = True
        edition = compose.build_draft(session, caspar(session), "ann@example.org", NOW)
        compose.set_text(session, edition, "Subject", "", "ann@example.org")
        assert compose.approve(session, edition, "ann@example.org", now=NOW) is False
        assert edition.state is EditionState.DRAFT  # Ann alone built, edited and approved it
        assert compose.approve(session, edition, "bob@example.org", now=NOW) is True
        assert edition.state is EditionState.APPROVED
        assert edition.approved_by == "bob@example.org"


def test_cancelled_edition_releases_its_items(factory) -> None:
    accept(factory, [("Item", "News", "neglect")])
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        compose.cancel(session, edition, "editor")
        fresh = compose.build_draft(session, caspar(session), "editor", NOW, revive=True)
        assert fresh.state is EditionState.DRAFT and titles(fresh) == ["Item"]


def test_cli_build_list_approve(factory) -> None:
    accept(factory, [("Item for the CLI", "News", "neglect")])
    db = factory.kw["bind"].url.render_as_string(hide_password=False)
    runner = CliRunner()
    built = runner.invoke(cli, ["--db", db, "edition", "build", "--newsletter", "caspar"])
    assert built.exit_code == 0, built.output
    edition_id = built.output.split()[1]
    assert "1 items" in built.output
    listed = runner.invoke(cli, ["--db", db, "edition", "list"]).output
    assert "draft" in listed and "CASPAR: week commencing" in listed
    approved = runner.invoke(
        cli,
        [
            "--db",
            db,
            "edition",
            "approve",
            edition_id,
            "--as",
            "editor@example.org",
            "--send-at",
            "2099-01-05 09:00",
        ],
    )
    assert approved.exit_code == 0, approved.output
    assert "is now approved, to be sent 2099-01-05 09:00 UTC" in approved.output
    again = runner.invoke(cli, ["--db", db, "edition", "approve", edition_id])
    assert again.exit_code == 2 and "frozen" in again.output
    empty = runner.invoke(
        cli, ["--db", db, "edition", "build", "--newsletter", "new-in-the-library"]
    )
    assert "no edition this week" in empty.output
    with factory() as session:
        assert session.get(Edition, int(edition_id)).approved_by == "editor@example.org"
        assert session.scalar(select(Section.name).join(Placement).limit(1)) == "News"


def test_cli_refuses_to_approve_an_edition_gmail_would_clip(factory) -> None:
    ids = accept(factory, [("A very long item", "News", "neglect")])
    with transaction(factory) as session:
        session.get(Item, ids["A very long item"]).summary_html = "<p>" + "word " * 20_000 + "</p>"
        edition_id = str(compose.build_draft(session, caspar(session), "editor", NOW).id)
    db = factory.kw["bind"].url.render_as_string(hide_password=False)
    runner = CliRunner()
    refused = runner.invoke(cli, ["--db", db, "edition", "approve", edition_id])
    assert refused.exit_code == 2
    assert "over the 90 KB budget" in refused.output and "--allow-large" in refused.output
    with factory() as session:
        assert session.get(Edition, int(edition_id)).state is EditionState.DRAFT
    allowed = runner.invoke(cli, ["--db", db, "edition", "approve", edition_id, "--allow-large"])
    assert allowed.exit_code == 0, allowed.output
    assert "Warning: the full email is" in allowed.output and "is now approved" in allowed.output


GROUPED = [  # title, section, topic: three groups in Policy and Research, one in News
    ("Policy A", "Policy", "neglect"),
    ("Policy B", "Policy", "neglect"),
    ("Policy C", "Policy", "online-abuse"),
    ("Research A", "Research", "neglect"),
    ("Research B", "Research", "neglect"),
    ("News A", "News", "neglect"),
]
HEADINGS = [
    ("Policy", "Neglect"),
    ("Policy", "Online abuse"),
    ("Research", "Neglect"),
    ("News", "Neglect"),
]


def groups_of(edition: Edition) -> list[tuple[str, str, list[str]]]:
    """(section, topic, titles) in the order the email shows them."""
    shown = grouped(entries(edition))
    return [
        (section, topic, [item["title"] for item in items])
        for section, topics in shown
        for topic, items in topics
    ]


@pytest.mark.parametrize("title", [title for title, _, _ in GROUPED])
def test_moving_an_item_anywhere_never_reorders_sections_or_topics(factory, title) -> None:
    ids = accept(factory, GROUPED)
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        for index in (-1, 0, 1, 2, 5):
            compose.move_item(session, edition, ids[title], index, "editor")
            shown = groups_of(edition)
            assert [(section, topic) for section, topic, _ in shown] == HEADINGS
            assert sorted(t for _, _, titles in shown for t in titles) == sorted(ids)
            assert [e.position for e in edition.entries] == list(range(len(GROUPED)))


def test_one_down_at_the_end_of_policy_leaves_research_below_policy(factory) -> None:
    ids = accept(factory, GROUPED)
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        last_in_policy = groups_of(edition)[1][2][-1]
        compose.move_item(session, edition, ids[last_in_policy], 1, "editor")  # one "Down"
        assert [section for section, _, _ in groups_of(edition)] == [
            "Policy",
            "Policy",
            "Research",
            "News",
        ]


def test_an_item_moves_within_its_group_and_every_other_item_keeps_its_place(factory) -> None:
    ids = accept(factory, GROUPED)
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        before = {e.item.title: e.position for e in edition.entries}
        group = groups_of(edition)[0][2]  # Policy, Neglect
        compose.move_item(session, edition, ids[group[1]], 0, "editor")
        assert groups_of(edition)[0][2] == [group[1], group[0]]
        after = {e.item.title: e.position for e in edition.entries}
        assert {t: p for t, p in after.items() if t not in group} == {
            t: p for t, p in before.items() if t not in group
        }
        assert {after[t] for t in group} == {before[t] for t in group}


@pytest.mark.parametrize(
    ("items", "sections", "expected"),
    [
        pytest.param(
            [("News", ["Neglect"]), ("Policy", ["Neglect"]), ("Research", ["Neglect"])],
            ["Policy", "Research", "News"],
            [("Policy", "Neglect"), ("Research", "Neglect"), ("News", "Neglect")],
            id="configured order, not first-item order",
        ),
        pytest.param(
            [(None, ["Neglect"]), ("Old name", ["Neglect"]), ("Policy", ["Neglect"])],
            ["Policy"],
            [("Policy", "Neglect"), ("Old name", "Neglect"), ("Other", "Neglect")],
            id="a section without its place (frozen before) after those, no section last",
        ),
        pytest.param(
            [("Policy", ["Zoë"]), ("Policy", []), ("Policy", ["élan"]), ("Policy", ["Abuse"])],
            ["Policy"],
            [("Policy", "Abuse"), ("Policy", "élan"), ("Policy", "Zoë"), ("Policy", "Other")],
            id="topics alphabetical whatever their case, no topic last",
        ),
    ],
)
def test_items_are_grouped_by_configured_section_then_topic(items, sections, expected) -> None:
    given = [
        {
            "section": s,
            "section_position": sections.index(s) if s in sections else None,
            "topic_labels": labels,
        }
        for s, labels in items
    ]
    found = [(section, topic) for section, topics in grouped(given) for topic, _ in topics]
    assert found == expected


def test_building_again_revives_a_cancelled_edition_with_its_text_and_order(factory) -> None:
    ids = accept(factory, [("A", "Policy", "neglect"), ("B", "Policy", "neglect")])
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "ann@example.org", NOW)
        compose.set_text(
            session, edition, "Spécial — ŵ 特集", "Read this first.", "ann@example.org"
        )
        compose.move_item(session, edition, ids["B"], 0, "ann@example.org")
        compose.approve(session, edition, "ann@example.org", now=NOW)
        compose.cancel(session, edition, "ann@example.org")
        edition_id = edition.id
    ids |= accept(factory, [("C", "Policy", "neglect")])
    with transaction(factory) as session:
        assert compose.cancelled_this_week(session, caspar(session), NOW).id == edition_id
        revived = compose.build_draft(session, caspar(session), "bob@example.org", NOW, revive=True)
        assert revived.id == edition_id and revived.state is EditionState.DRAFT
        assert (revived.subject, revived.intro) == ("Spécial — ŵ 特集", "Read this first.")
        assert titles(revived) == ["B", "A", "C"]
        assert revived.send_at is None and revived.approved_by is None
        assert all(entry.frozen is None for entry in revived.entries)
        assert compose.cancelled_this_week(session, caspar(session), NOW) is None
        record = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "edition.build", AuditEntry.object_id == str(edition_id))
            .order_by(AuditEntry.id.desc())
        ).first()
        assert record.actor == "bob@example.org" and record.before == {"state": "cancelled"}
        assert record.after["revived"] is True
        assert record.after["items_added"] == [ids["C"]]
        assert record.after["approvals_withdrawn"] == ["ann@example.org"]


def test_a_cancelled_week_stays_cancelled_unless_building_it_again_is_asked_for(factory) -> None:
    accept(factory, [("A", "Policy", "neglect")])
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        compose.cancel(session, edition, "editor")
    accept(factory, [("B", "Policy", "neglect")])
    with transaction(factory) as session, pytest.raises(compose.CancelledWeek) as refused:
        compose.build_draft(session, caspar(session), "scheduler", NOW, person=False)
    assert str(refused.value) == "the edition for the week of Mon 23 Nov 2026 was cancelled"
    with factory() as session:
        assert compose.cancelled_this_week(session, caspar(session), NOW) is not None


def test_the_scheduler_leaves_a_cancelled_week_cancelled(factory) -> None:
    accept(factory, [("A", "Policy", "neglect")])
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        compose.cancel(session, edition, "editor")
    accept(factory, [("B", "Policy", "neglect")])
    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    tasks.install(settings_for(factory))
    assert tasks.draft_edition(url, "caspar", now=NOW) is None
    with factory() as session:
        assert compose.cancelled_this_week(session, caspar(session), NOW) is not None


def test_the_command_line_revives_a_cancelled_week_only_with_revive(factory) -> None:
    accept(factory, [("A", "Policy", "neglect")])
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor")
        compose.cancel(session, edition, "editor")
    db = factory.kw["bind"].url.render_as_string(hide_password=False)
    build = ["--db", db, "edition", "build", "--newsletter", "caspar"]
    refused = CliRunner().invoke(cli, build)
    assert refused.exit_code != 0
    assert "was cancelled; it stays cancelled. Run again with --revive" in refused.output
    revived = CliRunner().invoke(cli, [*build, "--revive"])
    assert revived.exit_code == 0, revived.output
    assert f"Edition {edition.id} (draft)" in revived.output


def test_a_revived_edition_leaves_out_items_another_edition_took_meanwhile(factory) -> None:
    ids = accept(factory, [("A", "Policy", "neglect")])
    with transaction(factory) as session:
        edition = compose.build_draft(session, caspar(session), "editor", NOW)
        compose.cancel(session, edition, "editor")
        later = compose.build_draft(session, caspar(session), "editor", NOW + timedelta(days=7))
        assert titles(later) == ["A"]
    ids |= accept(factory, [("D", "Policy", "neglect")])
    with transaction(factory) as session:
        revived = compose.build_draft(session, caspar(session), "editor", NOW, revive=True)
        assert titles(revived) == ["D"]
        record = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "edition.build")
            .order_by(AuditEntry.id.desc())
        ).first()
        assert record.after["items_dropped"] == [ids["A"]]
