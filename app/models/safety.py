"""Symptom check-ins (red-flag answers), the alerts clinicians work through, and what a patient is told.

The patient-facing text itself is in app.models.safety_text; the rules that choose it in
app.services.safety (docs/clinical-rules.md states them as a table).
"""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, create_model
from sqlalchemy import JSON, CheckConstraint, Index, String, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.common import INPUT, Page, clinic_fk, id_field, utc_field
from app.models.safety_text import RED_FLAG_QUESTIONS

Tier = Literal["emergency", "urgent", "routine"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
AlertSource = Literal["symptom_check", "session_log", "next_morning", "review"]
# Tiers that put the patient's programmes on a safety hold until a clinician resolves the alert.
HOLDING_TIERS: tuple[Tier, ...] = ("emergency", "urgent")
TIER_ORDER: tuple[Tier, ...] = ("emergency", "urgent", "routine")

# Every red-flag question as an optional yes/no: true = yes, false = no, left out or null = not asked yet.
# An unanswered question is "not assessed", never a "no" (the all-clear needs every answer).
RedFlagAnswers = create_model(  # type: ignore[call-overload]
    "RedFlagAnswers",
    __config__=INPUT,
    __doc__="Answers to the red-flag questions (GET /v1/me/red-flag-questions words them for the patient).",
    **{
        key: (bool | None, Field(default=None, description=texts["en"]))
        for key, texts in RED_FLAG_QUESTIONS.items()
    },
)


class SymptomCheckCreate(BaseModel):
    model_config = INPUT

    answers: RedFlagAnswers


class RedFlagQuestion(BaseModel):
    key: str = Field(description="The answer's field name in POST /v1/me/symptom-checks")
    text: str = Field(description="The question, worded for the patient, in their language")


class SymptomCheck(SQLModel, table=True):
    __tablename__ = "symptom_check"
    __table_args__ = (
        CheckConstraint("tier IS NULL OR tier IN ('emergency', 'urgent', 'routine')", name="tier_values"),
        Index("ix_symptom_check_clinic_id_patient_id_id", "clinic_id", "patient_id", "id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = SQLField(foreign_key="patient.id", ondelete="CASCADE")
    answers: dict[str, bool | None] = SQLField(sa_type=JSON)
    tier: Tier | None = SQLField(default=None, sa_type=String(12))
    reasons: list[str] = SQLField(sa_type=JSON)
    created_at: datetime = utc_field(default_now=True)


class SymptomCheckResult(BaseModel):
    id: uuid.UUID | None = Field(description="The stored check-in; null if it could not be stored")
    tier: Tier | None = Field(description="null: no red flag reported (see complete)")
    reasons: list[str]
    complete: bool = Field(description="Every question was answered")
    not_assessed: list[str] = Field(
        description="Questions left unanswered: the app should ask them. The all-clear is given only when "
        "this is empty and every answer was no"
    )
    instruction: list[str] = Field(
        description="What to do now, in the patient's language, one short line per bullet"
    )
    programme_paused: bool
    alert_raised: bool
    recorded: bool = Field(
        description="False if storing the check-in or alerting the clinic failed: the instruction then "
        "says to call the clinic, and the app should show it and retry"
    )


class SafetyNotice(BaseModel):
    """What a patient is told after logging a session that needs action (a red response)."""

    tier: Tier
    reasons: list[str]
    instruction: list[str] = Field(description="Short lines in the patient's language")
    programme_paused: bool
    item_suspended: bool


class SafetyAlert(SQLModel, table=True):
    __tablename__ = "safety_alert"
    __table_args__ = (
        CheckConstraint("tier IN ('emergency', 'urgent', 'routine')", name="tier_values"),
        CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status_values"),
        CheckConstraint(
            "source IN ('symptom_check', 'session_log', 'next_morning', 'review')", name="source_values"
        ),
        # A review prompt is raised once per rule and subject, never one a day.
        Index("uq_safety_alert_clinic_id_review_key", "clinic_id", "review_key", unique=True),
        Index("ix_safety_alert_clinic_id_status_id", "clinic_id", "status", "id"),
        Index("ix_safety_alert_clinic_id_patient_id_id", "clinic_id", "patient_id", "id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = SQLField(foreign_key="patient.id", ondelete="CASCADE")
    programme_id: uuid.UUID | None = SQLField(default=None, foreign_key="programme.id", ondelete="SET NULL")
    item_id: uuid.UUID | None = SQLField(default=None, foreign_key="programme_item.id", ondelete="SET NULL")
    tier: Tier = SQLField(sa_type=String(12))
    source: AlertSource = SQLField(sa_type=String(16))
    reasons: list[str] = SQLField(sa_type=JSON)
    # Ids of the session logs or the symptom check that justify the alert.
    evidence: list[str] = SQLField(sa_type=JSON)
    status: AlertStatus = SQLField(default="open", sa_type=String(16))
    acknowledged_by: uuid.UUID | None = None
    acknowledged_at: datetime | None = utc_field(nullable=True)
    resolved_by: uuid.UUID | None = None
    resolved_at: datetime | None = utc_field(nullable=True)
    resolution_note: str | None = SQLField(default=None, sa_type=Text)
    # Set on review prompts (e.g. "no_change_48h:<item>:<dose revision>"): one alert per key.
    review_key: str | None = SQLField(default=None, max_length=200)
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class SafetyAlertPublic(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    programme_id: uuid.UUID | None
    item_id: uuid.UUID | None
    tier: Tier
    source: AlertSource
    reasons: list[str]
    evidence: list[str]
    status: AlertStatus
    acknowledged_by: uuid.UUID | None
    acknowledged_at: datetime | None
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None
    resolution_note: str | None
    created_at: datetime
    updated_at: datetime


class AlertResolveRequest(BaseModel):
    model_config = INPUT

    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="What the clinician found and decided (kept on the alert and in the audit trail)"
    )


class AlertPage(Page[SafetyAlertPublic]):
    """A page of the queue, most serious first, with how many alerts of each tier match the filters."""

    counts: dict[Tier, int] = Field(
        description="Alerts per tier matching status and patient_id (the tier filter aside)"
    )
