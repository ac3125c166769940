"""`flask forum …`: forum maintenance."""

import click
from flask.cli import AppGroup

from forum import view_counts

group = AppGroup("forum", help="Forum maintenance.")


@group.command("flush-views")
def flush_views() -> None:
    """Move buffered post view counts from the store into the database (run every minute or so)."""
    click.echo(f"flushed {view_counts.flush_views()} view(s)")
