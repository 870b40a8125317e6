"""The data-access layer of the hot paths: SQLAlchemy Core statements built once, run on the driver.

Every patient-app request runs some of these, so they are built at import (building a statement costs more
than running it), take only the columns their callers use, and return plain named tuples: no ORM identity
map, no unit-of-work bookkeeping. Each is a `Query` (an `Insert` for rows only added): compiled once per
dialect, its parameters converted by its columns' own SQLAlchemy types, run on the DBAPI connection under
the request's SQLAlchemy connection (the pool, the transaction and the connection's events stay
SQLAlchemy's; what is skipped is the per-statement machinery: cache key, execution context, result
object). Each takes a `Db`, the request's ORM session or a bare read connection (app.unit_of_work): the
staff side's ORM objects and these rows share one transaction, and the patient app's read routes run them
on a read-only connection without any Session (docs/architecture.md says when to use which tool, and the
measured reason).

Scoping is part of every statement: each is bound to a clinic, and a patient's reads to that patient.
"""

import uuid
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, get_args

from sqlalchemy import ColumnElement, String, Table, and_, bindparam, cast, func
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect

from app.db import Db, connection_of, utcnow
from app.models.audit import AuditEvent
from app.models.exercise import Exercise
from app.models.patient import Patient
from app.models.programme import Programme, ProgrammeItem, ProgrammeRevision
from app.models.programme_document import (
    CURRENT_STATUSES,
    AutoProgress,
    ProgrammeStatus,
    ProgressionVariable,
)
from app.models.safety import HOLDING_TIERS, SafetyAlert
from app.models.session_log import SessionLog
from app.query import Insert, Query, Record

_PATIENTS = Patient.__table__.c  # type: ignore[attr-defined]
_PROGRAMMES = Programme.__table__.c  # type: ignore[attr-defined]
_REVISIONS = ProgrammeRevision.__table__.c  # type: ignore[attr-defined]
_ITEMS = ProgrammeItem.__table__.c  # type: ignore[attr-defined]
_EXERCISES = Exercise.__table__.c  # type: ignore[attr-defined]
_ALERTS = SafetyAlert.__table__.c  # type: ignore[attr-defined]
_LOGS = SessionLog.__table__.c  # type: ignore[attr-defined]
AUDIT_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]

# What a patient-app request needs of its caller's row, and of a programme of theirs.
_CALLER_COLUMNS = (_PATIENTS.clinic_id, _PATIENTS.session_generation, _PATIENTS.locale, _PATIENTS.timezone)
_PROGRAMME_COLUMNS = (
    _PROGRAMMES.id,
    _PROGRAMMES.clinic_id,
    _PROGRAMMES.revision,
    _PROGRAMMES.status,
    _PROGRAMMES.activated_at,
)


class Caller(NamedTuple):
    """_CALLER_COLUMNS of a patient's row."""

    clinic_id: uuid.UUID
    session_generation: int
    locale: str | None
    timezone: str | None


class MyProgramme(NamedTuple):
    """_PROGRAMME_COLUMNS of a patient's programme."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    revision: int
    status: str
    activated_at: datetime | None


assert Caller._fields == tuple(c.key for c in _CALLER_COLUMNS), "Caller names the caller columns"
assert MyProgramme._fields == tuple(c.key for c in _PROGRAMME_COLUMNS), "MyProgramme names the columns"

_PATIENT_CHECK = Query(sa_select(*_CALLER_COLUMNS).where(_PATIENTS.id == bindparam("id")))


def _patients_own(clinic_id: Any, patient_id: Any) -> tuple[ColumnElement[bool], ...]:
    """A patient's own programmes: their clinic, their id, never a draft (given as parameters or as the
    patient row's columns)."""
    return (
        _PROGRAMMES.clinic_id == clinic_id,
        _PROGRAMMES.patient_id == patient_id,
        _PROGRAMMES.status != "draft",
    )


PATIENT_SCOPE = _patients_own(bindparam("clinic_id"), bindparam("patient_id"))
_MINE = sa_select(*_PROGRAMME_COLUMNS).where(*PATIENT_SCOPE)
_MINE_CURRENT = Query(_MINE.where(_PROGRAMMES.status.in_(CURRENT_STATUSES)))


# The local days that can be today somewhere (UTC-12 to UTC+14): the UTC day before, of and after now.
_TODAY_SOMEWHERE = (-1, 0, 1)


