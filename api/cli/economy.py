"""`flask economy …`: the points ledger."""

import click
from flask.cli import AppGroup

from economy import ledger

group = AppGroup("economy", help="Points ledger maintenance.")


@group.command("verify")
def verify() -> None:
    """Recompute every balance from the ledger entries; exit 1 on any mismatch."""
    problems = ledger.verify()
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo("ledger ok: every transaction balances and every balance equals its entries")
