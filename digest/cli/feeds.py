"""`digest poll` and `digest feeds …`: polling and looking after feeds."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from digest.cli import (
    App,
    UsageProblem,
    cli,
    cli_actor,
    console,
    out_option,
    pass_app,
)
from digest.curation.suggest import SuggestAsStored
from digest.db import transaction
from digest.ingest import health
from digest.ingest.counts import items_per_feed
from digest.ingest.fetch import FetchSettings
from digest.ingest.poll import PollReport, poll_feeds
from digest.ingest.sources import service_access
from digest.models import Feed, FeedKind


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"


@cli.command()
@click.option(
    "--feed", "names", multiple=True, help="Poll only this feed (repeatable), due or not."
)
@click.option(
    "--all",
    "include_not_due",
    is_flag=True,
    help="Poll every enabled feed now, "
    "not only those due (a server's Retry-After is still respected).",
)
@pass_app
def poll(app: App, names: tuple[str, ...], include_not_due: bool) -> None:
    """Fetch due feeds, store their new items, and report on each feed."""
    factory = app.require_schema()
    suggestions = SuggestAsStored()
    with Progress(
        TextColumn("Polling feeds"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        # Its refresh thread takes the interpreter lock ten times a second, drawing or not:
        # off when nobody watches (cron, a pipe), and slower when someone does.
        disable=not console.is_terminal,
        refresh_per_second=4,
    ) as bar:
        task = bar.add_task("poll", total=None)
        report = poll_feeds(
            factory,
            names,
            include_not_due,
            settings=FetchSettings(max_entries=app.settings.max_entries_per_feed),
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            on_stored=suggestions,
            source_access=service_access(app.settings),
        )
    print_poll_report(report)
    if report.total("new"):
        with transaction(factory) as session:
            suggestions(session)  # any a batch left (each batch did its own)
        console.print(f"Topics suggested for {suggestions.touched} new items.")


POLL_COLUMNS = ("Feed", "Result", "New", "Duplicate", "Unchanged", "Note")


def print_poll_report(report: PollReport) -> None:
    """One plain line a feed, then the totals. Plain text, not a rich table: a table of a
    thousand feeds took rich seconds to lay out, longer than polling them when they were
    unchanged."""
    rows = [POLL_COLUMNS]
    for outcome in report.outcomes:
        note = outcome.problem.message if outcome.problem else ""
        if outcome.paused:
            note = f"PAUSED. {note}"
        counts = outcome.counts
        rows.append(
            (
                outcome.name,
                outcome.status.value,
                str(counts.new),
                str(counts.duplicate),
                str(counts.unchanged),
                " ".join(note.split()),
            )
        )
    widths = [max(len(row[n]) for row in rows) for n in range(len(POLL_COLUMNS) - 1)]
    lines = ["Poll results"]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:5], widths[2:5], strict=True)]
        lines.append("  ".join([*cells, row[5]]).rstrip())
    failed = len(report.failed)
    lines.append(
        f"{len(report.outcomes)} feeds polled: {report.total('new')} new items, "
        f"{report.total('duplicate')} duplicates, {failed} failed."
        + (
            f" {report.not_due} feeds not due yet (use --all to poll them now)."
            if report.not_due
            else ""
        )
    )
    click.echo("\n".join(lines))


@cli.group()
def feeds() -> None:
    """Feeds and their health."""


@feeds.command("list")
@click.option("--attention", is_flag=True, help="Only feeds that are failing or paused.")
@pass_app
def feeds_list(app: App, attention: bool) -> None:
    """Every feed with its health in plain words."""
    with app.require_schema()() as session:
        counts = items_per_feed(session)
        rows = list(session.scalars(select(Feed).order_by(Feed.name)))
        table = Table(title="Feeds", title_justify="left")
        for column in (
            "Feed",
            "Newsletter / section",
            "Items",
            "Last success",
            "Next poll",
            "Health",
        ):
            table.add_column(column)
        for feed in rows:
            if attention and not health.needs_attention(feed):
                continue
            where = (
                f"{feed.newsletter.slug if feed.newsletter else '—'} / "
                f"{feed.section.name if feed.section else '—'}"
            )
            style = "red" if health.needs_attention(feed) else None
            next_poll = (
                "—" if feed.kind is FeedKind.CATALOGUE or feed.paused else when(feed.next_poll_at)
            )
            table.add_row(
                _feed_cell(feed),
                where,
                str(counts.get(feed.id, 0)),
                when(feed.last_success_at),
                next_poll,
                health.describe_health(feed),
                style=style,
            )
        console.print(table)
        needing = [f for f in rows if health.needs_attention(f)]
        if needing:
            console.print(f"{len(needing)} feeds need attention.")


def _feed_cell(feed: Feed) -> str:
    """The feed's name, and for a source that is not a feed, what it is and asks."""
    from digest.ingest.edit import SOURCE_LABELS

    if feed.source_type is None:
        return escape(feed.name)
    label = SOURCE_LABELS.get(feed.source_type, feed.source_type)
    asked = f": {feed.source_query}" if feed.source_query else ""
    return f"{escape(feed.name)}\n[dim]{escape(label + asked)}[/]"


