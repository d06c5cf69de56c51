"""The second-approver rule: with it on, an edition goes out only when two different people
have had a hand in it, one of them approving and the other having built, edited or approved it.

The scheduler is not a person: a draft it built needs two people's approval unless someone
else edited it. A person who is the only human involved can approve, but the edition then
waits for a second editor, and says so. Changing the content or un-approving starts the
approvals again. With the rule off, one approval is enough, as it always was.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner
from sqlalchemy import select
from webapp import (
    PASSWORD,
    STAFF,
    Site,
    accept_tagged,
    csrf_token,
    make_site,
    settings_for,
    sign_in,
)

from digest import accounts
from digest.cli import cli
from digest.db import _alembic_config, make_engine, transaction, upgrade_schema
from digest.editions import approvals, compose
from digest.models import AuditEntry, Edition, EditionState, Newsletter, Role
from digest.scheduler import tasks

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ANN, BOB = "ann@example.org", "bob@example.org"


def caspar(session) -> Newsletter:
    return session.scalar(select(Newsletter).where(Newsletter.slug == "caspar"))


@pytest.fixture
def waiting(factory):
    """Two accepted CASPAR items waiting for an edition."""
    accept_tagged(factory, [("Neglect in adolescence", "neglect"), ("Grooming", "online-abuse")])
    return factory


def run(session, steps: list[tuple[str, str]]) -> Edition:
    """Carry out ("build" | "scheduler builds" | "edit" | "approve" | "unapprove", who)."""
    edition = None
    for action, who in steps:
        if action == "build":
            edition = compose.build_draft(session, caspar(session), who, NOW)
        elif action == "scheduler builds":
            edition = compose.build_draft(session, caspar(session), who, NOW, person=False)
        elif action == "edit":
            compose.set_text(session, edition, f"Edited by {who}", "", who)
        elif action == "approve":
            compose.approve(session, edition, who, now=NOW)
        elif action == "unapprove":
            compose.unapprove(session, edition, who)
    assert edition is not None
    return edition


WAITS = f"approved by {ANN}; needs a second editor other than {ANN}"
SCENARIOS = [
    # steps, final state, what the edition says while it waits
    ([("build", ANN), ("approve", ANN)], "draft", WAITS),
    ([("scheduler builds", "scheduler"), ("approve", ANN)], "draft", WAITS),
    ([("scheduler builds", "scheduler"), ("edit", ANN), ("approve", ANN)], "draft", WAITS),
    ([("build", ANN), ("approve", ANN), ("approve", BOB)], "approved", None),
    ([("scheduler builds", "scheduler"), ("approve", ANN), ("approve", BOB)], "approved", None),
    ([("build", BOB), ("approve", ANN)], "approved", None),
    ([("scheduler builds", "scheduler"), ("edit", BOB), ("approve", ANN)], "approved", None),
    # A change after the first approval sets it aside: Bob approves his own change alone.
    (
        [("scheduler builds", "scheduler"), ("approve", ANN), ("edit", BOB), ("approve", BOB)],
        "draft",
        f"approved by {BOB}; needs a second editor other than {BOB}",
    ),
    # Un-approving starts again: Ann's second approval waits for a second person again.
    (
        [
            ("scheduler builds", "scheduler"),
            ("approve", BOB),
            ("approve", ANN),
            ("unapprove", BOB),
            ("approve", ANN),
        ],
        "draft",
        f"approved by {ANN}; needs a second editor other than {ANN}",
    ),
]


@pytest.mark.parametrize(("steps", "state", "waits"), SCENARIOS)
def test_with_the_rule_on_an_edition_needs_two_different_people(
    waiting, steps: list[tuple[str, str]], state: str, waits: str | None
) -> None:
    with transaction(waiting) as session:
        caspar(session).second_approver = True
        edition_id = run(session, steps).id
    with waiting() as session:  # read afresh: what was recorded, not what is in memory
        edition = session.get(Edition, edition_id)
        assert edition.state.value == state
        assert approvals.awaiting_second_approver(edition) == waits
        assert (edition.entries[0].frozen is None) == (state == "draft")
        assert (edition.send_at is None) == (state == "draft")


@pytest.mark.parametrize(
    "steps",
    [
        [("build", ANN), ("approve", ANN)],
        [("scheduler builds", "scheduler"), ("approve", ANN)],
    ],
)
def test_with_the_rule_off_one_approval_is_enough_as_before(
    waiting, steps: list[tuple[str, str]]
) -> None:
    with transaction(waiting) as session:
        edition = run(session, steps)
        assert edition.state is EditionState.APPROVED and edition.approved_by == ANN
        assert approvals.awaiting_second_approver(edition) is None


def test_approving_twice_alone_is_refused_in_words(waiting) -> None:
    with transaction(waiting) as session:
        caspar(session).second_approver = True
        edition = run(session, [("build", ANN), ("approve", ANN)])
        with pytest.raises(compose.EditionError) as refused:
            compose.approve(session, edition, ANN, now=NOW)
    assert str(refused.value) == (
        f"{ANN} has already approved this edition; it needs a second editor other than {ANN}"
    )


def test_who_built_edited_and_approved_is_recorded_and_audited(waiting) -> None:
    with transaction(waiting) as session:
        caspar(session).second_approver = True
        edition_id = run(
            session,
            [("scheduler builds", "scheduler"), ("edit", ANN), ("approve", ANN), ("approve", BOB)],
        ).id
    with waiting() as session:
        edition = session.get(Edition, edition_id)
        assert [(c.actor, c.kind.value, c.person) for c in edition.contributors] == [
            ("scheduler", "built", False),
            (ANN, "edited", True),
            (ANN, "approved", True),
            (BOB, "approved", True),
        ]
        audit = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.like("edition.approve%"))
            .order_by(AuditEntry.id)
        ).all()
        assert [(a.actor, a.action) for a in audit] == [
            (ANN, "edition.approve_first"),
            (BOB, "edition.approve"),
        ]
        assert audit[0].after["needs"] == f"a second editor other than {ANN}"
        assert audit[1].after["approved_by"] == [ANN, BOB]


# The web app, with two editors.
SECOND = "siân.second@staff.example.org"


@pytest.fixture
def site(waiting) -> Site:
    site = make_site(waiting)
    with transaction(waiting) as session:
        accounts.create_user(session, SECOND, Role.EDITOR, PASSWORD, "test")
        caspar(session).second_approver = True
    return site


def post_state(client, edition_id: int, action: str) -> str:
    return client.post(
        f"/editions/{edition_id}/state",
        data={"action": action, "csrf_token": csrf_token(client, "/")},
        follow_redirects=True,
    ).text


def state_of(site: Site, edition_id: int) -> EditionState:
    with site.factory() as session:
        return session.get(Edition, edition_id).state


def test_in_the_web_app_the_builder_alone_cannot_send_it(site: Site) -> None:
    first = site.client(Role.EDITOR)
    built = first.post(
        "/editions/build", data={"newsletter": "caspar", "csrf_token": csrf_token(first, "/")}
    )
    edition_id = int(built.headers["Location"].rsplit("/", 1)[1])
    editor = STAFF[Role.EDITOR]

    page = post_state(first, edition_id, "approve")
    waits = f"approved by {editor}; needs a second editor other than {editor}"
    assert f"Approved by {editor}; it needs a second editor other than {editor}" in page
    assert waits in first.get(f"/editions/{edition_id}").text
    assert waits in first.get("/editions").text
    assert state_of(site, edition_id) is EditionState.DRAFT
    again = post_state(first, edition_id, "approve")
    assert f"Not changed: {editor} has already approved this edition" in again

    second = site.app.test_client()
    assert sign_in(second, SECOND, PASSWORD).status_code == 302
    page = post_state(second, edition_id, "approve")
    assert "Approved: it goes out at the time shown." in page
    assert f"approved by {editor} and {SECOND}" in page
    assert state_of(site, edition_id) is EditionState.APPROVED

    page = post_state(second, edition_id, "unapprove")
    assert "Un-approved" in page and "approved by" not in page
    assert state_of(site, edition_id) is EditionState.DRAFT


def test_in_the_web_app_a_scheduled_draft_needs_two_editors(site: Site, tmp_path) -> None:
    settings = settings_for(site.factory, mail_url=f"maildir:{tmp_path / 'mail'}")  # the notice
    tasks.install(settings)
    edition_id = tasks.draft_edition(settings.database_url, "caspar", now=NOW)
    assert edition_id is not None
    first = site.client(Role.EDITOR)
    page = first.get(f"/editions/{edition_id}").text
    assert "built by the scheduler" in page
    post_state(first, edition_id, "approve")
    assert state_of(site, edition_id) is EditionState.DRAFT
    admin = site.client(Role.ADMIN)  # admins are editors too
    post_state(admin, edition_id, "approve")
    assert state_of(site, edition_id) is EditionState.APPROVED


def test_from_the_command_line_the_second_approval_completes_it(waiting) -> None:
    with transaction(waiting) as session:
        caspar(session).second_approver = True
        edition_id = str(run(session, [("scheduler builds", "scheduler")]).id)
    db = waiting.kw["bind"].url.render_as_string(hide_password=False)
    runner = CliRunner()
    approve = ["--db", db, "edition", "approve", edition_id, "--send-at", "2099-01-05 09:00"]

    first = runner.invoke(cli, [*approve, "--as", ANN])
    assert first.exit_code == 0, first.output
    assert " ".join(first.output.split()) == (
        f"Edition {edition_id}: approved by {ANN}; needs a second editor other than {ANN} "
        "before it can go out."
    )
    listed = " ".join(runner.invoke(cli, ["--db", db, "edition", "list"]).output.split())
    assert "draft" in listed and "needs a second editor" in listed
    twice = runner.invoke(cli, [*approve, "--as", ANN])
    assert twice.exit_code == 2 and "has already approved this edition" in twice.output

    second = runner.invoke(cli, [*approve, "--as", BOB])
    assert second.exit_code == 0, second.output
    assert "is now approved, to be sent 2099-01-05 09:00 UTC" in second.output
    with waiting() as session:
        edition = session.get(Edition, int(edition_id))
        assert edition.state is EditionState.APPROVED and edition.approved_by == BOB


def test_upgrading_records_who_built_edited_and_approved_existing_editions(database_url) -> None:
    """Editions made before contributors were recorded keep their builder, last editor and
    approver, so the rule applies to them too."""

    engine = make_engine(database_url)
    try:
        command.upgrade(_alembic_config(engine), "0005")
        newsletters = sa.table(
            "newsletters",
            *(sa.column(name) for name in ("id", "slug", "title", "description")),
            sa.column("send_weekday"),
            sa.column("send_time", sa.Time()),
            sa.column("timezone"),
            sa.column("from_address"),
        )
        editions = sa.table(
            "editions",
            *(sa.column(n) for n in ("id", "newsletter_id", "state", "subject", "intro")),
            sa.column("period_start", sa.Date()),
            sa.column("created_at", sa.DateTime(timezone=True)),
            *(sa.column(n) for n in ("created_by", "last_edited_by", "approved_by")),
            sa.column("approved_at", sa.DateTime(timezone=True)),
        )
        with engine.begin() as connection:
            connection.execute(
                newsletters.insert().values(
                    id=1,
                    slug="caspar",
                    title="CASPAR",
                    description="",
                    send_weekday=1,
                    send_time=time(9, 0),
                    timezone="Europe/London",
                    from_address="caspar@digest.test",
                )
            )
            common = {"newsletter_id": 1, "subject": "S", "intro": "", "created_at": NOW}
            connection.execute(
                editions.insert(),
                [
                    {
                        **common,
                        "id": 1,
                        "state": "draft",
                        "period_start": date(2026, 11, 16),
                        "created_by": "scheduler",
                        "last_edited_by": ANN,
                        "approved_by": None,
                        "approved_at": None,
                    },
                    {
                        **common,
                        "id": 2,
                        "state": "approved",
                        "period_start": date(2026, 11, 23),
                        "created_by": BOB,
                        "last_edited_by": None,
                        "approved_by": ANN,
                        "approved_at": NOW,
                    },
                ],
            )
        upgrade_schema(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT edition_id, actor, kind, person FROM edition_contributors "
                    "ORDER BY edition_id, kind, actor"
                )
            ).all()
    finally:
        engine.dispose()
    assert [(e, a, k, bool(p)) for e, a, k, p in rows] == [
        (1, "scheduler", "built", False),
        (1, ANN, "edited", True),
        (2, ANN, "approved", True),
        (2, BOB, "built", True),
    ]
