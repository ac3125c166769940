"""`flask jobs list|run NAME`, and each periodic job under its own group (`flask presale settle`, …): the same
registry, lock and work that beat runs."""

import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from jobs import registry
from kernel import progress

group = AppGroup("jobs", help="Periodic jobs: what beat runs, runnable by hand.")


def _show_progress(what: str, done: int, total: int) -> None:
    """One line per stage, rewritten in place as it advances."""
    share = f" ({done * 100 // total}%)" if total else ""
    click.echo(f"\r{what}: {done:,}/{total:,}{share}", nl=done >= total, err=True)


def _run(name: str) -> None:
    if sys.stderr.isatty():
        with progress.reporting_to(_show_progress):
            result = registry.run(name)
    else:
        result = registry.run(name)
    if result is None:
        raise click.ClickException(f"{name} is already running")
    click.echo(result.summary)
    if not result.ok:
        raise SystemExit(1)


@group.command("list")
def list_jobs() -> None:
    """Every job with its schedule (in the community time zone)."""
    for job in registry.JOBS:
        click.echo(f"{job.name:32} {str(job.every or 'by hand'):40} {job.about}")


@group.command("run")
@click.argument("name", type=click.Choice(list(registry.BY_NAME)))
def run(name: str) -> None:
    """Run one job now (skipped with an error if another run holds its lock)."""
    _run(name)


def add_job_commands(app: Flask) -> None:
    """Each job also answers to `flask <group> <command>`."""
    for job in registry.JOBS:
        parent = app.cli.commands.get(job.group)
        if not isinstance(parent, click.Group):
            parent = AppGroup(job.group, help=f"{job.group.capitalize()} jobs.")
            app.cli.add_command(parent)
        command = with_appcontext(lambda name=job.name: _run(name))
        parent.add_command(click.Command(job.command, callback=command, help=job.about))
