"""`flask presale …`: pre-sale jobs (run every few minutes)."""

import click
from flask import current_app
from flask.cli import AppGroup

from c2b import payments, presale
from kernel import clock
from kernel.unit_of_work import transaction

group = AppGroup("presale", help="Pre-sale jobs (run every few minutes).")


@group.command("expire-orders")
def expire_orders() -> None:
    """Expire unpaid orders past their payment window and give their units back."""
    with transaction():
        count = presale.expire_unpaid(clock.now())
    click.echo(f"expired {count} order(s)")


@group.command("settle")
def settle() -> None:
    """Settle every pre-sale that has closed: succeeded or failed, with notifications and refunds."""
    click.echo(f"settled {presale.settle_due(clock.now())} pre-sale(s)")


@group.command("send-refunds")
def send_refunds() -> None:
    """Send requested refunds to the payment provider (PAYMENT_API_BASE); failures are retried next run."""
    cfg = current_app.config
    client = payments.PaymentProviderClient(cfg["PAYMENT_API_BASE"], cfg["PAYMENT_WEBHOOK_SECRET"])
    sent, failed = payments.send_refunds(client)
    click.echo(f"sent {sent} refund(s), {failed} failed")
    if failed:
        raise SystemExit(1)
