"""Session logs: one row per exercise session the patient did, with their symptom response.

The id is chosen by the app (a UUID), so a log sent twice, whether retried or replayed from an offline
queue, is stored once.
"""

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, field_validator
from sqlalchemy import JSON, CheckConstraint, Index, String, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.common import INPUT, IsoDateTime, IsoUUID, clinic_fk, in_calendar, utc_field
from app.models.programme_view import ExerciseView, HoldNotice
from app.models.safety import SafetyNotice

LegSymptoms = Literal["none", "buttock", "thigh", "below_knee", "foot"]
# How far down the leg symptoms reach: a larger rank is further from the spine.
LEG_RANK: dict[str, int] = {"none": 0, "buttock": 1, "thigh": 2, "below_knee": 3, "foot": 4}
Response = Literal["better", "same", "worse"]
LegSide = Literal["left", "right", "both"]
Colour = Literal["green", "yellow", "red"]
Score10 = Annotated[int, Field(ge=0, le=10)]
MAX_BATCH = 500


class SessionLogCreate(BaseModel):
    """What the app sends after a session."""

    model_config = INPUT

    id: IsoUUID = Field(description="Chosen by the app; sending the same log again is safe")
    programme_id: IsoUUID
    item_id: IsoUUID
    revision: int = Field(ge=1, description="The programme revision the patient was following")
    performed_at: IsoDateTime = Field(description="When the session was done, with its UTC offset")
    sets_done: int = Field(ge=0, le=20)
    reps_done: list[Annotated[int, Field(ge=0, le=500)]] = Field(
        default_factory=list, max_length=20, description="Reps done in each set"
    )
    hold_s: int | None = Field(default=None, ge=0, le=3600)
    duration_s: int | None = Field(default=None, ge=0, le=6 * 3600)
    pain_during: Score10 = Field(description="Worst pain during the session, anywhere, NPRS 0–10")
    pain_after: Score10 | None = Field(default=None, description="Pain after the session, NPRS 0–10")
    back_pain: Score10 | None = Field(default=None, description="Worst back pain during the session, 0–10")
    leg_pain: Score10 | None = Field(
        default=None, description="Worst leg pain during the session, 0–10 (nerve glides: above 3 is red)"
    )
    leg_symptoms_before: LegSymptoms | None = Field(
        default=None, description="How far down the leg symptoms reached just before the session"
    )
    leg_symptoms: LegSymptoms = Field(
        description="How far down the leg symptoms reach after the session (further than before: red)"
    )
    leg_side: LegSide | None = Field(default=None, description="Which leg the symptoms are in")
    response: Response = Field(description="Symptoms compared with before the session")
    new_numbness_or_weakness: bool = False
    effort: Score10 | None = Field(default=None, description="Borg CR10 effort")
    note: Annotated[str, StringConstraints(max_length=1000)] | None = None

    @field_validator("performed_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must include a UTC offset")
        return in_calendar(value)

    @field_validator("reps_done")
    @classmethod
    def _one_entry_per_set(cls, value: list[int], info: ValidationInfo) -> list[int]:
        sets = info.data.get("sets_done")
        if value and sets is not None and len(value) != sets:
            raise ValueError("give one reps entry per set done (or none)")
        return value


# Fields added after logs were first stored: left out of a log's body hash when not sent, so a log stored
# before they existed still matches its own retry.
LATER_FIELDS = ("back_pain", "leg_pain", "leg_symptoms_before", "leg_side")


class SessionBatchCreate(BaseModel):
    model_config = INPUT

    logs: list[SessionLogCreate] = Field(min_length=1, max_length=MAX_BATCH)