@feeds.command("check")
@click.option("--feed", "names", multiple=True, help="Check only this feed (repeatable).")
@pass_app
def feeds_check(app: App, names: tuple[str, ...]) -> None:
    """Fetch and parse feeds now without storing anything: is each one readable?"""
    from digest.ingest.check import check_feeds, feeds_to_check

    with app.require_schema()() as session:
        fetching = FetchSettings(max_entries=app.settings.max_entries_per_feed)
        to_check = feeds_to_check(session, names, fetching, service_access(app.settings))
    checks = check_feeds(to_check, fetching)
    table = Table(title="Feed check", title_justify="left")
    for column in ("Feed", "Result", "Note"):
        table.add_column(column)
    for check in checks:
        result = "failed" if check.failed else f"ok, {check.entries} entries"
        table.add_row(check.name, result, check.note, style="red" if check.failed else None)
    console.print(table)


@feeds.command("import-opml")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--newsletter", required=True, help="Newsletter slug the feeds feed.")
@click.option("--section", required=True, help="Section of that newsletter.")
@click.option("--topic", "topics", multiple=True, help="Default topic slug (repeatable).")
@pass_app
def feeds_import_opml(
    app: App, file: Path, newsletter: str, section: str, topics: tuple[str, ...]
) -> None:
    """Add the feeds of an OPML file (a feed reader's export)."""
    from digest.ingest.opml import OpmlError, import_opml

    try:
        with transaction(app.require_schema()) as session:
            report = import_opml(session, file.read_bytes(), newsletter, section, topics)
    except OpmlError as exc:
        raise UsageProblem(f"{file}: {exc}") from None
    console.print(
        f"{len(report.added)} feeds added, {len(report.updated)} updated, "
        f"{len(report.skipped)} skipped."
    )
    for reason in report.skipped:
        console.print(f"  skipped {reason}")


@feeds.command("export-opml")
@out_option
@pass_app
def feeds_export_opml(app: App, out: Path | None) -> None:
    """Write every feed as OPML 2.0, for a feed reader or another Digest."""
    from digest.ingest.opml import export_opml

    with app.require_schema()() as session:
        data = export_opml(session)
    if out:
        out.write_bytes(data)
    else:
        click.echo(data.decode("utf-8"), nl=False)


def _set_paused(app: App, name: str, paused: bool, reason: str) -> None:
    from digest.ingest.edit import set_paused

    with transaction(app.require_schema()) as session:
        feed = session.scalar(select(Feed).where(Feed.name == name))
        if feed is None:
            raise UsageProblem(f"no feed named {name!r}")
        set_paused(session, feed, paused, cli_actor(), reason)


@feeds.command("pause")
@click.argument("name")
@click.option("--reason", default="Paused by hand.", show_default=True)
@pass_app
def feeds_pause(app: App, name: str, reason: str) -> None:
    """Stop polling a feed until it is resumed."""
    _set_paused(app, name, True, reason)
    console.print(f"Paused {name}.")


@feeds.command("resume")
@click.argument("name")
@pass_app
def feeds_resume(app: App, name: str) -> None:
    """Poll a paused feed again (its failure count starts from zero)."""
    _set_paused(app, name, False, "")
    console.print(f"Resumed {name}; it will be polled at the next poll.")