def _days_today_somewhere() -> list[date]:
    today = utcnow().date()
    return [today + timedelta(days=offset) for offset in _TODAY_SOMEWHERE]


def _logged_on_column(day: str) -> ColumnElement[str | None]:
    """The item id of every session the caller logged for the programme on the local day `day` (a
    parameter), with repeats, as one comma-separated text (NULL for none): a column of the caller's
    statement, where a statement is a round trip."""
    return (
        sa_select(func.aggregate_strings(cast(_LOGS.item_id, String), ","))
        .where(
            _LOGS.clinic_id == _PROGRAMMES.clinic_id,
            _LOGS.patient_id == _PATIENTS.id,
            _LOGS.programme_id == _PROGRAMMES.id,
            _LOGS.local_date == bindparam(day),
        )
        .scalar_subquery()
    )


def _caller_with_programme(*which: ColumnElement[bool], days: int = 0) -> Query:
    """The caller's row and, in the same statement, one of their programmes (their own, by the patient's
    own clinic; NULLs when there is none) and the items logged for it on `days` local days (parameters
    day_0…): the caller check and the route's first reads in one statement, where a statement is a round
    trip (on PostgreSQL 100–250 µs of the app's CPU)."""
    theirs = and_(*_patients_own(_PATIENTS.clinic_id, _PATIENTS.id), *which)
    columns = [*_CALLER_COLUMNS, *(column.label(f"programme_{column.key}") for column in _PROGRAMME_COLUMNS)]
    columns += [_logged_on_column(f"day_{n}").label(f"logged_{n}") for n in range(days)]
    joined = Patient.__table__.outerjoin(Programme.__table__, theirs)  # type: ignore[attr-defined]
    return Query(sa_select(*columns).select_from(joined).where(_PATIENTS.id == bindparam("id")))


_CALLER_AND_PROGRAMME = _caller_with_programme(_PROGRAMMES.id == bindparam("programme_id"))
_CALLER_AND_CURRENT = _caller_with_programme(
    _PROGRAMMES.status.in_(CURRENT_STATUSES), days=len(_TODAY_SOMEWHERE)
)

_SNAPSHOT = Query(
    sa_select(_REVISIONS.snapshot).where(
        _REVISIONS.clinic_id == bindparam("clinic_id"),
        _REVISIONS.programme_id == bindparam("programme_id"),
        _REVISIONS.number == bindparam("number"),
    )
)

_HOLDING_ALERTS = Query(
    sa_select(_ALERTS.id, _ALERTS.tier, _ALERTS.created_at).where(
        _ALERTS.clinic_id == bindparam("clinic_id"),
        _ALERTS.patient_id == bindparam("patient_id"),
        _ALERTS.tier.in_(HOLDING_TIERS),
        _ALERTS.status != "resolved",
    )
)

# Counted by the caller rather than with GROUP BY item_id: that GROUP BY led SQLite's planner (without
# ANALYZE statistics) to the (clinic_id, item_id, performed_at) index, reading the whole clinic's logs.
_ITEMS_LOGGED_ON = Query(
    sa_select(_LOGS.item_id).where(
        _LOGS.clinic_id == bindparam("clinic_id"),
        _LOGS.patient_id == bindparam("patient_id"),
        _LOGS.programme_id == bindparam("programme_id"),
        _LOGS.local_date == bindparam("day"),
    )
)


