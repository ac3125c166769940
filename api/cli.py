"""Operational commands: `flask events process`, `flask users set-role`, `flask seed demo`."""

import click
from flask import Flask
from sqlalchemy import select

from kernel import outbox
from kernel.db import db


def register_cli(app: Flask) -> None:
    @app.cli.group()
    def events():
        """Outbox maintenance."""

    @events.command("process")
    @click.option("--limit", default=1000, show_default=True)
    def process(limit: int):
        """Run reactions for events left unprocessed (after a crash or a failing handler)."""
        done = outbox.process_backlog(limit)
        click.echo(f"processed {done} event(s)")

    @app.cli.group()
    def forum():
        """Forum maintenance."""

    @forum.command("flush-views")
    def flush_views():
        """Move buffered post view counts from the store into the database (run every minute or so)."""
        from forum.view_counts import flush_views as flush

        click.echo(f"flushed {flush()} view(s)")

    @app.cli.group()
    def economy():
        """Points ledger maintenance."""

    @economy.command("verify")
    def verify():
        """Recompute every balance from the ledger entries; exit 1 on any mismatch."""
        from economy.ledger import verify as check

        problems = check()
        for problem in problems:
            click.echo(problem, err=True)
        if problems:
            raise SystemExit(1)
        click.echo("ledger ok: every transaction balances and every balance equals its entries")

    @economy.command("rebuild-leaderboards")
    def rebuild_leaderboards():
        """Recompute the contribution leaderboards in the store from the ledger."""
        from economy.leaderboards import rebuild
        from kernel import clock

        click.echo(f"ranked {rebuild(clock.now())} member(s)")

    @app.cli.group()
    def badges():
        """Badge maintenance."""

    @badges.command("backfill")
    def backfill():
        """Award every rule badge that existing members already qualify for (safe to repeat)."""
        from economy.badges import backfill as run

        click.echo(f"awarded {run()} badge(s)")

    @app.cli.group()
    def ideas():
        """Idea lifecycle jobs."""

    @ideas.command("expire")
    def expire():
        """Mark supporting ideas past their deadline as expired and notify their supporters (run hourly)."""
        from forum.ideas import expire_due
        from kernel import clock, outbox

        count = expire_due(clock.now())
        outbox.commit()
        click.echo(f"expired {count} idea(s)")

    @app.cli.group()
    def users():
        """Member administration."""

    @users.command("set-role")
    @click.argument("username")
    @click.argument("role")
    def set_role(username: str, role: str):
        """Give a member a role (member, moderator, operator, product, admin)."""
        from forum.members import ROLES, User
        from forum.names import canonical

        if role not in ROLES:
            raise click.BadParameter(f"role must be one of {', '.join(ROLES)}")
        user = db.session.scalar(select(User).where(User.username_key == canonical(username)))
        if user is None:
            raise click.ClickException(f"no member named {username}")
        user.role = role
        db.session.commit()
        click.echo(f"{user.username} is now {role}")

    @app.cli.group()
    def seed():
        """Demo data."""

    @seed.command("demo")
    def demo():
        """Create demo members and content; running it twice changes nothing."""
        from api.demo import seed_demo

        created = seed_demo()
        click.echo(f"demo data ready ({created} new record(s))")
