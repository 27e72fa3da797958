"""`flask --app wsgi auth ...`: operator commands for accounts."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from chatju.api import tokens
from chatju.auth import service
from chatju.extensions import db

cli = AppGroup("auth", help="Accounts and tokens.")


@cli.command("token")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def token_command(email: str, admin: bool) -> None:
    """Create the user if needed and print one access token (and nothing else)."""
    if "@" not in email:
        raise click.BadParameter("not an email address", param_hint="EMAIL")
    user = service.get_or_create_user(email, make_admin=admin)
    db.session.commit()
    click.echo(tokens.access_token_for(user))