class ProgrammeRow(NamedTuple):
    """What a session log's rules read of its programme (models.programme.ProgrammeFacts)."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    status: ProgrammeStatus
    auto_progress: AutoProgress
    current_phase: int
    revision: int
    phase_started_at: datetime | None
    activated_at: datetime | None
    safety_hold: dict[str, Any] | None


class ItemRow(NamedTuple):
    """What a session log's rules read of its item (models.programme.ItemFacts): the dose numbers among them
    are those a progression rule moves (ProgressionVariable)."""

    id: uuid.UUID
    programme_id: uuid.UUID
    phase_position: int
    exercise_id: uuid.UUID
    sets: int | None
    reps: int | None
    hold_s: int | None
    duration_s: int | None
    progression_rule: dict[str, Any] | None
    dose_revision: int
    removed_at: datetime | None
    suspension: dict[str, Any] | None


assert set(get_args(ProgressionVariable)) <= set(ItemRow._fields), "a rule's variable is read off the row"


class PreviousLog(NamedTuple):
    """The same item's log before a new one: what the new log's colour and a red streak compare with."""

    id: uuid.UUID
    colour: str
    leg_symptoms: str


class LogTarget(NamedTuple):
    """What a new session log is checked against and coloured by, as one row."""

    stored: bool  # a log with the new log's id is stored already (anyone's: the ids are global)
    programme: ProgrammeRow | None  # None: no programme of the patient's with that id
    item: ItemRow | None  # None: no item of it with that id
    category: str | None  # the item's exercise category
    previous: PreviousLog | None


# The patient's programme by id, one of its items and the item's exercise category (NULLs for what is not
# theirs), whether the log's id is stored already and the item's log before it: the checks and the colour
# of a session log in one statement, anchored on the patient's row (always there: the caller was checked in
# the same transaction), so that each answer is there whatever else is missing.
_ITEM_OF_PROGRAMME = and_(
    _ITEMS.clinic_id == _PROGRAMMES.clinic_id,
    _ITEMS.programme_id == _PROGRAMMES.id,
    _ITEMS.id == bindparam("item_id"),
)
_PREVIOUS = SessionLog.__table__.alias("previous")  # type: ignore[attr-defined]
_PREVIOUS_ID = (
    sa_select(_LOGS.id)
    .where(
        _LOGS.clinic_id == bindparam("clinic_id"),
        _LOGS.item_id == bindparam("item_id"),
        _LOGS.performed_at < bindparam("before"),
    )
    .order_by(_LOGS.performed_at.desc(), _LOGS.id.desc())
    .limit(1)
    .scalar_subquery()
)
_LOG_TARGET = Query(
    sa_select(
        sa_select(_LOGS.id).where(_LOGS.id == bindparam("log_id")).exists().label("stored"),
        *(_PROGRAMMES[name] for name in ProgrammeRow._fields),
        *(_ITEMS[name].label(f"item_{name}") for name in ItemRow._fields),
        _EXERCISES.category,
        *(_PREVIOUS.c[name].label(f"previous_{name}") for name in PreviousLog._fields),
    )
    .select_from(
        Patient.__table__.outerjoin(  # type: ignore[attr-defined]
            Programme.__table__,  # type: ignore[attr-defined]
            and_(
                *_patients_own(_PATIENTS.clinic_id, _PATIENTS.id), _PROGRAMMES.id == bindparam("programme_id")
            ),
        )
        .outerjoin(ProgrammeItem.__table__, _ITEM_OF_PROGRAMME)  # type: ignore[attr-defined]
        .outerjoin(Exercise.__table__, _EXERCISES.id == _ITEMS.exercise_id)  # type: ignore[attr-defined]
        .outerjoin(_PREVIOUS, _PREVIOUS.c.id == _PREVIOUS_ID)
    )
    .where(_PATIENTS.id == bindparam("patient_id"), _PATIENTS.clinic_id == bindparam("clinic_id"))
)

# An audit row stored in the request's own transaction (a writing route's).
INSERT_AUDIT = Insert(AUDIT_TABLE)


def patient_row(db: Db, patient_id: uuid.UUID) -> Caller | None:
    """The columns a patient-app request needs of its caller: clinic_id, session_generation, locale,
    timezone."""
    row = _PATIENT_CHECK.first(connection_of(db), {"id": patient_id})
    return None if row is None else Caller._make(row)


def log_target(
    db: Db,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    log_id: uuid.UUID,
    programme_id: uuid.UUID,
    item_id: uuid.UUID,
    before: datetime,
) -> LogTarget | None:
    """For a new log `log_id` of the patient's item `item_id` of programme `programme_id`, done at `before`:
    whether the id is stored already, the programme, the item, its exercise category and the item's log
    before it (None for each that is not there); None when the patient's row is gone."""
    params = {
        "clinic_id": clinic_id,
        "patient_id": patient_id,
        "log_id": log_id,
        "programme_id": programme_id,
        "item_id": item_id,
        "before": before,
    }
    row = _LOG_TARGET.first(connection_of(db), params)
    if row is None:
        return None
    item_at = 1 + len(ProgrammeRow._fields)
    category_at = item_at + len(ItemRow._fields)
    programme, item, previous = row[1:item_at], row[item_at:category_at], row[category_at + 1 :]
    return LogTarget(
        stored=bool(row[0]),
        programme=None if programme[0] is None else ProgrammeRow._make(programme),
        item=None if item[0] is None else ItemRow._make(item),
        category=row[category_at],
        previous=None if previous[0] is None else PreviousLog._make(previous),
    )


