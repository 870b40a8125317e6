"""Outcome measures: the patient's item answers and the scores computed from them.

Licensed questionnaire wording (ODI, STarT Back) is not shipped: the app shows the licensed text and sends
item answers; this service scores them (clinical-content.md §4).
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from sqlalchemy import JSON, CheckConstraint, Index, String
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.common import INPUT, IsoDateTime, clinic_fk, id_field, in_calendar, utc_field

Instrument = Literal["nprs", "psfs", "odi", "rmdq", "startback"]
Score10 = Annotated[int, Field(ge=0, le=10)]
Bothersome = Literal["not_at_all", "slightly", "moderately", "very_much", "extremely"]
ODI_MAX_MISSING = 2


class NprsAnswers(BaseModel):
    model_config = INPUT

    back: Score10 | None = None
    leg: Score10 | None = None
    recall: Literal["now", "worst_24h", "average_24h"] = "now"

    @model_validator(mode="after")
    def _some(self) -> "NprsAnswers":
        if self.back is None and self.leg is None:
            raise ValueError("rate back pain, leg pain or both")
        return self


class PsfsActivity(BaseModel):
    model_config = INPUT

    activity: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    score: Score10 = Field(description="0 = unable to do it, 10 = as well as before the problem")


class PsfsAnswers(BaseModel):
    model_config = INPUT

    activities: list[PsfsActivity] = Field(min_length=1, max_length=5)

    @model_validator(mode="after")
    def _distinct(self) -> "PsfsAnswers":
        names = [a.activity.casefold() for a in self.activities]
        if len(names) != len(set(names)):
            raise ValueError("each activity once")
        return self


class OdiAnswers(BaseModel):
    """Ten section scores 0–5 in the order of the ODI v2.1a; null for a section not answered."""

    model_config = INPUT

    sections: list[Annotated[int, Field(ge=0, le=5)] | None] = Field(min_length=10, max_length=10)

    @model_validator(mode="after")
    def _enough(self) -> "OdiAnswers":
        if sum(section is None for section in self.sections) > ODI_MAX_MISSING:
            raise ValueError(f"at most {ODI_MAX_MISSING} sections may be left unanswered")
        return self


class RmdqAnswers(BaseModel):
    """The 24 statements in order: true where the patient ticked it for today."""

    model_config = INPUT

    items: list[bool] = Field(min_length=24, max_length=24)


class StartBackAnswers(BaseModel):
    """Items 1–8 agree (true) / disagree (false), in Keele's numbering; item 9 how bothersome."""

    model_config = INPUT

    items: list[bool] = Field(min_length=8, max_length=8)
    bothersome: Bothersome


ANSWER_MODELS: dict[str, type[BaseModel]] = {
    "nprs": NprsAnswers,
    "psfs": PsfsAnswers,
    "odi": OdiAnswers,
    "rmdq": RmdqAnswers,
    "startback": StartBackAnswers,
}


class OutcomeIn(BaseModel):
    model_config = INPUT

    instrument: Instrument
    answers: dict[str, Any]
    taken_at: IsoDateTime | None = Field(default=None, description="When it was filled in (default: now)")

    @model_validator(mode="after")
    def _answers_fit_instrument(self) -> "OutcomeIn":
        self.answers = ANSWER_MODELS[self.instrument].model_validate(self.answers).model_dump()
        if self.taken_at is not None and self.taken_at.tzinfo is None:
            raise ValueError("taken_at must include a UTC offset")
        if self.taken_at is not None:
            in_calendar(self.taken_at)
        return self


class OutcomeResponse(SQLModel, table=True):
    __tablename__ = "outcome_response"
    __table_args__ = (
        CheckConstraint(
            "instrument IN ('nprs', 'psfs', 'odi', 'rmdq', 'startback')", name="instrument_values"
        ),
        Index("ix_outcome_response_clinic_id_patient_id_instrument", "clinic_id", "patient_id", "instrument"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = SQLField(foreign_key="patient.id", ondelete="CASCADE")
    instrument: Instrument = SQLField(sa_type=String(12))
    answers: dict[str, Any] = SQLField(sa_type=JSON)
    scores: dict[str, Any] = SQLField(sa_type=JSON)
    taken_at: datetime = utc_field()
    created_at: datetime = utc_field(default_now=True)


class OutcomePublic(BaseModel):
    id: uuid.UUID
    instrument: Instrument
    answers: dict[str, Any]
    scores: dict[str, Any]
    taken_at: datetime
    change: dict[str, Any] | None = Field(
        description="Against the patient's first response to the same instrument: differences and whether "
        "they reach the minimal clinically important change"
    )
