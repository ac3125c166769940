"""Alembic environment: runs against the Flask app's engine and models."""

from alembic import context
from flask import current_app

from kernel.search import is_search_index

config = context.config
db = current_app.extensions["migrate"].db
target_metadata = db.metadata


def _ours(name, type_, parent_names) -> bool:
    # Search indexes live only in the migrations (see kernel.search): autogenerate must not drop them.
    return not is_search_index(name)


def run_migrations_offline() -> None:
    context.configure(url=str(db.engine.url), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=_ours,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
