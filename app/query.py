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
listeners, which are called with the statement, its parameters and no execution context (their return
values are not used: a listener that rewrites statements does not apply here; statement counts in tests
see every statement). An error is handled by SQLAlchemy's own handler: raised as SQLAlchemy's
(OperationalError and the rest), and a lost connection invalidated with the pool's older ones.

The connection must be in a transaction (a session's, `engine.begin()`) or in autocommit (a read
engine's): a `Query` does not begin one, and an `Insert` refuses to run outside one.
"""

import contextlib
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, insert
from sqlalchemy.engine import Connection, Dialect

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
    (the caller's: a session's, in its transaction, or a read connection in autocommit)."""

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[tuple[type[Dialect], str], _Compiled] = {}

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[Record]:
        compiled = self._compiled.get((type(connection.dialect), connection.dialect.paramstyle))
        if compiled is None:
            compiled = self._compile(connection.dialect)
        return _rows(compiled, _execute(connection, compiled, _parameters(compiled, params), many=False))

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Record | None:
        rows = self.all(connection, params)
        return rows[0] if rows else None

    def scalars(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self.all(connection, params)]

    def _compile(self, dialect: Dialect) -> _Compiled:
        columns = list(self.statement.selected_columns)
        compiled = _compile(self.statement.compile(dialect=dialect), dialect, columns)
        self._compiled[(type(dialect), dialect.paramstyle)] = compiled
        return compiled


class Insert:
    """`INSERT INTO table (columns) VALUES (…)` on the driver: one row (`execute`), or many in one
    executemany (the group commit's batches), compiled once per dialect and set of columns.

    `build` gives the dialect's own form of the statement where it needs one (`ON CONFLICT DO NOTHING`,
    `RETURNING`: app.store.InsertNew); `run` returns the rows a RETURNING gives, converted by their
    columns' types as a `Query`'s (a RETURNING takes one row at a time). Every column with a Python-side
    default must be given: SQLAlchemy's own execution computes those, this would store NULL, so it
    refuses (a column left out that has no default, or only a server one, is left to the database)."""

    __slots__ = ("table", "_build", "_compiled")

    def __init__(self, table: Table, build: Callable[[Dialect], Any] | None = None) -> None:
        self.table = table
        self._build = build
        self._compiled: dict[tuple[type[Dialect], str, tuple[str, ...]], _Compiled] = {}

    def run(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Record]:
        """Store the rows (each with the same columns as the first) in the connection's transaction, which
        must have begun (`engine.begin()`, a session's): outside one, the driver would open a transaction
        SQLAlchemy does not know of, and the rows would be rolled back when the connection goes back."""
        if not connection.in_transaction():
            raise RuntimeError("Insert runs in a transaction: use engine.begin() or a session's connection")
        keys = tuple(rows[0])
        dialect = connection.dialect
        key = (type(dialect), dialect.paramstyle, keys)
        compiled = self._compiled.get(key)
        if compiled is None:
            statement = insert(self.table) if self._build is None else self._build(dialect)
            returning = list(statement.exported_columns) if self._build is not None else []
            sql = statement.compile(dialect=dialect, column_keys=list(keys))
            if sql.insert_prefetch:  # SQLAlchemy's execution would compute these; here they would be NULL
                missing = ", ".join(column.key for column in sql.insert_prefetch)
                raise ValueError(f"app.query does not fill in Python-side defaults: give {missing}")
            compiled = self._compiled[key] = _compile(sql, dialect, returning)
        many = len(rows) > 1
        if many and compiled.columns:
            raise ValueError("An INSERT with RETURNING stores one row at a time")
        parameters = [_parameters(compiled, row) for row in rows]
        returned = _execute(connection, compiled, parameters if many else parameters[0], many=many)
        return _rows(compiled, returned)


def _converter(type_: Any, dialect: Dialect, kind: str) -> Converter:
    implementation = type_.dialect_impl(dialect)
    if kind == "bind":
        return implementation.bind_processor(dialect)
    return implementation.result_processor(dialect, None)


def _compile(compiled: Any, dialect: Dialect, columns: list[Any]) -> _Compiled:
    """From a statement's SQLCompiler: the driver's SQL, parameters and converters."""
    binds = compiled.binds
    given = [name for name, bind in binds.items() if bind.required]
    # Not supported, refused when the statement is first run rather than run wrongly: an IN list the
    # caller gives (it would be compiled for one length), and parameter names the dialect must escape.
    if any(binds[name].expanding for name in given) or compiled.escaped_bind_names:
        raise ValueError(f"app.query cannot run this statement: {compiled.string}")
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


def _rows(compiled: _Compiled, rows: list[Any]) -> list[Record]:
    """The driver's rows as the statement's named tuples, each column converted by its type."""
    columns, make = compiled.columns, compiled.row._make
    if not any(columns):
        return [make(row) for row in rows]
    return [
        make([value if conv is None else conv(value) for conv, value in zip(columns, row, strict=True)])
        for row in rows
    ]


def _parameters(compiled: _Compiled, given: Mapping[str, Any]) -> Any:
    """The driver's parameters of one run: a tuple in placeholder order, or a dict by name."""
    values = [
        (given[name] if convert is None else convert(given[name])) if is_given else fixed
        for name, is_given, convert, fixed in compiled.parameters
    ]
    if compiled.positional:
        return tuple(values)
    return {name: value for (name, *_), value in zip(compiled.parameters, values, strict=True)}


def _execute(connection: Connection, compiled: _Compiled, parameters: Any, *, many: bool) -> list[Any]:
    """Run on the driver: the connection's cursor listeners around it, any error handled as SQLAlchemy
    handles its own. Returns the rows (none for executemany)."""
    sql = compiled.sql
    cursor = None
    rows: Any = []
    try:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for listener in connection.dispatch.before_cursor_execute:
            listener(connection, cursor, sql, parameters, None, many)
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
            # A SELECT, a RETURNING: known from the statement rather than read off cursor.description,
            # which psycopg builds anew, column by column, at every access.
            if compiled.columns:
                rows = cursor.fetchall()
        for listener in connection.dispatch.after_cursor_execute:
            listener(connection, cursor, sql, parameters, None, many)
    except BaseException as error:
        # SQLAlchemy's own handling of an error during execution: the driver's error wrapped as
        # SQLAlchemy's (OperationalError and the rest; parameters hidden as the engine says), the
        # handle_error events, and on a lost connection this one invalidated and the pool's older ones
        # discarded (the read engine has no pre-ping: app.db.read_engine). A private method, kept in step
        # with SQLAlchemy by tests/test_query.py (the error types, a killed PostgreSQL backend).
        connection._handle_dbapi_exception(error, sql, parameters, cursor, None)  # noqa: SLF001
    finally:
        if cursor is not None:
            with contextlib.suppress(Exception):  # a dead connection's cursor; the error above matters
                cursor.close()
    return rows
