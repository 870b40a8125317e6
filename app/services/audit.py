"""Audit trail of every read and write of patient data (who, what, which record, which request)."""

import uuid

from sqlalchemy import insert
from sqlmodel import Session, select

from app.context import request_id_var
from app.db import utcnow
from app.models.audit import AuditEvent
from app.models.common import Actor, Page, new_id
from app.services.pagination import PageParams, paginate

_INSERT = insert(AuditEvent.__table__)  # type: ignore[attr-defined]


def record(
    session: Session,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    detail: str | None = None,
) -> None:
    # A plain INSERT on the request's transaction rather than an ORM object to flush: every patient
    # request writes one of these, and the unit of work costs several times the statement.
    session.connection().execute(
        _INSERT,
        {
            "id": new_id(),
            "clinic_id": actor.clinic_id,
            "actor_kind": actor.kind,
            "actor_id": actor.id,
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "patient_id": patient_id,
            "request_id": request_id_var.get(),
            "detail": detail,
            "occurred_at": utcnow(),
        },
    )


def list_events(
    session: Session, actor: Actor, params: PageParams, patient_id: uuid.UUID | None = None
) -> Page[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.clinic_id == actor.clinic_id)
    if patient_id is not None:
        statement = statement.where(AuditEvent.patient_id == patient_id)
    page = paginate(session, statement, AuditEvent.id, params)
    # Reading the trail is itself recorded (after the read, so a page never lists its own row).
    record(session, actor, "audit_event.list", "audit_event", patient_id=patient_id)
    return page
