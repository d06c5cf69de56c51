"""What the scheduler runs. Each task is a plain function of the database (and config) it works
on, so that APScheduler can store a reference to it and its arguments in the database. What
must not be stored there, the keys above all, a task finds in the settings the scheduler
installed for its database (`install`)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import sys
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from digest import audit
from digest.accounts import addresses_with_role
from digest.curation.suggest import SuggestAsStored
from digest.db import lock_for_writing, make_engine, session_factory, transaction
from digest.delivery import bounces, queue
from digest.delivery.notices import send_notice
from digest.delivery.transport import DeliveryError, Transport, for_newsletter
from digest.editions import compose
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import poll_feeds
from digest.ingest.sources import service_access
from digest.models import AuditEntry, Delivery, Edition, EditionState, Role
from digest.models.lookup import find_newsletter
from digest.research.enrich import enrich_pending
from digest.research.lookup import ResearchSettings
from digest.settings import Settings
from digest.subscriptions.signup import expire_unconfirmed
from digest.timeutil import utcnow
from digest.wording import count, date_text

log = logging.getLogger(__name__)
ACTOR = "scheduler"


_installed: dict[str, Settings] = {}


def install(settings: Settings) -> None:
    """Let the tasks on `settings.database_url` run with `settings` in this process."""
    _installed[settings.database_url] = settings


def installed(database_url: str) -> Settings:
    try:
        return _installed[database_url]
    except KeyError:
        raise LookupError("no settings installed for this database: see tasks.install") from None


@lru_cache(maxsize=4)
def sessions(database_url: str) -> sessionmaker[Session]:
    return session_factory(make_engine(database_url))


def poll_due_feeds(database_url: str) -> None:
    """Poll every feed whose interval has come round (failing feeds are held back longer)."""
    _keep_large_blocks_apart()
    factory = sessions(database_url)
    suggestions = SuggestAsStored()
    fetching = FetchSettings(max_entries=installed(database_url).max_entries_per_feed)
    access = service_access(installed(database_url))
    report = poll_feeds(factory, settings=fetching, on_stored=suggestions, source_access=access)
    if report.total("new"):
        with transaction(factory) as session:
            suggestions(session)  # any a batch left (each batch did its own)
    log.info("polled %d feeds: %d new items", len(report.outcomes), report.total("new"))
    _give_back_memory()


# Items looked up a run: at Crossref's polite pace (10 a second) about a minute of asking, so
# that a run ends well before the next one is due.
ENRICH_BATCH = 500


def enrich_items(database_url: str) -> None:
    """Look up the DOIs and PMIDs of items due a look-up (new ones, and retries): a job of its
    own, so that a slow service never holds up a poll."""
    settings = ResearchSettings.from_settings(installed(database_url))
    report = enrich_pending(sessions(database_url), settings, ENRICH_BATCH)
    if report.queued or report.asked or report.from_cache:
        log.info(
            "enrichment: %d queued, %d enriched, %d not known, %d to retry, %d failed",
            report.queued,
            report.enriched,
            report.not_found,
            report.retrying,
            report.failed,
        )


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_BLOCK = 128 * 1024


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError):
        return ctypes.CDLL("libc.so.6")
    return None


def _keep_large_blocks_apart() -> None:
    """Have blocks of 128 KiB and more (feed bodies, batches of rows) mapped on their own and
    unmapped when freed. By default glibc raises that threshold after the first such block is
    freed, and later ones then fill holes in the heap that a long-running process never gives
    back."""
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            libc.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)


def _give_back_memory() -> None:
    """Return what a poll freed to the system. A poll's many short-lived objects leave the C
    allocator's heap holed, and without this a long-running `digest run` grew by a few
    megabytes a poll although nothing was kept."""
    gc.collect()
    libc = _libc()
    with contextlib.suppress(AttributeError):
        if libc is not None:
            libc.malloc_trim(0)


def draft_edition(
    database_url: str, slug: str, config_path: str | None = None, now: datetime | None = None
) -> int | None:
    """Draft this week's edition of a newsletter and tell its editors it is ready, through
    the newsletter's transport (from the config file at `config_path`)."""
    settings = installed(database_url)
    factory = sessions(database_url)
    with transaction(factory) as session:
        newsletter = find_newsletter(session, slug)
        if newsletter is None:
            return None
        try:
            edition = compose.build_draft(session, newsletter, ACTOR, now, person=False)
        except compose.EditionError as exc:
            log.info("no draft for %s: %s", slug, exc)
            return None
        if edition is None:
            return None
        editors = addresses_with_role(session, Role.EDITOR)
        link = f"{settings.mail.base_url}/editions/{edition.id}"
        text = (
            f"The draft of {newsletter.title} for the week of {date_text(edition.period_start)} "
            f"is ready for review: {count(len(edition.entries), 'item')}.\n\n{link}\n\nIt goes out "
            + (
                "when two editors have approved it, or one has edited it and another approved it.\n"
                if newsletter.second_approver
                else "when an editor approves it.\n"
            )
        )
        subject, sender = f"Ready for review: {edition.subject}", newsletter.from_address
        edition_id, transport_name = edition.id, newsletter.transport
    transport = for_newsletter(Transport.all_from_file(config_path, settings), transport_name)
    for address in editors:
        try:
            send_notice(transport, sender, address, subject, text)
        except (DeliveryError, ValueError) as exc:  # ValueError: an address not sendable
            log.warning("could not tell %s about edition %d: %s", address, edition_id, exc)
    return edition_id


