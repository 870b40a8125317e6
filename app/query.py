"""A Core statement compiled once per dialect and run on the driver: the hot paths' way to the database.

SQLAlchemy's `Connection.execute` costs, per statement, a cache key of the statement (a walk of its
tree), an execution context and a result object: about 20 µs on SQLite and 50 µs on PostgreSQL on the
project's machine, more than the statement itself on SQLite (docs/architecture.md). A `Query` pays that
once: at first use on a dialect it is compiled, its constant parameters (IN lists, literals) are expanded
and converted, and the converters of its other parameters and of its columns are taken from their own
SQLAlchemy types (so a UUID, a UTC datetime or a JSON column reads and writes exactly as through the
ORM). Each run then converts its parameters, runs the SQL on the DBAPI connection under the caller's
SQLAlchemy connection and converts the rows into named tuples.

What stays SQLAlchemy's: the pool, the transaction (a session's connection has begun it; a read engine's
connection is in autocommit), and the connection's `before_cursor_execute`/`after_cursor_execute`
listeners, which are called as SQLAlchemy calls them (statement counts in tests see every statement). A
driver error is raised as SQLAlchemy would raise it (OperationalError and the rest, from DBAPIError), and a
lost connection is invalidated so that the pool replaces it.
"""

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError

# A row of a Query: a named tuple of its selected columns (typed loosely: each Query has its own columns).
Record = Any
Converter = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    # Whether the driver takes a tuple in placeholder order (else a dict by name).
    positional: bool
    # Every parameter in placeholder order: its name, whether the caller gives it, its converter (given
    # ones) or its value, already converted (the statement's constants).
    parameters: tuple[tuple[str, bool, Converter, Any], ...]
    # The row type and each column's converter (None: taken as the driver returns it).
    row: Any
    columns: tuple[Converter, ...]


class Query:
    """A SELECT built once; `all`, `first` and `scalars` run it on the driver connection of a `Connection`
    (the caller's: a session's, in its transaction, or a pooled read connection in autocommit)."""

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[Record]:
        compiled = self._compiled.get((connection.dialect.name, connection.dialect.paramstyle))
        if compiled is None:
            compiled = self._compile(connection.dialect)
        rows = _execute(connection, compiled, _parameters(compiled, params), many=False)
        columns, make = compiled.columns, compiled.row._make
        if not any(columns):
            return [make(row) for row in rows]
        return [
            make(
                [
                    value if convert is None else convert(value)
                    for convert, value in zip(columns, row, strict=True)
                ]
            )
            for row in rows
        ]

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Record | None:
        rows = self.all(connection, params)
        return rows[0] if rows else None

    def scalars(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self.all(connection, params)]

    def _compile(self, dialect: Dialect) -> _Compiled:
        columns = list(self.statement.selected_columns)
        compiled = _compile(self.statement.compile(dialect=dialect), dialect, columns)
        self._compiled[(dialect.name, dialect.paramstyle)] = compiled
        return compiled


class InsertMany:
    """`INSERT INTO table (columns) VALUES (…)` for many rows in one executemany on the driver (the group
    commit's batches): compiled once per dialect and set of columns."""

    __slots__ = ("table", "_compiled")

    def __init__(self, table: Table) -> None:
        self.table = table
        self._compiled: dict[tuple[str, str, tuple[str, ...]], _Compiled] = {}

    def run(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Store the rows (each with the same columns as the first) in the connection's transaction."""
        keys = tuple(rows[0])
        dialect = connection.dialect
        compiled = self._compiled.get((dialect.name, dialect.paramstyle, keys))
        if compiled is None:
            statement = insert(self.table).compile(dialect=dialect, column_keys=list(keys))
            compiled = self._compiled[(dialect.name, dialect.paramstyle, keys)] = _compile(
                statement, dialect, []
            )
        _execute(connection, compiled, [_parameters(compiled, row) for row in rows], many=True)


def _converter(type_: Any, dialect: Dialect, kind: str) -> Converter:
    implementation = type_.dialect_impl(dialect)
    if kind == "bind":
        return implementation.bind_processor(dialect)
    return implementation.result_processor(dialect, None)


def _compile(compiled: Any, dialect: Dialect, columns: list[Any]) -> _Compiled:
    """From a statement's SQLCompiler: the driver's SQL, parameters and converters."""
    binds = compiled.binds
    given = [name for name, bind in binds.items() if bind.required]
    # The SQL with its constant IN lists expanded (they are the same on every run), and every parameter.
    expanded = compiled.construct_expanded_state({name: None for name in given})
    types = {name: bind.type for name, bind in binds.items()}

    def type_of(name: str) -> Any:
        # An expanded IN list's parameters are named after it: tier_1 gives tier_1_1, tier_1_2, …
        return types.get(name) or types[name.rsplit("_", 1)[0]]

    parameters = []
    for name in expanded.positiontup or list(expanded.parameters):
        convert = _converter(type_of(name), dialect, "bind")
        if name in given:
            parameters.append((name, True, convert, None))
        else:
            value = expanded.parameters[name]
            parameters.append((name, False, None, value if convert is None else convert(value)))
    return _Compiled(
        sql=expanded.statement,
        positional=expanded.positiontup is not None,
        parameters=tuple(parameters),
        row=namedtuple("Row", [column.key for column in columns], rename=True),
        columns=tuple(_converter(column.type, dialect, "result") for column in columns),
    )


def _parameters(compiled: _Compiled, given: Mapping[str, Any]) -> Any:
    """The driver's parameters of one run: a tuple in placeholder order, or a dict by name."""
    values = [
        (value if (value := given[name]) is None or convert is None else convert(value))
        if is_given
        else fixed
        for name, is_given, convert, fixed in compiled.parameters
    ]
    if compiled.positional:
        return tuple(values)
    return {name: value for (name, *_), value in zip(compiled.parameters, values, strict=True)}


def _execute(connection: Connection, compiled: _Compiled, parameters: Any, *, many: bool) -> list[Any]:
    """Run on the driver: the connection's cursor listeners around it, the driver's errors as
    SQLAlchemy's. Returns the rows (none for executemany)."""
    sql = compiled.sql
    driver: Any = connection.connection.dbapi_connection
    cursor = None
    rows: list[Any] = []
    try:
        cursor = driver.cursor()
        for listener in connection.dispatch.before_cursor_execute:
            listener(connection, cursor, sql, parameters, None, many)
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
            rows = cursor.fetchall()
        for listener in connection.dispatch.after_cursor_execute:
            listener(connection, cursor, sql, parameters, None, many)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _as_sqlalchemy_error(connection, driver, cursor, error, sql, parameters) from error
    finally:
        if cursor is not None:
            cursor.close()
    return rows


def _as_sqlalchemy_error(
    connection: Connection, driver: Any, cursor: Any, error: Any, sql: str, parameters: Any
) -> StatementError:
    """The driver's error as SQLAlchemy raises it (OperationalError, IntegrityError, …); a lost connection
    is invalidated first, so that it goes back to the pool to be replaced, not reused."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, driver, cursor)
    if lost:
        connection.invalidate(error)
    return DBAPIError.instance(
        sql,
        parameters,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=dialect,
    )
