"""System accounts keep no stored balance: theirs is the sum of their entries, so no earning write waits on the
issuance row. The stored columns are zeroed so nobody reads a stale figure; downgrading recomputes them.

Revision ID: ba16f9afa7bd
Revises: 6391c5b00418
Create Date: 2026-11-28 15:14:34.738716

"""
from alembic import op
import sqlalchemy as sa

import kernel.db


# revision identifiers, used by Alembic.
revision = 'ba16f9afa7bd'
down_revision = '6391c5b00418'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE accounts SET balance = 0, contribution = 0 WHERE user_id IS NULL")


def downgrade():
    for measure, column in (("points", "balance"), ("contribution", "contribution")):
        op.execute(
            f"UPDATE accounts SET {column} = (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries"
            f" WHERE ledger_entries.account_id = accounts.id AND ledger_entries.measure = '{measure}')"
            " WHERE user_id IS NULL"
        )
