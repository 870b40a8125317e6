"""Concurrent writers on the same database: every request succeeds, nothing is lost."""

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import Session, func, select

from app.db import get_engine
from app.models.audit import AuditEvent
from app.models.common import Actor
from app.models.patient import Patient, PatientUpsert
from app.services import patients


def test_concurrent_read_then_write_transactions_all_succeed(world):
    actor = Actor(kind="api_key", id=uuid.uuid4(), clinic_id=world.a.clinic.id)
    prefix = uuid.uuid4().hex[:8]

    def work(i: int) -> None:
        with Session(get_engine(), expire_on_commit=False) as session:
            patient = patients.get_patient(session, actor, world.a.patient.id)
            patients.read_patient(session, actor, patient)  # read, then an audit write
            patients.upsert_by_external_id(
                session, actor, f"{prefix}-{i % 5}", PatientUpsert(display_name=f"n{i}")
            )
            session.commit()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(40)))

    with Session(get_engine()) as session:
        created = session.exec(
            select(func.count()).where(
                Patient.clinic_id == world.a.clinic.id, Patient.external_id.like(f"{prefix}-%")
            )
        ).one()
        reads = session.exec(
            select(func.count()).where(AuditEvent.actor_id == actor.id, AuditEvent.action == "patient.read")
        ).one()
    assert created == 5  # concurrent upserts of one external id never duplicate it
    assert reads == 40
