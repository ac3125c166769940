"""`flask ops …`: operations jobs."""

import click
from flask.cli import AppGroup

from kernel import clock
from kernel.unit_of_work import transaction
from operations import tiers

group = AppGroup("ops", help="Operations jobs.")


@group.command("recompute-tiers")
def recompute_tiers() -> None:
    """Recompute every member's activity tier from the event window (run daily)."""
    with transaction():
        sizes = tiers.recompute(clock.now())
    click.echo(", ".join(f"{tier}: {count}" for tier, count in sizes.items()))
