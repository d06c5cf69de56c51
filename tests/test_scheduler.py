"""The scheduler: jobs in the database, drafts and sends on local time across clock changes,
a missed send made good (once) after a restart, and one leader among several processes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from delivery_helpers import add_subscribers, approved_edition, caspar
from smtp import smtp_server
from sqlalchemy import func, select, text
from webapp import STAFF, accept_tagged, make_site, settings_for

from digest.db import make_engine, transaction
from digest.delivery import queue
from digest.editions import compose
from digest.editions.schedule import next_send_time
from digest.models import AuditEntry, Delivery, Edition, EditionState, Role
from digest.scheduler import tasks
from digest.scheduler.service import Scheduler
from digest.timeutil import utcnow

SLOW_POLL = timedelta(days=1)  # no feed polling during these tests


def url_of(factory) -> str:
    return factory.kw["bind"].url.render_as_string(hide_password=False)


def scheduler(factory, **given) -> Scheduler:
    return Scheduler(make_engine(url_of(factory)), settings_for(factory, **given), SLOW_POLL)


def wait_for(condition, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def state(factory, edition_id: int) -> EditionState:
    with factory() as session:
        return session.get(Edition, edition_id).state


def test_draft_job_keeps_local_time_across_the_clock_change(factory) -> None:
    leader = scheduler(factory)
    leader.step()
    try:
        leader.sync()
        job = leader.scheduler.get_job("draft-caspar")
        fire, fires = datetime(2026, 10, 12, tzinfo=UTC), []
        for _ in range(3):
            fire = job.trigger.get_next_fire_time(None, fire + timedelta(minutes=1))
            fires.append(fire.astimezone(UTC).strftime("%a %d %b %H:%M UTC"))
        # Monday 07:00 in London: 06:00 UTC in summer time, 07:00 UTC after 25 October.
        assert fires == ["Mon 12 Oct 06:00 UTC", "Mon 19 Oct 06:00 UTC", "Mon 26 Oct 07:00 UTC"]
    finally:
        leader.step_down()


def test_editions_go_out_at_nine_london_time_either_side_of_the_change(factory) -> None:
    with transaction(factory) as session:
        newsletter = caspar(session)
        before = compose.period_start(newsletter, datetime(2026, 10, 18, 12, tzinfo=UTC))
        after = compose.period_start(newsletter, datetime(2026, 10, 25, 12, tzinfo=UTC))
        summer, winter = (
            next_send_time(
                1, newsletter.send_time, newsletter.timezone, datetime(2026, 10, d, tzinfo=UTC)
            )
            for d in (18, 25)
        )
    assert (before, after) == (datetime(2026, 10, 19).date(), datetime(2026, 10, 26).date())
    assert summer == datetime(2026, 10, 20, 8, tzinfo=UTC)  # 09:00 BST
    assert winter == datetime(2026, 10, 27, 9, tzinfo=UTC)  # 09:00 GMT


def set_send_at(factory, edition_id: int, when: datetime) -> None:
    with transaction(factory) as session:
        session.get(Edition, edition_id).send_at = when


def test_a_send_missed_while_down_goes_out_on_restart_and_only_once(factory) -> None:
    edition_id = approved_edition(factory)
    add_subscribers(factory, 5)
    set_send_at(factory, edition_id, utcnow() - timedelta(hours=1))  # we were down at 09:00
    first = scheduler(factory, send_grace=timedelta(hours=6))
    first.step()
    try:
        wait_for(lambda: state(factory, edition_id) is EditionState.SENDING)
    finally:
        first.step_down()
    again = scheduler(factory, send_grace=timedelta(hours=6))  # restarted
    again.step()
    try:
        again.sync()
        assert again.scheduler.get_job(f"send-edition-{edition_id}") is None
    finally:
        again.step_down()
    assert not tasks.send_edition(url_of(factory), edition_id, 360)  # a late duplicate call
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 5


def test_a_send_missed_by_more_than_the_grace_period_waits_for_an_editor(factory) -> None:
    edition_id = approved_edition(factory)
    add_subscribers(factory, 2)
    set_send_at(factory, edition_id, utcnow() - timedelta(days=2))
    leader = scheduler(factory, send_grace=timedelta(hours=6))
    leader.step()
    try:
        leader.sync()
        leader.sync()
    finally:
        leader.step_down()
    assert state(factory, edition_id) is EditionState.APPROVED
    with factory() as session:
        missed = session.scalars(select(AuditEntry).where(AuditEntry.action == "edition.missed"))
        assert len(missed.all()) == 1  # said once, not every minute
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_an_approved_edition_is_scheduled_and_unapproving_removes_it(factory) -> None:
    edition_id = approved_edition(factory)
    leader = scheduler(factory)
    leader.step()
    try:
        leader.sync()
        job = leader.scheduler.get_job(f"send-edition-{edition_id}")
        assert job.trigger.run_date == datetime(2099, 1, 6, 9, tzinfo=UTC)
        with transaction(factory) as session:
            compose.unapprove(session, session.get(Edition, edition_id), "editor@example.org")
        leader.sync()
        assert leader.scheduler.get_job(f"send-edition-{edition_id}") is None
    finally:
        leader.step_down()
    with factory() as session:  # the job store is in the database
        assert session.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar() >= 1


def test_one_leader_and_another_takes_over_when_it_dies(factory) -> None:
    first, second = scheduler(factory), scheduler(factory)
    first.step()
    second.step()
    try:
        assert first.leading and not second.leading
        if factory.kw["bind"].dialect.name == "postgresql":
            # The leader's database connection dies (its process crashed, say). Only that
            # backend: the database is shared with other runs.
            leader_pid = first.lock._held.execute(text("SELECT pg_backend_pid()")).scalar()
            first.lock._held.commit()
            with factory() as session:
                session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": leader_pid})
            time.sleep(0.5)  # the backend takes a moment to go
        else:
            first.lock.release()  # as when its process dies
        second.step()
        assert second.leading
        first.step()  # if it was only cut off, it finds the lock taken and stands down
        assert not first.leading
    finally:
        first.step_down()
        second.step_down()


def test_the_draft_job_drafts_and_tells_the_editors(factory) -> None:
    make_site(factory)  # staff accounts: an admin, an editor, a librarian
    accept_tagged(factory, [("Neglect in adolescence", "neglect")])
    with smtp_server() as (inbox, url):
        tasks.install(settings_for(factory, mail_url=url))  # as the scheduler does
        edition_id = tasks.draft_edition(url_of(factory), "caspar")
    assert state(factory, edition_id) is EditionState.DRAFT
    told = sorted(to for _, (to,), _ in inbox.received)
    assert told == sorted([STAFF[Role.ADMIN], STAFF[Role.EDITOR]])  # not the librarian
    (message,) = inbox.messages(STAFF[Role.EDITOR])
    assert message["Subject"].startswith("Ready for review: CASPAR")
    assert f"/editions/{edition_id}" in message.get_content()


def test_delivery_details_are_purged_after_the_retention_period(factory) -> None:
    edition_id = approved_edition(factory)
    add_subscribers(factory, 4)
    with transaction(factory) as session:
        queue.enqueue(session, session.get(Edition, edition_id))
        edition = session.get(Edition, edition_id)
        edition.state, edition.sent_at = EditionState.SENT, utcnow() - timedelta(days=100)
    assert tasks.purge_deliveries(url_of(factory), 90) == 4
    assert tasks.purge_deliveries(url_of(factory), 90) == 0
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        entry = session.scalar(
            select(AuditEntry).where(AuditEntry.action == "edition.purge_deliveries")
        )
        assert entry.before["queued"] == 4  # the totals outlive the rows
