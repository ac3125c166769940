"""`flask events …`: the outbox."""

import click
from flask.cli import AppGroup

from kernel import outbox

group = AppGroup("events", help="Outbox maintenance.")


@group.command("process")
@click.option("--limit", default=1000, show_default=True)
def process(limit: int) -> None:
    """Run reactions for events left unprocessed (after a crash or a failing handler)."""
    click.echo(f"processed {outbox.process_backlog(limit)} event(s)")
