"""Substring search that does not scan the table.

Chinese has no word boundaries to index, so search is by substring. PostgreSQL serves `ILIKE '%term%'` from pg_trgm
GIN indexes; SQLite from an FTS5 table with the trigram tokenizer, which triggers keep in step with its table (both
created by the migrations). A trigram needs three characters: shorter terms (a two-character Chinese word) fall
back to a plain LIKE, which is exact, only slower.
"""

from typing import Any

from sqlalchemy import ColumnElement, Select, column, or_, select, table, text
from sqlalchemy.orm import InstrumentedAttribute

from kernel.db import db
from kernel.sql import contains_pattern

TRIGRAM = 3


def substring_match(
    key: InstrumentedAttribute[int], columns: tuple[InstrumentedAttribute[str], ...], index_table: str, term: str
) -> ColumnElement[bool]:
    """Rows whose `columns` contain `term` (case-insensitively); `index_table` is the SQLite FTS5 twin's name."""
    term = term.strip()
    if db.session.get_bind().dialect.name == "sqlite" and len(term) >= TRIGRAM:
        phrase = '"' + term.replace('"', '""') + '"'  # one phrase: the term as written, not FTS5 syntax
        found: Select[Any] = (
            select(column("rowid"))
            .select_from(table(index_table))
            .where(text(f"{index_table} MATCH :phrase").bindparams(phrase=phrase))
        )
        return key.in_(found)
    pattern = contains_pattern(term)
    if term.lower() == term.upper():
        # Nothing in the term has a case (Chinese, digits): LIKE finds exactly what ILIKE would, without lower-casing
        # every candidate (over twice as fast on PostgreSQL); the trigram indexes serve both.
        return or_(*(field.like(pattern, escape="\\") for field in columns))
    return or_(*(field.ilike(pattern, escape="\\") for field in columns))


def is_search_index(name: str | None) -> bool:
    """The search structures the migrations add outside the models (so schema comparison leaves them be)."""
    if not name:
        return False
    return name.startswith(("posts_search", "ideas_search")) or name.endswith("_trgm")
