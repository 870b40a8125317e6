"""Progression suggestions: a change the engine proposes (or applied) from the patient's own logs."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import JSON, CheckConstraint, Index, String, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.common import INPUT, clinic_fk, id_field, utc_field

SuggestionKind = Literal["dose", "exercise", "phase"]
Direction = Literal["progress", "regress"]
# superseded: a later revision (an edit of its item or phase, a phase advance, a pause, the end of the
# programme) made it moot before anyone decided on it.
SuggestionStatus = Literal["pending", "accepted", "rejected", "applied", "superseded"]


class ProgressionSuggestion(SQLModel, table=True):
    __tablename__ = "progression_suggestion"
    __table_args__ = (
        CheckConstraint("kind IN ('dose', 'exercise', 'phase')", name="kind_values"),
        CheckConstraint("direction IN ('progress', 'regress')", name="direction_values"),
        CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'applied', 'superseded')", name="status_values"
        ),
        Index("ix_progression_suggestion_clinic_id_programme_id_id", "clinic_id", "programme_id", "id"),
        Index("ix_progression_suggestion_clinic_id_evidence_key", "clinic_id", "evidence_key"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    programme_id: uuid.UUID = SQLField(foreign_key="programme.id", ondelete="CASCADE")
    patient_id: uuid.UUID = SQLField(foreign_key="patient.id", ondelete="CASCADE")
    item_id: uuid.UUID | None = SQLField(default=None, foreign_key="programme_item.id", ondelete="CASCADE")
    kind: SuggestionKind = SQLField(sa_type=String(8))
    direction: Direction = SQLField(sa_type=String(8))
    # What changes: {"variable", "from", "to"}, {"exercise_from", "exercise_to", "dose"} or
    # {"phase_from", "phase_to"}.
    change: dict[str, Any] = SQLField(sa_type=JSON)
    evidence: list[str] = SQLField(sa_type=JSON)
    # One proposal per rule and evidence: logs judged once (rejected, or superseded by a revision) are not
    # the evidence of the same proposal again.
    evidence_key: str = SQLField(max_length=64)
    status: SuggestionStatus = SQLField(default="pending", sa_type=String(10))
    based_on_revision: int
    applied_revision: int | None = None
    decided_by: uuid.UUID | None = None
    decided_at: datetime | None = utc_field(nullable=True)
    rejection_reason: str | None = SQLField(default=None, sa_type=Text)
    created_at: datetime = utc_field(default_now=True)


class SuggestionPublic(BaseModel):
    id: uuid.UUID
    programme_id: uuid.UUID
    patient_id: uuid.UUID
    item_id: uuid.UUID | None
    kind: SuggestionKind
    direction: Direction
    change: dict[str, Any]
    evidence: list[str] = Field(description="Ids of the session logs that met the rule")
    status: SuggestionStatus
    based_on_revision: int
    applied_revision: int | None
    decided_by: uuid.UUID | None
    decided_at: datetime | None
    rejection_reason: str | None
    created_at: datetime


class RejectRequest(BaseModel):
    model_config = INPUT

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
