"""Keyword search without a scan: pg_trgm GIN indexes on PostgreSQL; FTS5 trigram tables kept by triggers on SQLite.

Only the migrations know these (they are not models); `kernel.search` uses them. On SQLite a later batch migration
that rebuilds `posts` or `ideas` must recreate the triggers (call `_sqlite_index` again).

Revision ID: e5a1c0ffee19
Revises: ba16f9afa7bd
Create Date: 2026-11-28 15:20:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5a1c0ffee19'
down_revision = 'ba16f9afa7bd'
branch_labels = None
depends_on = None

SEARCHED = {"posts": ("title", "body"), "ideas": ("title", "description")}


def _sqlite_index(table: str, columns: tuple[str, ...]) -> None:
    index, cols = f"{table}_search", ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    op.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {index} USING fts5({cols}, content='{table}', content_rowid='id',"
        " tokenize='trigram')"
    )
    op.execute(
        f"CREATE TRIGGER IF NOT EXISTS {index}_insert AFTER INSERT ON {table} BEGIN"
        f" INSERT INTO {index}(rowid, {cols}) VALUES (new.id, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER IF NOT EXISTS {index}_delete AFTER DELETE ON {table} BEGIN"
        f" INSERT INTO {index}({index}, rowid, {cols}) VALUES ('delete', old.id, {old}); END"
    )
    op.execute(
        f"CREATE TRIGGER IF NOT EXISTS {index}_update AFTER UPDATE OF {cols} ON {table} BEGIN"
        f" INSERT INTO {index}({index}, rowid, {cols}) VALUES ('delete', old.id, {old});"
        f" INSERT INTO {index}(rowid, {cols}) VALUES (new.id, {new}); END"
    )
    op.execute(f"INSERT INTO {index}({index}) VALUES ('rebuild')")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table, columns in SEARCHED.items():
            for name in columns:
                op.execute(
                    f"CREATE INDEX IF NOT EXISTS ix_{table}_{name}_trgm ON {table} USING gin ({name} gin_trgm_ops)"
                )
        return
    for table, columns in SEARCHED.items():
        _sqlite_index(table, columns)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in SEARCHED.items():
            for name in columns:
                op.execute(f"DROP INDEX IF EXISTS ix_{table}_{name}_trgm")
        return
    for table in SEARCHED:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_search_{event}")
        op.execute(f"DROP TABLE IF EXISTS {table}_search")
