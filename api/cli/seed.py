"""`flask seed …`: demo data."""

import click
from flask.cli import AppGroup

from api.demo import seed_demo

group = AppGroup("seed", help="Demo data.")


@group.command("demo")
def demo() -> None:
    """Create demo members and content; running it twice changes nothing."""
    click.echo(f"demo data ready ({seed_demo()} new record(s))")
