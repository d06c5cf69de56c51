"""`digest edition …`: building, listing and approving editions from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table
from sqlalchemy import select

from digest.cli import (
    App,
    UsageProblem,
    cli,
    cli_actor,
    console,
    pass_app,
)
from digest.curation.topics import expand_chosen
from digest.db import transaction
from digest.editions import approvals, compose
from digest.editions.message import archive_url, build_message
from digest.editions.render import full_size, over_budget_warning, render_cut
from digest.models import Edition, Subscriber, Subscription
from digest.models.lookup import edition_by_id, newsletter_by_slug


@cli.group()
def edition() -> None:
    """Editions: one issue of a newsletter."""


@edition.command("build")
@click.option("--newsletter", "slug", required=True, help="Newsletter slug.")
@click.option(
    "--revive",
    is_flag=True,
    help="When this week's edition was cancelled, make it a draft again (text and order kept).",
)
@pass_app
def edition_build(app: App, slug: str, revive: bool) -> None:
    """Draft this week's edition from the accepted items not yet in one."""
    with transaction(app.require_schema()) as session:
        newsletter = newsletter_by_slug(session, slug)
        try:
            built = compose.build_draft(session, newsletter, cli_actor(), revive=revive)
        except compose.CancelledWeek as exc:
            raise compose.CancelledWeek(
                f"{exc}; it stays cancelled. Run again with --revive to make it a draft again"
            ) from None
        if built is None:
            console.print(
                f"Nothing accepted for {slug} since the last edition: no edition "
                "this week (the newsletter skips empty weeks)."
            )
            return
        console.print(
            f"Edition {built.id} ({built.state}): {built.subject}, {len(built.entries)} items."
        )


@edition.command("list")
@click.option("--newsletter", "slug", help="Only this newsletter's editions.")
@pass_app
def edition_list(app: App, slug: str | None) -> None:
    """Editions, newest first."""
    table = Table(title="Editions", title_justify="left")
    for column in ("ID", "Newsletter", "Week of", "State", "Items", "Send at (UTC)", "Subject"):
        table.add_column(column)
    with app.require_schema()() as session:
        newsletter = newsletter_by_slug(session, slug) if slug else None
        for each in compose.list_editions(session, newsletter):
            table.add_row(
                str(each.id),
                each.newsletter.slug,
                str(each.period_start),
                _state(each),
                str(len(each.entries)),
                each.send_at.strftime("%Y-%m-%d %H:%M") if each.send_at else "—",
                each.subject,
            )
    console.print(table)


def _state(edition: Edition) -> str:
    awaiting = approvals.awaiting_second_approver(edition)
    return f"{edition.state.value} ({awaiting})" if awaiting else edition.state.value


def _change(app: App, edition_id: int, action: str, **options: object) -> str:
    with transaction(app.require_schema()) as session:
        found = edition_by_id(session, edition_id)
        getattr(compose, action)(session, found, **options)
        if awaiting := approvals.awaiting_second_approver(found):
            return f"Edition {found.id}: {awaiting} before it can go out."
        when = found.send_at.strftime("%Y-%m-%d %H:%M UTC") if found.send_at else ""
        return (
            f"Edition {found.id} is now {found.state}"
            + (f", to be sent {when}" if when else "")
            + "."
        )


@edition.command("approve")
@click.argument("edition_id", type=int)
@click.option("--as", "actor", help="Who approves (recorded); default: this system user.")
@click.option(
    "--send-at",
    type=click.DateTime(["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"]),
    help="Send time in UTC (default: the newsletter's next slot).",
)
@click.option(
    "--allow-large", is_flag=True, help="Approve even when the HTML is over the size budget."
)
@pass_app
def edition_approve(
    app: App, edition_id: int, actor: str | None, send_at: datetime | None, allow_large: bool
) -> None:
    """Approve an edition: its content is frozen and its send is scheduled."""
    with app.require_schema()() as session:
        found = edition_by_id(session, edition_id)
        warning = over_budget_warning(full_size(found, archive_url(found, app.settings.mail)))
    if warning and not allow_large:
        raise UsageProblem(f"not approved: {warning}. Remove some items, or use --allow-large")
    if warning:
        console.print(f"[yellow]Warning: {warning}.[/yellow]")
    console.print(
        _change(
            app,
            edition_id,
            "approve",
            actor=actor or cli_actor(),
            send_at=send_at.replace(tzinfo=UTC) if send_at else None,
        )
    )


@edition.command("unapprove")
@click.argument("edition_id", type=int)
@pass_app
def edition_unapprove(app: App, edition_id: int) -> None:
    """Return an approved edition to draft so it can be changed."""
    console.print(_change(app, edition_id, "unapprove", actor=cli_actor()))


@edition.command("cancel")
@click.argument("edition_id", type=int)
@pass_app
def edition_cancel(app: App, edition_id: int) -> None:
    """Cancel an edition; its items wait for the next one."""
    console.print(_change(app, edition_id, "cancel", actor=cli_actor()))


@edition.command("render")
@click.argument("edition_id", type=int)
@click.option("--subscriber", "email", required=True, help="Whose cut and links to use.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Write the message here (.eml): exactly the bytes that would be sent.",
)
@pass_app
def edition_render(app: App, edition_id: int, email: str, out: Path) -> None:
    """Write the email one subscriber would get from an edition, headers included."""
    with app.require_schema()() as session:
        found = edition_by_id(session, edition_id)
        subscription = session.scalar(
            select(Subscription)
            .join(Subscriber)
            .where(
                Subscriber.email == email.strip().lower(),
                Subscription.newsletter_id == found.newsletter_id,
            )
        )
        if subscription is None:
            raise UsageProblem(f"{email} is not subscribed to {found.newsletter.slug}")
        mail, keys = app.settings.mail, app.settings.link_keys()
        topics = expand_chosen(session, (t.slug for t in subscription.topics))
        rendered = render_cut(found, topics, archive_url(found, mail))
        out.write_bytes(build_message(found, subscription, rendered, mail, keys))
    console.print(f"Wrote {out}: {rendered.item_count} items, {out.stat().st_size} bytes.")
