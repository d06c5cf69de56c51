"""`digest subscribers …`: list files in and out, subject access and erasure."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click
from rich.markup import escape

from digest import csvfiles
from digest.cli import (
    App,
    UsageProblem,
    cli,
    cli_actor,
    console,
    pass_app,
)
from digest.db import transaction
from digest.models.lookup import newsletter_by_slug
from digest.subscriptions import listfiles, lists, privacy, signup


@cli.group()
def subscribers() -> None:
    """Subscribers: import, export, add, show, erase."""


ENCODING = click.option(
    "--encoding", help="The file's character encoding, when not UTF-8 (default: found from it)."
)


@subscribers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--newsletter", "slug", required=True)
@click.option("--source", help="Where these people gave consent (recorded with each).")
@ENCODING
@pass_app
def subscribers_import(
    app: App, file: Path, slug: str, source: str | None, encoding: str | None
) -> None:
    """Import a CSV list (ours, or a Mailchimp or listmonk export); bad rows are reported."""
    origin = source or f"import of {file.name}"[: listfiles.MAX_SOURCE]
    try:
        lists.check_origin(origin)
    except ValueError as exc:
        raise UsageProblem(f"--source: {exc}") from None
    try:
        with (
            transaction(app.require_schema()) as session,
            csvfiles.open_csv(file, encoding) as found,
        ):
            newsletter = newsletter_by_slug(session, slug)
            report = lists.import_csv(
                session,
                found,
                newsletter,
                origin,
                app.settings.secret(),
                actor=cli_actor(),
                file_name=file.name,
            )
    except csvfiles.CsvFileError as exc:
        raise UsageProblem(f"{file}: {exc}; nothing was imported") from None
    if note := found.note(file):
        console.print(f"[yellow]{escape(note)}[/]", markup=True, highlight=False)
    for error in report.errors:
        line = escape(f"{file}: {error}")
        console.print(f"[red]{line}[/] (skipped)", markup=True, highlight=False)
    if report.skipped > len(report.errors):
        more = report.skipped - len(report.errors)
        console.print(
            f"[red]{escape(str(file))}: {more:,} more bad rows, not listed[/] (skipped)",
            markup=True,
            highlight=False,
        )
    for note in report.notes:
        console.print(f"[yellow]{escape(f'{file}: {note}')}[/]", markup=True, highlight=False)
    console.print(
        f"Imported {file} ({report.format}): {report.added} added, {report.updated} updated, "
        f"{report.skipped} rows skipped.",
        markup=False,
        highlight=False,
    )
    if report.held_back:
        console.print(
            f"{report.held_back_summary().capitalize()}. These addresses are on the "
            "suppression list: only the person can come back, by signing up again.",
            markup=False,
            highlight=False,
        )
    if report.left:
        rows = "1 row says" if report.left == 1 else f"{report.left} rows say"
        console.print(
            f"{rows} the person left: recorded, and on the suppression list.", markup=False
        )
    if report.unknown_tags:
        tags = ", ".join(
            f"{tag!r} ({n} row{'' if n == 1 else 's'})"
            for tag, n in sorted(report.unknown_tags.items())
        )
        console.print(
            f"Tags that name no topic, not applied (the addresses were imported): {tags}.",
            markup=False,
            highlight=False,
        )


@subscribers.command("add")
@click.argument("email")
@click.option("--newsletter", "slug", required=True)
@click.option("--name", default="")
@click.option("--topic", "topics", multiple=True, help="A topic slug; repeat for more.")
@click.option("--source", required=True, help="Where this person gave consent (recorded).")
@pass_app
def subscribers_add(
    app: App, email: str, slug: str, name: str, topics: tuple[str, ...], source: str
) -> None:
    """Add one person who gave consent elsewhere. Refused for an address on the
    suppression list: only its owner can come back, by signing up."""
    with transaction(app.require_schema()) as session:
        try:
            lists.add_subscriber(
                session,
                newsletter_by_slug(session, slug),
                email,
                name,
                topics,
                source,
                app.settings.secret(),
                actor=cli_actor(),
            )
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
    console.print(f"Added {email} to {slug}.", markup=False, highlight=False)


@subscribers.command("export")
@click.option("--newsletter", "slug", required=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Default: subscribers/SLUG-DATE.csv",
)
@pass_app
def subscribers_export(app: App, slug: str, out: Path | None) -> None:
    """Write a newsletter's subscribers, with their consent, as CSV."""
    out = out or Path("subscribers") / f"{slug}-{date.today().isoformat()}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with transaction(app.require_schema()) as session:
        newsletter = newsletter_by_slug(session, slug)
        count = lists.write_csv(session, newsletter, out, actor=cli_actor())
    console.print(f"Wrote {count} subscribers to {out}.")


@subscribers.command("expire")
@pass_app
def subscribers_expire(app: App) -> None:
    """Forget sign-ups not confirmed within 7 days (the scheduler does this daily)."""
    with transaction(app.require_schema()) as session:
        removed = signup.expire_unconfirmed(session)
    console.print(f"Removed {removed} unconfirmed sign-up{'' if removed == 1 else 's'}.")


@subscribers.command("show")
@click.argument("email")
@pass_app
def subscribers_show(app: App, email: str) -> None:
    """Everything held about a subscriber, as JSON (a subject access request)."""
    with app.require_schema()() as session:
        data = privacy.subject_access(session, email, app.settings.secret())
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@subscribers.command("erase")
@click.argument("email")
@click.confirmation_option(prompt="Erase this subscriber and their history for good?")
@pass_app
def subscribers_erase(app: App, email: str) -> None:
    """Delete a subscriber and all about them, keeping only a hashed suppression entry."""
    with transaction(app.require_schema()) as session:
        privacy.erase(session, email, app.settings.secret(), actor=cli_actor())
    console.print(f"Erased {email}; only a hash remains, to keep it off imported lists.")
