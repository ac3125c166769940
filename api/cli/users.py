"""`flask users …`: member administration."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from forum.members import ROLES, User
from forum.names import canonical
from kernel.db import db
from kernel.unit_of_work import transaction

group = AppGroup("users", help="Member administration.")


@group.command("set-role")
@click.argument("username")
@click.argument("role")
def set_role(username: str, role: str) -> None:
    """Give a member a role (member, moderator, operator, product, admin)."""
    if role not in ROLES:
        raise click.BadParameter(f"role must be one of {', '.join(ROLES)}")
    with transaction():
        user = db.session.scalar(select(User).where(User.username_key == canonical(username)))
        if user is None:
            raise click.ClickException(f"no member named {username}")
        user.role = role
    click.echo(f"{user.username} is now {role}")
