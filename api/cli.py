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
    def presale():
        """Pre-sale jobs (run every few minutes)."""

    @presale.command("expire-orders")
    def expire_orders():
        """Expire unpaid orders past their payment window and give their units back."""
        from economy.presale import expire_unpaid
        from kernel import clock

        count = expire_unpaid(clock.now())
        db.session.commit()
        click.echo(f"expired {count} order(s)")

    @presale.command("settle")
    def settle():
        """Settle every pre-sale that has closed: succeeded or failed, with notifications and refunds."""
        from economy.presale import settle_due
        from kernel import clock

        click.echo(f"settled {settle_due(clock.now())} pre-sale(s)")
        outbox.commit()

    @presale.command("send-refunds")
    def send_refunds():
        """Send requested refunds to the payment provider (PAYMENT_API_BASE); failures are retried next run."""
        from flask import current_app

        from economy.payments import PaymentProviderClient
        from economy.payments import send_refunds as send

        cfg = current_app.config
        sent, failed = send(PaymentProviderClient(cfg["PAYMENT_API_BASE"], cfg["PAYMENT_WEBHOOK_SECRET"]))
        click.echo(f"sent {sent} refund(s), {failed} failed")
        if failed:
            raise SystemExit(1)

    @app.cli.group()
    def ops():
        """Operations jobs."""

    @ops.command("recompute-tiers")
    def recompute_tiers():
        """Recompute every member's activity tier from the event window (run daily)."""
        from kernel import clock
        from operations.tiers import recompute

        sizes = recompute(clock.now())
        db.session.commit()
        click.echo(", ".join(f"{tier}: {count}" for tier, count in sizes.items()))

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
