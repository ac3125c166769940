"""Operational commands, one module per group: `flask events|forum|economy|badges|ideas|presale|ops|users|seed …`.

Every command that changes data runs its work through the unit of work (`kernel.unit_of_work.transaction`), one
transaction per batch, exactly as a request does.
"""

from flask import Flask

from api.cli import badges, economy, events, forum, ideas, ops, presale, seed, users

GROUPS = (events, forum, economy, badges, ideas, presale, ops, users, seed)


def register_cli(app: Flask) -> None:
    for module in GROUPS:
        app.cli.add_command(module.group)