class SessionLog(SQLModel, table=True):
    __tablename__ = "session_log"
    __table_args__ = (
        CheckConstraint("pain_during BETWEEN 0 AND 10", name="pain_during_range"),
        CheckConstraint("pain_after IS NULL OR pain_after BETWEEN 0 AND 10", name="pain_after_range"),
        CheckConstraint("effort IS NULL OR effort BETWEEN 0 AND 10", name="effort_range"),
        CheckConstraint("sets_done BETWEEN 0 AND 20", name="sets_done_range"),
        CheckConstraint("hold_s IS NULL OR hold_s BETWEEN 0 AND 3600", name="hold_s_range"),
        CheckConstraint("duration_s IS NULL OR duration_s BETWEEN 0 AND 21600", name="duration_s_range"),
        CheckConstraint("utc_offset_minutes BETWEEN -1440 AND 1440", name="utc_offset_range"),
        CheckConstraint("revision >= 1", name="revision_positive"),
        CheckConstraint(
            "leg_symptoms IN ('none', 'buttock', 'thigh', 'below_knee', 'foot')", name="leg_symptoms_values"
        ),
        CheckConstraint(
            "leg_symptoms_before IS NULL OR leg_symptoms_before IN "
            "('none', 'buttock', 'thigh', 'below_knee', 'foot')",
            name="leg_symptoms_before_values",
        ),
        CheckConstraint("leg_side IS NULL OR leg_side IN ('left', 'right', 'both')", name="leg_side_values"),
        CheckConstraint("back_pain IS NULL OR back_pain BETWEEN 0 AND 10", name="back_pain_range"),
        CheckConstraint("leg_pain IS NULL OR leg_pain BETWEEN 0 AND 10", name="leg_pain_range"),
        CheckConstraint("response IN ('better', 'same', 'worse')", name="response_values"),
        CheckConstraint("colour IN ('green', 'yellow', 'red')", name="colour_values"),
        # Adherence and the plan count logs per item per local day.
        Index("ix_session_log_clinic_id_patient_id_local_date", "clinic_id", "patient_id", "local_date"),
        Index("ix_session_log_clinic_id_item_id_performed_at", "clinic_id", "item_id", "performed_at"),
    )

    id: uuid.UUID = SQLField(primary_key=True)
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = SQLField(foreign_key="patient.id", ondelete="CASCADE")
    programme_id: uuid.UUID = SQLField(foreign_key="programme.id", ondelete="CASCADE")
    item_id: uuid.UUID = SQLField(foreign_key="programme_item.id", ondelete="CASCADE")
    revision: int
    performed_at: datetime = utc_field()
    utc_offset_minutes: int
    # The patient's calendar day (in their timezone) when the session was done.
    local_date: date
    sets_done: int
    reps_done: list[int] = SQLField(sa_type=JSON)
    hold_s: int | None = None
    duration_s: int | None = None
    pain_during: int
    pain_after: int | None = None
    back_pain: int | None = None
    leg_pain: int | None = None
    leg_symptoms_before: LegSymptoms | None = SQLField(default=None, sa_type=String(12))
    leg_symptoms: LegSymptoms = SQLField(sa_type=String(12))
    leg_side: LegSide | None = SQLField(default=None, sa_type=String(8))
    response: Response = SQLField(sa_type=String(8))
    new_numbness_or_weakness: bool = False
    effort: int | None = None
    note: str | None = SQLField(default=None, sa_type=Text)
    colour: Colour = SQLField(sa_type=String(8))
    # Hash of the body as sent: the same id with a different body is a conflict, not a retry.
    body_hash: str = SQLField(max_length=64)
    received_at: datetime = utc_field(default_now=True)


class SessionLogPublic(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    programme_id: uuid.UUID
    item_id: uuid.UUID
    revision: int
    performed_at: datetime
    local_date: date
    sets_done: int
    reps_done: list[int]
    hold_s: int | None
    duration_s: int | None
    pain_during: int
    pain_after: int | None
    back_pain: int | None = None
    leg_pain: int | None = None
    leg_symptoms_before: LegSymptoms | None = None
    leg_symptoms: LegSymptoms
    leg_side: LegSide | None = None
    response: Response
    new_numbness_or_weakness: bool
    effort: int | None
    note: str | None
    colour: Colour = Field(description="Symptom response: green (easing), yellow (no change), red (stop)")
    received_at: datetime
    safety: SafetyNotice | None = Field(
        default=None,
        description="Only in the answer to logging a red session: what the patient must do now (show it)",
    )


class BatchResult(BaseModel):
    id: uuid.UUID
    status: int = Field(description="201 stored, 200 already stored (retry), 4xx refused")
    code: str | None = None
    detail: str | None = None
    log: SessionLogPublic | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]


# --- adherence and progress ----------------------------------------------------------------------------


class AdherenceCount(BaseModel):
    due: int
    done: int
    adherence: float | None = Field(description="done / due, or null when nothing was due")


class AdherenceDay(AdherenceCount):
    date: date


class AdherenceWeek(AdherenceCount):
    week_start: date = Field(description="The Monday the ISO week starts on")


class AdherenceItem(AdherenceCount):
    programme_id: uuid.UUID
    item_id: uuid.UUID


class AdherenceReport(AdherenceCount):
    patient_id: uuid.UUID
    start: date
    end: date
    timezone: str
    by_day: list[AdherenceDay]
    by_week: list[AdherenceWeek]
    by_item: list[AdherenceItem]


class PainDay(BaseModel):
    date: date
    sessions: int
    pain_during_mean: float
    pain_after_mean: float | None
    red: int


class ProgressReport(BaseModel):
    adherence: AdherenceReport
    pain: list[PainDay]


class PlanItem(BaseModel):
    item_id: uuid.UUID
    exercise: ExerciseView
    sets: int | None
    reps: int | None
    reps_max: int | None
    hold_s: int | None
    rest_s: int | None
    duration_s: int | None
    load: str | None
    side: str
    notes: str | None
    sessions_due: int
    sessions_done: int
    sessions_remaining: int


class StoppedItem(BaseModel):
    item_id: uuid.UUID
    exercise_name: str
    since: datetime
    reasons: list[str] = Field(description="The stop rules the red session broke")
    message: list[str] = Field(description="What the patient is told, in their language")


class Plan(BaseModel):
    date: date
    timezone: str
    programme_id: uuid.UUID | None
    programme_status: str | None
    revision: int | None
    phase: int | None
    items: list[PlanItem]
    next_item_id: uuid.UUID | None = Field(description="The first exercise with a session still to do today")
    stopped: list[StoppedItem] = Field(
        default_factory=list,
        description="Exercises stopped after a red session, until the physio reviews them",
    )
    safety_hold: HoldNotice | None = Field(
        default=None, description="Set while an emergency or urgent alert is open: do no exercises"
    )
