"""`riverwatch user …`: users, roles, zones, passwords and tokens from the command line.

Heavy modules are imported inside the commands: the CLI must start fast.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from app.cli_db import transaction

user_cli = typer.Typer(no_args_is_help=True, help="Manage users, their roles, zones and tokens.")

RoleOpt = Annotated[
    str,
    typer.Option(help="admin, analyst, zone_officer, operations, viewer or river_chief"),
]
ZoneOpt = Annotated[
    list[str] | None, typer.Option("--zone", help="zone officers: a zone's name (repeat)")
]
ContactOpt = Annotated[int | None, typer.Option(help="river chiefs: their contact's id")]
PASSWORD_ENV = "RIVERWATCH_NEW_PASSWORD"


def _password(ask: bool) -> str | None:
    # From the environment (scripts) or a prompt; never from argv, which `ps` shows.
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if ask:
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))
    return None


@user_cli.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    role: RoleOpt,
    zone: ZoneOpt = None,
    contact: ContactOpt = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
    password: Annotated[
        bool, typer.Option(help=f"prompt for a password (or set {PASSWORD_ENV})")
    ] = False,
) -> None:
    """Add a user. Without a password they sign in only by API token."""
    from app.access import service

    with transaction() as session:
        user = service.add_user(
            session,
            username=username,
            role=role,
            password=_password(password),
            display_name=name,
            zones=zone or [],
            contact_id=contact,
        )
        typer.echo(f"user {user.username} added as {user.role}")


@user_cli.command("list")
def user_list() -> None:
    """List users: name, role, zones, state."""
    from app.access import service

    with transaction() as session:
        for u in service.list_users(session):
            zones = ",".join(z.name for z in u.zones) or "-"
            state = "active" if u.active else "disabled"
            if u.locked_until is not None and u.locked_until > datetime.now(UTC):
                state += " (locked)"
            contact = f"contact {u.contact_id}" if u.contact_id else "-"
            typer.echo(f"{u.id}\t{u.username}\t{u.role}\t{zones}\t{contact}\t{state}")


@user_cli.command("role")
def user_role(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    role: Annotated[str, typer.Argument(help="the new role")],
    zone: ZoneOpt = None,
    contact: ContactOpt = None,
) -> None:
    """Change a user's role (and zones, for a zone officer)."""
    from app.access import service

    with transaction() as session:
        user = service.user_by_name(session, username)
        service.set_role(session, user, role, zones=zone or [], contact_id=contact)
        typer.echo(f"user {username} is now {user.role}")


@user_cli.command("disable")
def user_disable(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    enable: Annotated[bool, typer.Option("--enable", help="enable again instead")] = False,
) -> None:
    """Disable a user: their sessions end and their tokens are revoked."""
    from app.access import service

    with transaction() as session:
        user = service.user_by_name(session, username)
        service.set_active(session, user, enable, now=datetime.now(UTC))
    typer.echo(f"user {username} {'enabled' if enable else 'disabled'}")


@user_cli.command("reset-password")
def user_reset_password(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    prompt: Annotated[bool, typer.Option(help="choose it at a prompt instead")] = False,
) -> None:
    """Give a user a new password (generated and printed once, unless chosen); unlocks them."""
    from app.access import service

    with transaction() as session:
        user = service.user_by_name(session, username)
        chosen = service.reset_password(session, user, _password(prompt))
    if not (prompt or os.environ.get(PASSWORD_ENV)):
        typer.echo(f"new password for {username} (shown this once): {chosen}")
    else:
        typer.echo(f"password of {username} changed")


@user_cli.command("token")
def user_token(
    username: Annotated[str, typer.Argument(help="the user the token acts as")],
    name: Annotated[str, typer.Option(help="what it is for, e.g. the integration's name")],
    days: Annotated[float | None, typer.Option(help="valid this many days")] = None,
) -> None:
    """Issue an API token acting as the user; printed once, stored hashed."""
    from app.access import service
    from core.settings import get_settings

    ttl = timedelta(days=days or get_settings().api_token_ttl_days)
    with transaction() as session:
        user = service.user_by_name(session, username)
        row, token = service.create_token(session, user, name=name, ttl=ttl, now=datetime.now(UTC))
        expires, token_id = row.expires_at.isoformat(timespec="minutes"), row.id
    typer.echo(f"token {token_id} for {username}, expires {expires} (store it now): {token}")
