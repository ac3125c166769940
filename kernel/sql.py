"""Small portable SQL helpers for the two supported databases."""

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    CursorResult,
    Executable,
    Result,
    Row,
    any_,
    bindparam,
    inspect,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from kernel.db import Base, db
from kernel.errors import Conflict, DomainError, NotFound

T = TypeVar("T")


# Statements in a database's own dialect, by what builds them, its arguments and the database (dialect_statement).
_BUILT: dict[tuple[Callable[..., Executable], tuple[Any, ...], str], Executable] = {}


def dialect_statement(build: Callable[..., Executable], *args: Any) -> Executable:
    """`build(insert, *args)`, `insert` being the unit of work's database's own INSERT (which has the ON CONFLICT
    clauses; both databases speak them alike), built once per (hashable) arguments and database: its values are
    passed as parameters, so every call reuses its compiled form."""
    dialect = db.session.get_bind().dialect.name
    key = (build, args, dialect)
    statement = _BUILT.get(key)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = _BUILT[key] = build(insert, *args)
    return statement


def _unless_taken(insert: Callable[[Any], Any], model: type[Any], returning_rows: bool) -> Executable:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the row, or its primary key."""
    table = model.__table__
    statement = insert(table).on_conflict_do_nothing()
    return statement.returning(*(table.columns if returning_rows else table.primary_key.columns))


def _execute_unless_taken(model: type[Any], values: dict[str, Any], returning_rows: bool) -> Row[Any] | None:
    """One Core statement on the unit of work's connection (the ORM's own INSERT … RETURNING into entities costs
    several times the statement itself), after flushing what the ORM holds, as its INSERT would have."""
    return written_rows(dialect_statement(_unless_taken, model, returning_rows), values).first()


def insert_if_absent(model: type[Base], values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was inserted. Safe under concurrent twins."""
    # RETURNING says whether a row went in; rowcount is not reliable for this statement on every driver.
    return _execute_unless_taken(model, values, returning_rows=False) is not None


def insert_or_none(model: type[T], values: dict[str, Any]) -> T | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the row as an ORM object (in the identity map, as a query would
    have loaded it), or None when a twin holds the unique key: one statement where a savepoint would take three."""
    row = _execute_unless_taken(model, values, returning_rows=True)
    return None if row is None else as_loaded(model, row)


def as_loaded(model: type[T], row: Sequence[Any]) -> T:
    """The object of a row of all the model's table's columns (in their order), as the ORM's loading would give it
    for a fraction of its work: the one the identity map already holds for its key, untouched (as a query leaves
    it), or a new one that the session holds from now on, its attributes the row's committed values."""
    mapper = inspect(model)
    keys, primary_key = _loading_plan(model)
    identity = mapper.identity_key_from_primary_key([row[at] for at in primary_key])
    held = db.session.identity_map.get(identity)
    if held is not None:
        return cast(T, held)
    instance = mapper.class_manager.new_instance()
    # Straight into the instance's dict, as the ORM's own loading fills it: values put there are committed ones
    # (only the instrumented setters record changes).
    instance_dict(instance).update(zip(keys, row, strict=True))
    make_transient_to_detached(instance)
    db.session.add(instance)
    return cast(T, instance)


_PLANS: dict[type[Any], tuple[tuple[str, ...], tuple[int, ...]]] = {}


