"""Bad rows cannot enter from any path: the schema itself refuses what the API refuses.

Each case copies a valid row with plain SQL (an INSERT … SELECT, bypassing the services and their
models), changing one column to a value the API would refuse, and expects the database to raise
IntegrityError. The same copy without the bad value goes in, so each failure is the constraint's doing.
Runs on SQLite and on PostgreSQL.
"""

import uuid

import pytest
from sqlalchemy import Table, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from app.db import get_engine, metadata
from tests.factories import (
    make_alert,
    make_exercise,
    make_programme,
    make_test_delivery,
    make_webhook_endpoint,
)
from tests.logging_helpers import active_programme, item_ids, log_body, now_iso

MISSING = uuid.UUID(int=1)  # no row anywhere has this id

# table -> columns a copy must change to stay unique
FRESH = {
    "clinic": lambda: {"slug": f"copy-{uuid.uuid4().hex[:12]}"},
    "staff_user": lambda: {"email": f"copy-{uuid.uuid4().hex[:12]}@example.org"},
    "patient": lambda: {"external_id": None},
    "exercise": lambda: {"slug": f"copy-{uuid.uuid4().hex[:12]}"},
    "programme_phase": lambda: {"position": 90 + uuid.uuid4().int % 9},
    "programme_revision": lambda: {"number": 900 + uuid.uuid4().int % 99},
    "refresh_token": lambda: {"token_hash": uuid.uuid4().hex},
}

# (table, {column: value the API refuses}) — every rule the API enforces that the schema can hold.
CASES = [
    # The patient's session log: NPRS 0–10, effort CR10 0–10, the dose done, the answers' vocabularies.
    ("session_log", {"pain_during": 11}),
    ("session_log", {"pain_during": -1}),
    ("session_log", {"pain_after": 11}),
    ("session_log", {"effort": 11}),
    ("session_log", {"sets_done": 21}),
    ("session_log", {"hold_s": 3601}),
    ("session_log", {"duration_s": 21601}),
    ("session_log", {"utc_offset_minutes": 1441}),
    ("session_log", {"revision": 0}),
    ("session_log", {"leg_symptoms": "knee"}),
    ("session_log", {"response": "awful"}),
    ("session_log", {"colour": "blue"}),
    ("session_log", {"item_id": MISSING}),
    ("session_log", {"programme_id": MISSING}),
    ("session_log", {"patient_id": MISSING}),
    ("session_log", {"clinic_id": MISSING}),
    # A prescription line's dose bounds.
    ("programme_item", {"sets": 0}),
    ("programme_item", {"sets": 11}),
    ("programme_item", {"reps": 0}),
    ("programme_item", {"reps": 101}),
    ("programme_item", {"reps_max": 1}),  # below reps
    ("programme_item", {"hold_s": 601}),
    ("programme_item", {"rest_s": 601}),
    ("programme_item", {"duration_s": 7201}),
    ("programme_item", {"times_per_day": 0}),
    ("programme_item", {"times_per_day": 13}),
    ("programme_item", {"days_mask": 0}),
    ("programme_item", {"days_mask": 128}),
    ("programme_item", {"side": "up"}),
    ("programme_item", {"reps": None, "reps_max": None, "hold_s": None, "duration_s": None}),
    ("programme_item", {"exercise_id": MISSING}),
    ("programme_item", {"programme_id": MISSING}),
    # A phase's advance criteria.
    ("programme_phase", {"max_pain": 11}),
    ("programme_phase", {"min_adherence_pct": 101}),
    ("programme_phase", {"min_days": 366}),
    ("programme_phase", {"min_sessions": 1001}),
    ("programme_phase", {"green_streak": 51}),
    ("programme_phase", {"position": -1}),
    # The programme's lifecycle.
    ("programme", {"status": "archived"}),
    ("programme", {"auto_progress": "always"}),
    ("programme", {"revision": 0}),
    ("programme", {"current_phase": -1}),
    ("programme", {"patient_id": MISSING}),
    ("programme_revision", {"reason": "whim"}),
    ("programme_revision", {"programme_id": MISSING}),
    # Patients, staff, clinics.
    ("patient", {"birth_year": 1899}),
    ("patient", {"directional_preference": "sideways"}),
    ("patient", {"startback_risk": "extreme"}),
    ("patient", {"clinic_id": MISSING}),
    ("staff_user", {"role": "root"}),
    ("staff_user", {"clinic_id": MISSING}),
    ("clinic", {"adherence_low_threshold": 101}),
    ("clinic", {"auto_progress_default": "always"}),
    # Safety and outcomes.
    ("safety_alert", {"tier": "mild"}),
    ("safety_alert", {"status": "ignored"}),
    ("safety_alert", {"source": "rumour"}),
    ("safety_alert", {"item_id": MISSING}),
    ("safety_alert", {"patient_id": MISSING}),
    ("symptom_check", {"tier": "mild"}),
    ("outcome_response", {"instrument": "vas"}),
    ("outcome_response", {"patient_id": MISSING}),
    # The catalogue, webhooks and tokens.
    ("exercise", {"step": 51}),
    ("exercise", {"category": "magic"}),
    ("exercise", {"position": "upside_down"}),
    ("exercise", {"body_region": "neck"}),
    ("webhook_endpoint", {"disabled_reason": "bored"}),
    ("delivery", {"status": "lost"}),
    ("delivery", {"endpoint_id": MISSING}),
    ("refresh_token", {"subject_kind": "robot"}),
    ("refresh_token", {"user_id": None, "patient_id": None}),
]


