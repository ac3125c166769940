"""`flask badges …`: the badge catalogue."""

import click
from flask.cli import AppGroup

from economy import badges

group = AppGroup("badges", help="Badge maintenance.")


@group.command("backfill")
def backfill() -> None:
    """Award every rule badge that existing members already qualify for (safe to repeat)."""
    click.echo(f"awarded {badges.backfill()} badge(s)")
