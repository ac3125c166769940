"""Operational commands, one module per group: `flask events|economy|users|seed|jobs …`, and every periodic job
under its own group (`flask presale settle`, `flask ideas expire`, …).

Every command that changes data runs its work through the unit of work (`kernel.unit_of_work.transaction`), one
transaction per batch, exactly as a request does.
"""

from flask import Flask

from api.cli import economy, events, jobs, seed, users

GROUPS = (events, economy, users, seed, jobs)


def register_cli(app: Flask) -> None:
    for module in GROUPS:
        app.cli.add_command(module.group)
    jobs.add_job_commands(app)