def caller_and_programme(
    db: Db, patient_id: uuid.UUID, programme_id: uuid.UUID | None
) -> tuple[Caller | None, MyProgramme | None, dict[date, list[uuid.UUID]]]:
    """The caller's row (as patient_row) and, in the same statement, their programme `programme_id` or, for
    None, their current one (as my_current_programme) with the items logged for it on each local day that
    can be today somewhere (as items_logged_on: the plan's day); None for what is not there. The programme
    is looked up in the patient's own clinic: the caller check then compares that clinic with the token's."""
    days = _days_today_somewhere() if programme_id is None else []
    if programme_id is None:
        params: dict[str, Any] = {"id": patient_id, **{f"day_{n}": day for n, day in enumerate(days)}}
        row = _CALLER_AND_CURRENT.first(connection_of(db), params)
    else:
        row = _CALLER_AND_PROGRAMME.first(connection_of(db), {"id": patient_id, "programme_id": programme_id})
    if row is None:
        return None, None, {}
    split = len(Caller._fields) + len(MyProgramme._fields)
    caller, programme = row[: len(Caller._fields)], row[len(Caller._fields) : split]
    if programme[0] is None:
        return Caller._make(caller), None, {}
    # One aggregated text per day (by-id reads have none): the item ids, comma-separated, or NULL.
    logged = {
        day: [uuid.UUID(i) for i in text.split(",")] if text else []
        for day, text in zip(days, row[split:], strict=True)
    }
    return Caller._make(caller), MyProgramme._make(programme), logged


def my_current_programme(db: Db, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> Record | None:
    """A patient's current (active or paused) programme, id, clinic_id, revision, status, activated_at."""
    return _MINE_CURRENT.first(connection_of(db), {"clinic_id": clinic_id, "patient_id": patient_id})


def revision_snapshot(db: Db, clinic_id: uuid.UUID, programme_id: uuid.UUID, number: int) -> dict[str, Any]:
    """The stored snapshot of one revision of a programme of this clinic (it exists: revisions are never
    deleted while their programme stands)."""
    params = {"clinic_id": clinic_id, "programme_id": programme_id, "number": number}
    (snapshot,) = _SNAPSHOT.scalars(connection_of(db), params)
    return snapshot  # type: ignore[no-any-return]


def holding_alerts(db: Db, clinic_id: uuid.UUID, patient_id: uuid.UUID) -> list[Record]:
    """The patient's unresolved emergency and urgent alerts: id, tier, created_at."""
    return _HOLDING_ALERTS.all(connection_of(db), {"clinic_id": clinic_id, "patient_id": patient_id})


def items_logged_on(
    db: Db, clinic_id: uuid.UUID, patient_id: uuid.UUID, programme_id: uuid.UUID, day: date
) -> list[uuid.UUID]:
    """The item id of every session the patient logged for the programme on a local day (with repeats)."""
    params = {"clinic_id": clinic_id, "patient_id": patient_id, "programme_id": programme_id, "day": day}
    return _ITEMS_LOGGED_ON.scalars(connection_of(db), params)


class InsertNew:
    """`INSERT … ON CONFLICT DO NOTHING RETURNING id` for a table, on the driver (an app.query `Insert`,
    in each dialect's form): stores a row unless one with the same key (its primary key, or
    `index_elements`' unique key) is there, and tells which. Both databases wait for a concurrent insert of
    the same key to commit or roll back, then skip; RETURNING says whether the row went in (rowcount is not
    reported for it by every driver)."""

    def __init__(self, table: Table, index_elements: list[Any] | None = None) -> None:
        def build(dialect: Dialect) -> Any:
            insert_for = postgresql_insert if dialect.name == "postgresql" else sqlite_insert
            statement = insert_for(table).on_conflict_do_nothing(index_elements=index_elements)
            return statement.returning(table.c.id)

        self._insert = Insert(table, build)

    def __call__(self, connection: Connection, values: dict[str, Any]) -> bool:
        """True if the row was stored, False if a row with its key was there."""
        return bool(self._insert.run(connection, [values]))
