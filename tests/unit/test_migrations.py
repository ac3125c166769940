from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kernel.db import db


def test_migrations_match_the_models(ctx):
    """Every model change must ship as a migration: the migrated schema has nothing left to add."""
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == []
