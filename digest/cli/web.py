"""`digest serve` and `digest users …`: the staff web app and its accounts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click
from rich.table import Table

from digest import accounts
from digest.cli import App, cli, cli_actor, console, pass_app
from digest.db import transaction
from digest.models import Role

if TYPE_CHECKING:
    from flask import Flask

    from digest.web import Component

ROLE = click.Choice([r.value for r in Role])


def web_app(app: App, components: Sequence[Component] = ()) -> Flask:
    """The web app for the command's database and transports; a bad setting in the
    environment stops the command with a line naming it."""
    from digest.cli.delivery import transports
    from digest.web import create_app, settle_for_serving

    web = create_app(app.settings, transports=transports(app), components=components)
    web.extensions["digest.mail_requests"].wake()  # what a stopped process left, goes now
    settle_for_serving()
    return web


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@pass_app
def serve(app: App, host: str, port: int, threads: int) -> None:
    """Run the staff web app under a production WSGI server (waitress)."""
    from waitress import serve as waitress_serve

    app.require_schema()
    served = web_app(app)
    console.print(f"Digest is serving on http://{host}:{port}/ (Ctrl+C stops it).")
    waitress_serve(served, host=host, port=port, threads=threads, ident="Digest")


@cli.group()
def users() -> None:
    """Staff accounts for the web app."""


@users.command("add")
@click.argument("email")
@click.option("--role", type=ROLE, required=True)
@click.option(
    "--password", help="Set this password (otherwise asked for, or made up with --generate)."
)
@click.option("--generate", is_flag=True, help="Make up a one-time password and print it.")
@pass_app
def users_add(app: App, email: str, role: str, password: str | None, generate: bool) -> None:
    """Add a staff account."""
    if generate:
        password = accounts.generate_password()
    elif password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with transaction(app.require_schema()) as session:
        user = accounts.create_user(session, email, Role(role), password, cli_actor())
        address = user.email
    console.print(f"Added {address} as {role}.")
    if generate:
        console.print(f"One-time password: {password}  (ask them to change it after signing in)")


@users.command("list")
@pass_app
def users_list(app: App) -> None:
    """Every staff account."""
    table = Table(title="Staff accounts", title_justify="left")
    for column in ("Email", "Role", "State", "Last sign-in"):
        table.add_column(column)
    with app.require_schema()() as session:
        for user in accounts.list_users(session):
            table.add_row(
                user.email,
                user.role.value,
                "active" if user.active else "disabled",
                user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never",
            )
    console.print(table)


def _change(app: App, email: str, change: str, value: object) -> None:
    with transaction(app.require_schema()) as session:
        if change == "role":
            accounts.set_role(session, email, Role(str(value)), cli_actor())
        else:
            accounts.set_active(session, email, bool(value), cli_actor())


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=ROLE)
@pass_app
def users_set_role(app: App, email: str, role: str) -> None:
    """Change what an account may do."""
    _change(app, email, "role", role)
    console.print(f"{email} is now {role}.")


@users.command("disable")
@click.argument("email")
@pass_app
def users_disable(app: App, email: str) -> None:
    """Stop an account from signing in; its open sessions end at once."""
    _change(app, email, "active", False)
    console.print(f"{email} is disabled.")


@users.command("enable")
@click.argument("email")
@pass_app
def users_enable(app: App, email: str) -> None:
    """Let a disabled account sign in again."""
    _change(app, email, "active", True)
    console.print(f"{email} is enabled.")


@users.command("unlock")
@click.argument("email")
@pass_app
def users_unlock(app: App, email: str) -> None:
    """Forget an account's failed sign-ins, from every address."""
    with transaction(app.require_schema()) as session:
        forgotten = accounts.unlock(session, email, cli_actor())
    console.print(f"{email} is unlocked ({forgotten} failed sign-ins forgotten).")


@users.command("reset-password")
@click.argument("email")
@click.option(
    "--password", help="Set this password (otherwise asked for, or made up with --generate)."
)
@click.option("--generate", is_flag=True, help="Make up a one-time password and print it.")
@pass_app
def users_reset_password(app: App, email: str, password: str | None, generate: bool) -> None:
    """Give an account a new password; it is signed out everywhere and unlocked."""
    if generate:
        password = accounts.generate_password()
    elif password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with transaction(app.require_schema()) as session:
        accounts.reset_password(session, email, password, cli_actor())
    console.print(f"The password of {email} is changed; it was signed out everywhere.")
    if generate:
        console.print(f"One-time password: {password}  (ask them to change it after signing in)")