def _loading_plan(model: type[Any]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The attribute of each of the model's table's columns, in order, and the positions of its primary key."""
    plan = _PLANS.get(model)
    if plan is None:
        # A query configures the mappers (the attributes' loaders) on first use; an object built without one, as a
        # fresh worker's first request builds its signed-in member, needs its registry's configured first.
        mapper = inspect(model)
        mapper.registry.configure()
        columns = list(mapper.local_table.columns)
        keys = tuple(mapper.get_property_by_column(column).key for column in columns)
        plan = _PLANS[model] = (keys, tuple(columns.index(column) for column in mapper.primary_key))
    return plan


@contextmanager
def unique_or_refuse(refusal: DomainError | Callable[[IntegrityError], DomainError]) -> Iterator[None]:
    """Rows added or changed inside are flushed in a savepoint: a unique key that is already taken (also by a
    concurrent request) becomes the given refusal, and the rest of the unit of work is untouched."""
    try:
        with db.session.begin_nested():
            yield
    except IntegrityError as exc:
        raise (refusal(exc) if callable(refusal) else refusal) from exc


def written_rows(statement: Executable, params: dict[str, Any]) -> Result[*tuple[Any, ...]]:
    """Run a statement that writes (and returns rows) on the unit of work's connection, after flushing what the ORM
    holds (rows the new ones may refer to), as the ORM's own INSERT would have."""
    db.session.flush()
    return column_rows(statement, params)


def column_rows(statement: Executable, params: dict[str, Any] | None = None) -> Result[*tuple[Any, ...]]:
    """Run a select of columns (no entities) on the unit of work's connection: plain rows, without the ORM's
    per-execution work (loading contexts, identity map) that only entities need; a third of a feed page's cost."""
    return db.session.connection().execute(statement, params)


class _OneOf(ColumnElement[bool]):
    """`column IN (…)` with the values as one parameter `name` (a list). PostgreSQL gets `column = ANY(:name)`: one
    array parameter, so the statement's text is the same whatever the number of values (prepared once, nothing
    rendered per value); other databases get the usual expanded IN."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


def one_of(column: Any, name: str) -> ColumnElement[bool]:
    """`column` is one of the values given as the list parameter `name` (see _OneOf)."""
    return _OneOf(column, name)


class json_rows(FunctionElement[Any]):  # lower case: used as a SQL function
    """An aggregate: the group's rows as one JSON array of arrays, one [column, …] per row in no set order (the
    reader sorts them; SQLite before 3.44 cannot order inside an aggregate). NULL or [] for no rows. A correlated
    subquery of it brings a row's small one-to-many lists (a post's tags, its images) with the row itself."""

    name = "json_rows"
    inherit_cache = True
    type = JSON()


@compiles(json_rows)
def _json_group_array(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _json_agg(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


@compiles(_OneOf)
def _expanded_in(element: _OneOf, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(_OneOf, "postgresql")
def _any_of_array(element: _OneOf, compiler: Any, **kw: Any) -> str:
    values = bindparam(element.name, type_=postgresql.ARRAY(element.column.type))
    return compiler.process(element.column == any_(values), **kw)


def rows_changed(statement: Executable) -> int:
    """Run an UPDATE or DELETE in the unit of work; how many rows it changed."""
    return cast(CursorResult, db.session.execute(statement)).rowcount


def move(
    row: Any, to: str, *, sources: Iterable[str], column: str = "status", where: tuple = (), **values: Any
) -> bool:
    """Move a row from one of `sources` to `to` by a conditional UPDATE on its current state; True when this call
    moved it. Two racing callers cannot both move it. The row is refreshed either way, so it shows the state that
    won."""
    model = type(row)
    state = getattr(model, column)
    statement = (
        update(model).where(model.id == row.id, state.in_(tuple(sources)), *where).values({column: to, **values})
    )
    moved = rows_changed(statement) == 1
    db.session.refresh(row)
    return moved


def move_or_refuse(
    row: Any, to: str, *, sources: Iterable[str], what: str, column: str = "status", **values: Any
) -> None:
    """`move`, or 409 `invalid_transition` naming the state the row is really in."""
    if not move(row, to, sources=sources, column=column, **values):
        current = getattr(row, column)
        raise Conflict(
            f"{what} that is {current} cannot become {to}", code="invalid_transition", details={column: current}
        )


def get_or_404(
    model: type[T], key: Any, name: str, *, visible: Callable[[T], bool] | None = None, options: Sequence[Any] = ()
) -> T:
    """The row with this primary key, or 404 `<name>_not_found`; rows the caller may not see are not found either.
    `options` are loader options (what to load with the row in the same query)."""
    row = db.session.get(model, key, options=options)
    if row is None or (visible is not None and not visible(row)):
        raise NotFound(f"no such {name.replace('_', ' ')}", code=f"{name}_not_found")
    return row


def contains_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, its own %, _ and \\ taken literally (use with escape="\\")."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
