"""`digest items …`: listing, importing, exporting and deciding on items."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from digest import csvfiles
from digest.catalogue.files import is_marc
from digest.catalogue.importer import import_catalogue
from digest.catalogue.records import CatalogueFormatError
from digest.cli import (
    App,
    UsageProblem,
    cli,
    cli_actor,
    console,
    out_option,
    pass_app,
)
from digest.curation import decisions
from digest.curation.items import (
    ItemFilter,
    export_record,
    item_query,
    iter_items,
    placement_of,
    placement_query,
    with_placement_details,
)
from digest.curation.suggest import suggest_new_items
from digest.db import transaction
from digest.models import ItemStatus
from digest.models.lookup import newsletter_by_slug
from digest.research.enrich import enrich_pending
from digest.research.lookup import ResearchSettings
from digest.wording import count

STATUS = click.Choice([s.value for s in ItemStatus])


def _since(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


@cli.group()
def items() -> None:
    """Items found in feeds and catalogues."""


@items.command("list")
@click.option("--status", type=STATUS, help="Only items in this state.")
@click.option("--feed", "feed_name", help="Only items found in this feed.")
@click.option("--newsletter", help="Only items in this newsletter (its slug).")
@click.option("--since", type=click.DateTime(), help="Only items first seen since (UTC).")
@click.option("--limit", type=int, default=50, show_default=True)
@pass_app
def items_list(
    app: App,
    status: str | None,
    feed_name: str | None,
    newsletter: str | None,
    since: datetime | None,
    limit: int,
) -> None:
    """Items, newest first: a row for each newsletter that has the item."""
    with app.require_schema()() as session:
        filters = ItemFilter(
            status=ItemStatus(status) if status else None,
            feed_name=feed_name,
            newsletter_id=newsletter_by_slug(session, newsletter).id if newsletter else None,
            since=_since(since),
        )
        query = placement_query(filters, session.get_bind().dialect.name)
        rows = session.scalars(with_placement_details(query).limit(limit)).all()
        table = Table(title=f"Items (newest {len(rows)})", title_justify="left")
        for column in ("ID", "Published", "Newsletter", "Status", "Title", "Feeds", "Topics"):
            table.add_column(column)
        for placement in rows:
            item = placement.item
            published = item.published.strftime("%Y-%m-%d") + (
                "?" if item.published_estimated else ""
            )
            table.add_row(
                str(item.id),
                published,
                placement.newsletter.slug,
                placement.status.value,
                item.title,
                ", ".join(s.feed.name for s in item.sources),
                ", ".join(t.topic.slug for t in placement.topic_links),
            )
    console.print(table)


@items.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--newsletter", required=True, help="Newsletter slug the records belong to.")
@click.option("--section", help="Section of the newsletter (default: its first).")
@click.option(
    "--encoding", help="The file's character encoding, when not UTF-8 (default: found from it)."
)
@pass_app
def items_import(
    app: App, file: Path, newsletter: str, section: str | None, encoding: str | None
) -> None:
    """Import catalogue records from a RIS, CSV, MARC21 or MARCXML file; bad records are
    reported and skipped."""
    try:
        # MARC says its own encoding, record by record (UTF-8 or MARC-8).
        encoding = encoding or (None if is_marc(file) else csvfiles.find_encoding(file))
        with transaction(app.require_schema()) as session:
            report = import_catalogue(session, file, newsletter, section, encoding)
    except csvfiles.CsvFileError as exc:
        raise UsageProblem(f"{file}: {exc}; nothing was imported") from None
    except (CatalogueFormatError, LookupError) as exc:
        raise UsageProblem(f"{exc}; nothing was imported") from None
    if encoding and (note := csvfiles.encoding_note(file, encoding)):
        console.print(f"[yellow]{escape(note)}[/]")
    for error in report.errors:
        console.print(f"[red]{escape(f'{file}: {error}')}[/] (skipped)")
    if report.skipped > len(report.errors):
        more = report.skipped - len(report.errors)
        console.print(f"[red]{escape(str(file))}: {more:,} more bad records, not listed[/]")
    counts = report.counts
    console.print(
        f"Imported {file} into {report.feed_name}: {counts.new} new, "
        f"{counts.duplicate} already known from feeds, {counts.unchanged} already "
        f"imported, {report.skipped} skipped.",
        markup=False,
        highlight=False,
    )


@items.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl", show_default=True)
@click.option("--status", type=STATUS, help="Only items in this state.")
@click.option("--since", type=click.DateTime(), help="Only items first seen since (UTC).")
@out_option
@pass_app
def items_export(
    app: App, fmt: str, status: str | None, since: datetime | None, out: Path | None
) -> None:
    """Export items, one JSON object per line."""
    query = item_query(
        ItemFilter(status=ItemStatus(status) if status else None, since=_since(since))
    )
    handle = out.open("w", encoding="utf-8") if out else sys.stdout
    try:
        with app.require_schema()() as session:
            for item in iter_items(session, query):
                handle.write(json.dumps(export_record(item), ensure_ascii=False) + "\n")
    finally:
        if out:
            handle.close()


def _decide(app: App, item_id: int, action: str, newsletter: str | None = None) -> str:
    with transaction(app.require_schema()) as session:
        if action == "delete":
            return decisions.delete(session, item_id, cli_actor()).title
        placement = placement_of(session, item_id, newsletter)
        status = ItemStatus.ACCEPTED if action == "accept" else ItemStatus.REJECTED
        decisions.set_status(session, [placement.id], status, cli_actor())
        return f"{placement.item.title} ({placement.newsletter.title})"


NEWSLETTER = click.option(
    "--newsletter", help="The newsletter deciding (its slug); needed when several have the item."
)


@items.command("accept")
@click.argument("item_id", type=int)
@NEWSLETTER
@pass_app
def items_accept(app: App, item_id: int, newsletter: str | None) -> None:
    """Accept an item for a newsletter."""
    console.print(f"Accepted: {_decide(app, item_id, 'accept', newsletter)}")


@items.command("reject")
@click.argument("item_id", type=int)
@NEWSLETTER
@pass_app
def items_reject(app: App, item_id: int, newsletter: str | None) -> None:
    """Reject an item for a newsletter; it stays rejected however often its feeds list it."""
    console.print(f"Rejected: {_decide(app, item_id, 'reject', newsletter)}")


@items.command("delete")
@click.argument("item_id", type=int)
@pass_app
def items_delete(app: App, item_id: int) -> None:
    """Delete an item for good, from every newsletter; a tombstone keeps later polls from
    bringing it back."""
    console.print(f"Deleted: {_decide(app, item_id, 'delete')}")


@items.command("suggest")
@pass_app
def items_suggest(app: App) -> None:
    """Suggest topics for new items that have none yet (a poll does this by itself)."""
    with transaction(app.require_schema()) as session:
        count = suggest_new_items(session)
    console.print(f"Topics suggested for {count} items.")


@items.command("enrich")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1_000,
    show_default=True,
    help="Look up at most this many items.",
)
@pass_app
def items_enrich(app: App, limit: int) -> None:
    """Look up items' DOIs at Crossref and PMIDs at PubMed and keep the records beside them
    (the scheduler does this by itself every few minutes)."""
    settings = ResearchSettings.from_settings(app.settings)
    report = enrich_pending(app.require_schema(), settings, limit)
    looked_up = report.enriched + report.not_found + report.retrying + report.failed
    console.print(
        f"Looked up {count(looked_up, 'item')}: {report.enriched:,} enriched, "
        f"{report.not_found:,} not known, {report.retrying:,} to try again later, "
        f"{report.failed:,} failed ({count(report.asked, 'identifier')} asked, "
        f"{report.from_cache:,} answered from the cache; {report.queued:,} newly queued)."
    )
