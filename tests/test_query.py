"""app.query: the hot paths' statements run on the driver read and write exactly what SQLAlchemy would.

Every statement of app.store and the session log's own Queries are run both ways on the real database (the
Query on the driver, and the same Core statement through SQLAlchemy's own execution) and must give the
same values of the same types; the group commit's INSERT stores rows the ORM reads back unchanged;
InsertNew tells whether its row went in; the connection's cursor listeners see each statement; and a
driver error reaches the app as SQLAlchemy's error, a lost connection invalidated.
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, event, select
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlmodel import Session
from sqlmodel import select as orm_select

from app import store
from app.db import get_engine, read_engine
from app.models.audit import AuditEvent
from app.models.common import new_id
from app.models.patient import Patient
from app.models.safety import SafetyAlert
from app.models.session_log import SessionLog
from app.models.webhook import Delivery
from app.query import Insert, Query
from app.services import progression, reviews
from tests.logging_helpers import active_programme, item_ids, log_body


def fresh(statement):
    with Session(get_engine()) as session:
        return session.exec(statement).all()


def _both_ways(connection, query: Query, params: dict) -> tuple[list[tuple], list[tuple]]:
    driver = [tuple(row) for row in query.all(connection, params)]
    through_sqlalchemy = [tuple(row) for row in connection.execute(query.statement, params)]
    return driver, through_sqlalchemy


def _same(driver: list[tuple], through_sqlalchemy: list[tuple]) -> None:
    assert driver == through_sqlalchemy
    assert [[type(value) for value in row] for row in driver] == [
        [type(value) for value in row] for row in through_sqlalchemy
    ]


def test_every_store_statement_reads_what_sqlalchemy_reads(client, world, session):
    tenant = world.a
    now = datetime.now(UTC)
    since = now - timedelta(days=2)
    programme = active_programme(client, tenant, start_date=since.date().isoformat(), backdate=since)
    other = active_programme(client, world.b)
    logs = [
        log_body(programme, item_ids(programme)[0], (now - timedelta(hours=h)).isoformat()) for h in (1, 2)
    ]
    stored = client.post("/v1/me/sessions/batch", json={"logs": logs}, headers=tenant.headers["patient"])
    assert [result["status"] for result in stored.json()["results"]] == [201, 201], stored.text
    session.add(
        SafetyAlert(
            clinic_id=tenant.clinic.id,
            patient_id=tenant.patient.id,
            tier="urgent",
            status="open",
            source="symptom_check",
            reasons=["test"],
            evidence=[],
            created_at=now,
        )
    )
    session.commit()
    ids = {
        "id": tenant.patient.id,
        "clinic_id": tenant.clinic.id,
        "patient_id": tenant.patient.id,
        "programme_id": uuid.UUID(programme["id"]),
        "number": programme["revision"],
        "day": fresh(orm_select(SessionLog.local_date).where(SessionLog.patient_id == tenant.patient.id))[0],
        **{f"day_{n}": now.date() + timedelta(days=n - 1) for n in range(3)},
        "item_id": uuid.UUID(item_ids(programme)[0]),
        "before": now,
        "log_id": uuid.uuid4(),
        "dose_revision": 1,
        "n": 5,
        "position": 0,
        "next_position": 1,
        "no_change_key": "no-such-key",
        "no_progress_key": "no-such-key",
    }
    statements = {
        "patient check": store._PATIENT_CHECK,
        "caller and programme by id (outer join)": store._CALLER_AND_PROGRAMME,
        "caller and current programme": store._CALLER_AND_CURRENT,
        "current programme": store._MINE_CURRENT,
        "snapshot (JSON)": store._SNAPSHOT,
        "holding alerts (IN list)": store._HOLDING_ALERTS,
        "items logged on a day": store._ITEMS_LOGGED_ON,
        "a log's replay check, programme, item, category and log before (outer joins, subqueries)": (
            store._LOG_TARGET
        ),
        # The session log's own statements (their services build them next to their rules).
        "the item's logs at its dose (a LIMIT parameter)": progression._RECENT_AT_DOSE,
        "review sums (aggregates, scalar subqueries)": reviews._AT_DOSE,
        "a phase and the next": progression._PHASE_AND_NEXT,
    }
    for engine in (get_engine(), read_engine(get_engine())):
        with engine.connect() as connection:
            for name, query in statements.items():
                wanted = {key: ids[key] for key in query.statement.compile().binds if key in ids}
                driver, through_sqlalchemy = _both_ways(connection, query, wanted)
                assert driver, f"{name}: the test data gives it rows to compare"
                _same(driver, through_sqlalchemy)
    with read_engine(get_engine()).connect() as connection:
        _caller_and_programme_read_as_expected(connection, tenant, programme, uuid.UUID(other["id"]))


def _caller_and_programme_read_as_expected(connection, tenant, programme: dict, others_programme: uuid.UUID):
    caller, row, logged = store.caller_and_programme(
        connection, tenant.patient.id, uuid.UUID(programme["id"])
    )
    patient = tenant.patient
    assert caller == (tenant.clinic.id, patient.session_generation, patient.locale, patient.timezone)
    assert (row.id, row.revision, row.status) == (uuid.UUID(programme["id"]), programme["revision"], "active")
    assert row.activated_at.tzinfo is UTC and logged == {}
    # The current one, with the items logged on each day that can be today somewhere: as the plan's own
    # statement for a day reads them (the two logs of the last two hours are among them).
    current, current_row, logged = store.caller_and_programme(connection, tenant.patient.id, None)
    assert (current, current_row) == (caller, row)
    today = datetime.now(UTC).date()
    assert sorted(logged) == [today - timedelta(days=1), today, today + timedelta(days=1)]
    for day, items in logged.items():
        assert sorted(items) == sorted(
            store.items_logged_on(connection, caller.clinic_id, patient.id, row.id, day)
        )
    assert [item for items in logged.values() for item in items] == [uuid.UUID(item_ids(programme)[0])] * 2
    # Another patient's programme and an unknown patient: nothing of theirs.
    assert store.caller_and_programme(connection, tenant.patient.id, others_programme) == (caller, None, {})
    assert store.caller_and_programme(connection, uuid.uuid4(), row.id) == (None, None, {})


def test_a_null_parameter_and_a_missing_row_read_as_through_sqlalchemy(session):
    query = Query(select(Patient.__table__.c.id).where(Patient.__table__.c.id == bindparam("id")))
    connection = session.connection()
    for value in (None, uuid.uuid4()):
        driver, through_sqlalchemy = _both_ways(connection, query, {"id": value})
        assert driver == through_sqlalchemy == []


def test_the_group_commit_insert_stores_what_the_orm_reads_back(world):
    marker = f"test-query-{uuid.uuid4().hex[:12]}"
    when = datetime(2026, 12, 3, 8, 30, 15, 123456, tzinfo=UTC)
    rows = [
        {
            "id": new_id(),
            "clinic_id": world.a.clinic.id,
            "actor_kind": "patient",
            "actor_id": world.a.patient.id,
            "action": "programme.read",
            "resource_type": "programme",
            "resource_id": None if n else uuid.uuid4(),
            "patient_id": world.a.patient.id,
            "request_id": marker,
            "detail": "ünïcode, 'quoted'" if n else None,
            "occurred_at": when + timedelta(seconds=n),
        }
        for n in range(3)
    ]
    with get_engine().begin() as connection:
        Insert(store.AUDIT_TABLE).run(connection, rows)
    stored = fresh(
        orm_select(AuditEvent).where(AuditEvent.request_id == marker).order_by(AuditEvent.occurred_at)
    )
    assert [event.model_dump() for event in stored] == [
        {key: row[key] for key in AuditEvent.model_fields} for row in rows
    ]


def test_the_connections_cursor_listeners_see_every_driver_statement(world):
    seen: list[tuple[str, bool]] = []

    def listener(_connection, _cursor, statement, _parameters, _context, executemany) -> None:
        seen.append((statement.split()[0], executemany))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with engine.begin() as connection:
            store._PATIENT_CHECK.first(connection, {"id": world.a.patient.id})
            row = {
                "id": new_id(),
                "clinic_id": world.a.clinic.id,
                "actor_kind": "patient",
                "action": "test.listener",
                "resource_type": "patient",
                "occurred_at": datetime.now(UTC),
            }
            Insert(store.AUDIT_TABLE).run(connection, [row, {**row, "id": new_id()}])
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert ("SELECT", False) in seen and ("INSERT", True) in seen


def test_a_driver_error_is_raised_as_sqlalchemys_error():
    """What the app's error handlers know: a database error is SQLAlchemy's (here a table that is not
    there: SQLite's OperationalError, PostgreSQL's ProgrammingError), the driver's error kept as orig."""
    probe = Query(select(_probe_table().c.n).where(_probe_table().c.n == bindparam("n")))
    with get_engine().connect() as connection, pytest.raises(DBAPIError) as raised:
        probe.all(connection, {"n": 1})
    assert isinstance(raised.value, OperationalError | ProgrammingError), type(raised.value)
    assert "hep_query_probe" in str(raised.value.orig)
    assert not raised.value.connection_invalidated


