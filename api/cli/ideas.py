"""`flask ideas …`: the idea lifecycle."""

import click
from flask.cli import AppGroup

from c2b import ideas
from kernel import clock
from kernel.unit_of_work import transaction

group = AppGroup("ideas", help="Idea lifecycle jobs.")


@group.command("expire")
def expire() -> None:
    """Mark supporting ideas past their deadline as expired and notify their supporters (run hourly)."""
    with transaction():
        count = ideas.expire_due(clock.now())
    click.echo(f"expired {count} idea(s)")
