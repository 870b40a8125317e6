import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlmodel import Field, SQLModel

from app.models.common import ActorKind, clinic_fk, id_field, utc_field


class AuditEventBase(SQLModel):
    actor_kind: ActorKind = Field(sa_type=String(8))
    actor_id: uuid.UUID | None = None
    action: str = Field(max_length=64)
    resource_type: str = Field(max_length=32)
    resource_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    request_id: str | None = Field(default=None, max_length=64)
    # What a clinician wrote when the action needs a reason (e.g. resolving a safety alert).
    detail: str | None = Field(default=None, sa_type=Text)
    occurred_at: datetime = utc_field(default_now=True)


class AuditEvent(AuditEventBase, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_clinic_id_id", "clinic_id", "id"),
        Index("ix_audit_event_clinic_id_patient_id_id", "clinic_id", "patient_id", "id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()


class AuditEventPublic(AuditEventBase):
    id: uuid.UUID
