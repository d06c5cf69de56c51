"""The scheduler: APScheduler with its jobs stored in the database, run by one process only.

Every process that may schedule tries for the `scheduler` lock (a PostgreSQL advisory lock, or
a file lock beside a SQLite database); the one that holds it runs the jobs, and when it dies
the lock is freed and another takes over. Jobs are derived from the database every minute:
one cron job per newsletter to draft its edition (in the newsletter's own timezone, so 07:00
stays 07:00 across clock changes), one dated job per approved edition to send it, and the
housekeeping jobs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, select

from digest.locks import LifetimeLock
from digest.models import Edition, EditionState, Newsletter
from digest.scheduler import tasks
from digest.settings import Settings
from digest.timeutil import utcnow

log = logging.getLogger(__name__)
LEADER_LOCK = "scheduler"
JOB_TABLE = "apscheduler_jobs"
SYNC_EVERY = timedelta(minutes=1)
# New items are looked up within minutes of the poll that found them; a run that is still
# asking when the next is due makes that one wait (one instance of a job at a time).
ENRICH_EVERY_MINUTES = 3


def _send_job_id(edition_id: int) -> str:
    return f"send-edition-{edition_id}"


def _draft_job_id(slug: str) -> str:
    return f"draft-{slug}"


class Scheduler:
    """Runs the jobs while this process holds the scheduler lock."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        poll_every: timedelta = timedelta(minutes=5),
        config_path: str | None = None,
    ) -> None:
        """`engine` is on `settings.database_url`; `config_path`, the config file whose
        transports the tasks' mail goes through."""
        self.engine, self.settings, self.config_path = engine, settings, config_path
        self.database_url = settings.database_url
        tasks.install(settings)
        self.poll_every = poll_every
        self.lock = LifetimeLock(engine, LEADER_LOCK, label="scheduler")
        self.scheduler: BackgroundScheduler | None = None
        self._synced_at = datetime.min.replace(tzinfo=UTC)

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    def run(self, stop: threading.Event, check_every: float = 5.0) -> None:
        """Until `stop`: lead when the lock is free, step down if the lock is lost."""
        try:
            while not stop.is_set():
                self.step()
                stop.wait(check_every)
        finally:
            self.step_down()

    def step(self) -> None:
        """One round of the election: take the lock if free, start or keep leading; and, when
        leading, bring the jobs up to date with the database once a minute."""
        if self.leading and not self.lock.still_held():
            log.warning("lost the scheduler lock: stepping down")
            self.step_down()
        if not self.leading and self.lock.acquire():
            self._start()
        if self.leading and utcnow() - self._synced_at >= SYNC_EVERY:
            # Here, not as a job: a job that adds jobs can deadlock APScheduler's shutdown.
            self.sync()
            self._synced_at = utcnow()

    def step_down(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        self.lock.release()

    def _start(self) -> None:
        grace = int(self.settings.send_grace.total_seconds())
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine, tablename=JOB_TABLE)},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
            timezone="UTC",
        )
        scheduler.start()
        self.scheduler = scheduler
        log.info("this process now runs the scheduler")
        url = self.database_url
        every_poll = IntervalTrigger(seconds=self.poll_every.total_seconds())
        housekeeping = [
            ("poll-feeds", tasks.poll_due_feeds, every_poll, [url]),
            (
                "enrich-items",
                tasks.enrich_items,
                IntervalTrigger(minutes=ENRICH_EVERY_MINUTES),
                [url],
            ),
            ("expire-signups", tasks.expire_signups, CronTrigger(hour=3, minute=0), [url]),
            (
                "purge-deliveries",
                tasks.purge_deliveries,
                CronTrigger(hour=3, minute=30),
                [url, self.settings.delivery_retention.days],
            ),
        ]
        if mailbox := self.settings.bounce_mailbox:
            every_ten = IntervalTrigger(minutes=10)
            bounce_job = ("process-bounces", tasks.process_bounces, every_ten, [url, mailbox])
            housekeeping.append(bounce_job)
        for job_id, func, trigger, args in housekeeping:
            scheduler.add_job(func, trigger, args=args, id=job_id, replace_existing=True)
        self._synced_at = datetime.min.replace(tzinfo=UTC)

    def sync(self) -> None:
        """Make the stored jobs match the database: a draft job per newsletter, a send job per
        approved edition (an edition more than the grace period late is marked missed)."""
        scheduler = self.scheduler
        if scheduler is None:
            return
        grace_minutes = int(self.settings.send_grace.total_seconds() // 60)
        now = utcnow()
        factory = tasks.sessions(self.database_url)
        with factory() as session:
            newsletters = session.scalars(select(Newsletter)).all()
            approved = session.scalars(
                select(Edition).where(Edition.state == EditionState.APPROVED)
            ).all()
            wanted_sends = {}
            for edition in approved:
                assert edition.send_at is not None
                if now - edition.send_at > self.settings.send_grace:
                    tasks.mark_missed(session, edition, now)
                else:
                    wanted_sends[_send_job_id(edition.id)] = (edition.id, edition.send_at)
            session.commit()
        for newsletter in newsletters:
            trigger = CronTrigger(
                day_of_week=newsletter.draft_weekday,  # 0 is Monday, as in the model
                hour=newsletter.draft_time.hour,
                minute=newsletter.draft_time.minute,
                timezone=newsletter.timezone,
            )
            job_id = _draft_job_id(newsletter.slug)
            existing = scheduler.get_job(job_id)
            args = [self.database_url, newsletter.slug, self.config_path]
            if (
                existing is None
                or str(existing.trigger) != str(trigger)
                or list(existing.args) != args
            ):
                scheduler.add_job(
                    tasks.draft_edition,
                    trigger,
                    args=args,
                    id=job_id,
                    replace_existing=True,
                )
        for job in scheduler.get_jobs(jobstore="default"):
            if job.id.startswith("send-edition-") and job.id not in wanted_sends:
                with contextlib.suppress(JobLookupError):  # gone in the meantime
                    scheduler.remove_job(job.id)  # un-approved or cancelled
        for job_id, (edition_id, send_at) in wanted_sends.items():
            existing = scheduler.get_job(job_id)
            if existing is not None and existing.trigger.run_date == send_at:
                continue
            scheduler.add_job(
                tasks.send_edition,
                DateTrigger(run_date=send_at),
                args=[self.database_url, edition_id, grace_minutes],
                id=job_id,
                replace_existing=True,
            )
