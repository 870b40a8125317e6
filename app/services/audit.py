"""Audit trail of every read and write of patient data (who, what, which record, which request)."""

import uuid

from sqlmodel import Session, select

from app import store
from app.context import request_id_var
from app.db import READ_ONLY, Db, connection_of, utcnow
from app.models.audit import AuditEvent
from app.models.common import Actor, Page, new_id
from app.services.pagination import PageParams, paginate
from app.unit_of_work import current_unit


def record(
    db: Db,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    detail: str | None = None,
) -> None:
    """One audit row, stored with the request: in its transaction (a plain INSERT rather than an ORM object
    to flush: the unit of work costs several times the statement), or, for a read route on a read-only
    connection, by the group commit before the answer (app.group_commit states the guarantee)."""
    connection = connection_of(db)
    row = {
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
    }
    if connection.info.get(READ_ONLY):
        current_unit().store_later(store.AUDIT_TABLE, row)
    else:
        store.INSERT_AUDIT.run(connection, [row])


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