@pytest.fixture(scope="module")
def rows(app):
    """One valid row of each table above, made through the API and the services."""
    from fastapi.testclient import TestClient

    from tests.factories import make_world

    with Session(get_engine(), expire_on_commit=False) as session, TestClient(app) as client:
        world = make_world(session)
        tenant = world.a
        programme = active_programme(client, tenant)
        logged = client.post(
            "/v1/me/sessions",
            json=log_body(programme, item_ids(programme)[0], now_iso()),
            headers=tenant.headers["patient"],
        )
        assert logged.status_code == 201, logged.text
        checked = client.post(
            "/v1/me/symptom-checks", json={"answers": {"night_pain": True}}, headers=tenant.headers["patient"]
        )
        assert checked.status_code == 201, checked.text
        outcome = client.post(
            "/v1/me/outcomes",
            json={"instrument": "nprs", "answers": {"back": 4}},
            headers=tenant.headers["patient"],
        )
        assert outcome.status_code == 201, outcome.text
        signed_in = client.post(
            "/v1/auth/token", data={"username": tenant.physio.email, "password": "correct horse battery"}
        )
        assert signed_in.status_code == 200, signed_in.text
        exercise = make_exercise(session, tenant.clinic)
        draft = make_programme(session, tenant.patient)
        make_alert(session, tenant.patient)
        make_test_delivery(session, make_webhook_endpoint(session, tenant.clinic))
        session.commit()
    return {"clinic_id": tenant.clinic.id, "draft_id": draft.id, "exercise_id": exercise.id}


def _source(session: Session, table: Table, rows: dict):
    """A valid row of `table` to copy (for programmes, the draft: a copy of the active one would be a
    second current programme, which a unique index refuses)."""
    if table.name == "programme":
        condition = table.c.id == rows["draft_id"]
    elif table.name == "clinic":
        condition = table.c.id == rows["clinic_id"]
    elif table.name == "exercise":
        condition = table.c.id == rows["exercise_id"]
    elif table.name == "programme_item":
        condition = (table.c.clinic_id == rows["clinic_id"]) & (table.c.reps.is_not(None))
    else:
        condition = table.c.clinic_id == rows["clinic_id"]
    source = session.execute(select(table).where(condition).limit(1)).first()
    assert source is not None, f"no {table.name} row to copy"
    return source


def _copy(session: Session, table: Table, source, changes: dict) -> None:
    """INSERT INTO table SELECT … FROM table WHERE <the source row>, with some columns changed."""
    values = {"id": uuid.uuid4()} if "id" in table.c else {}
    values |= FRESH.get(table.name, dict)() | changes
    columns = list(table.c)
    selected = [
        literal(values[column.name], type_=column.type) if column.name in values else column
        for column in columns
    ]
    key = [column == source._mapping[column.name] for column in table.primary_key.columns]
    session.execute(insert(table).from_select([c.name for c in columns], select(*selected).where(*key)))


@pytest.mark.parametrize(
    ("table_name", "changes"),
    CASES,
    ids=[f"{table}-{'-'.join(f'{k}={v}' for k, v in changes.items())}" for table, changes in CASES],
)
def test_the_schema_refuses_what_the_api_refuses(rows, table_name, changes):
    table = metadata.tables[table_name]
    with Session(get_engine()) as session:
        source = _source(session, table, rows)
        clean = session.begin_nested()  # the same copy without the bad value is a valid row
        _copy(session, table, source, {})
        clean.rollback()
        with pytest.raises(IntegrityError):
            _copy(session, table, source, changes)
        session.rollback()