def _probe_table():
    from sqlalchemy import Column, Integer, MetaData, Table

    return Table("hep_query_probe", MetaData(), Column("n", Integer))


def test_statements_it_cannot_run_faithfully_are_refused_and_inserts_need_a_transaction(world):
    table = Patient.__table__
    given_list = Query(select(table.c.id).where(table.c.id.in_(bindparam("ids", expanding=True))))
    with get_engine().connect() as connection:
        with pytest.raises(ValueError, match="cannot run"):
            given_list.all(connection, {"ids": [world.a.patient.id]})
        row = {"id": new_id(), "clinic_id": world.a.clinic.id, "actor_kind": "patient", "action": "t"}
        with pytest.raises(RuntimeError, match="transaction"):
            Insert(store.AUDIT_TABLE).run(connection, [row])
    # A column with a Python-side default left out: SQLAlchemy would compute it, the driver would store NULL.
    deliveries = Delivery.__table__
    partial = {"id": new_id(), "clinic_id": world.a.clinic.id, "event_id": new_id(), "endpoint_id": new_id()}
    with get_engine().begin() as connection, pytest.raises(ValueError, match="give .*status"):
        Insert(deliveries).run(connection, [partial])


def test_insert_new_tells_whether_its_row_went_in_and_returns_one_row_at_a_time(world):
    """store.InsertNew: INSERT … ON CONFLICT DO NOTHING RETURNING, each dialect's form, on the driver."""
    insert_new = store.InsertNew(store.AUDIT_TABLE)
    row = {
        "id": new_id(),
        "clinic_id": world.a.clinic.id,
        "actor_kind": "patient",
        "action": "test.insert_new",
        "resource_type": "programme",
        "occurred_at": datetime.now(UTC),
    }
    with get_engine().begin() as connection:
        assert insert_new(connection, row) is True
        assert insert_new(connection, {**row, "action": "test.changed"}) is False
        with pytest.raises(ValueError, match="one row at a time"):
            insert_new._insert.run(connection, [{**row, "id": new_id()}, {**row, "id": new_id()}])
    assert [event.action for event in fresh(orm_select(AuditEvent).where(AuditEvent.id == row["id"]))] == [
        "test.insert_new"
    ]


@pytest.mark.skipif("get_engine().dialect.name != 'postgresql'", reason="a server to lose: PostgreSQL")
def test_a_lost_connection_is_invalidated_with_the_pools_older_ones(world):
    """As SQLAlchemy does for its own statements: the read engine has no pre-ping, so after a server
    restart the first failed read must also retire the other connections that were open before it."""
    reads = read_engine(get_engine())
    first, second = reads.connect(), reads.connect()
    backends = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in (first, second)]
    with get_engine().connect() as other:
        for backend in backends:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)})")
    with pytest.raises(OperationalError) as raised:
        store._PATIENT_CHECK.first(first, {"id": world.a.patient.id})
    assert raised.value.connection_invalidated and first.invalidated
    first.close()
    second.close()  # back to the pool, dead, but older than the failure
    for _ in range(2):  # both pooled places now give live connections
        with reads.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() not in backends
            assert store._PATIENT_CHECK.first(connection, {"id": world.a.patient.id}) is not None