def send_edition(
    database_url: str, edition_id: int, grace_minutes: int, now: datetime | None = None
) -> bool:
    """Start sending an approved edition whose time has come, unless it is more than the grace
    period late (then it waits for an editor). Never twice: only an approved edition starts,
    and a second start finds it sending. Returns whether this call started it."""
    now = now or utcnow()
    factory = sessions(database_url)
    try:
        with transaction(factory) as session:
            lock_for_writing(session)
            edition = session.get(Edition, edition_id, with_for_update=True)
            if edition is None or edition.state is not EditionState.APPROVED:
                return False
            assert edition.send_at is not None
            if edition.send_at > now:
                return False
            if now - edition.send_at > timedelta(minutes=grace_minutes):
                mark_missed(session, edition, now)
                return False
            queue.start(session, edition, ACTOR, now)
    except IntegrityError:  # another process queued it in the same instant
        return False
    log.info("edition %d: sending started", edition_id)
    return True


def mark_missed(session: Session, edition: Edition, now: datetime) -> None:
    """An approved edition whose send time passed while nothing was running: it stays
    approved, and the audit log and edition page say so, until an editor sets a new time."""
    already = session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.action == audit.Action.EDITION_MISSED,
            AuditEntry.object_id == str(edition.id),
        )
    )
    if already is None:
        audit.record(
            session,
            actor=ACTOR,
            action=audit.Action.EDITION_MISSED,
            object_type=audit.ObjectType.EDITION,
            object_id=edition.id,
            summary=edition.subject,
            after={"send_at": edition.send_at.isoformat() if edition.send_at else None},
        )
        log.warning("edition %d missed its send time; an editor must approve it again", edition.id)


def expire_signups(database_url: str) -> None:
    with transaction(sessions(database_url)) as session:
        removed = expire_unconfirmed(session)
    log.info("forgot %d unconfirmed sign-ups", removed)


def purge_deliveries(database_url: str, retention_days: int, now: datetime | None = None) -> int:
    """Delete the per-subscriber delivery rows of editions sent longer ago than the retention
    period; the edition keeps its totals in the audit log. Returns how many rows went."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    removed = 0
    with transaction(sessions(database_url)) as session:
        old = session.scalars(
            select(Edition).where(Edition.state == EditionState.SENT, Edition.sent_at < cutoff)
        ).all()
        for edition in old:
            counts = queue.progress(session, edition.id)
            if not any(counts.values()):
                continue
            result = session.execute(delete(Delivery).where(Delivery.edition_id == edition.id))
            removed += result.rowcount or 0
            audit.record(
                session,
                actor=ACTOR,
                action=audit.Action.EDITION_PURGE_DELIVERIES,
                object_type=audit.ObjectType.EDITION,
                object_id=edition.id,
                summary=edition.subject,
                before=counts,
            )
    return removed


def process_bounces(database_url: str, source: str) -> None:
    settings = installed(database_url)
    report = bounces.process(
        sessions(database_url), source, settings.link_keys(), settings.secret()
    )
    log.info("returned mail: %s", report.summary())
