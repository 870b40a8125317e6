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


def activity_key(name: str) -> str:
    """One PSFS activity however it is typed: "Walking", " walking " and "WALKING  " are the same."""
    return " ".join(name.split()).casefold()


class PsfsActivity(BaseModel):
    model_config = INPUT

    activity: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    score: Score10 = Field(description="0 = unable to do it, 10 = as well as before the problem")


class PsfsAnswers(BaseModel):
    model_config = INPUT

    activities: list[PsfsActivity] = Field(min_length=1, max_length=5)

    @model_validator(mode="after")
    def _distinct(self) -> "PsfsAnswers":
        names = [activity_key(a.activity) for a in self.activities]
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


class _OutcomeIn(BaseModel):
    model_config = INPUT

    taken_at: IsoDateTime | None = Field(default=None, description="When it was filled in (default: now)")

    @model_validator(mode="after")
    def _taken_at_in_calendar(self) -> "_OutcomeIn":
        if self.taken_at is not None and self.taken_at.tzinfo is None:
            raise ValueError("taken_at must include a UTC offset")
        if self.taken_at is not None:
            in_calendar(self.taken_at)
        return self


class NprsOutcomeCreate(_OutcomeIn):
    """Pain 0–10 (0 = no pain, 10 = worst imaginable) for the back, the leg or both, over one recall period:
    change is only ever computed against a response with the same recall period."""

    instrument: Literal["nprs"]
    answers: NprsAnswers


class PsfsOutcomeCreate(_OutcomeIn):
    """Patient-Specific Functional Scale: up to five activities the patient names, each rated 0–10. At
    follow-up, re-rate the activities named at baseline (matched ignoring case and spacing)."""

    instrument: Literal["psfs"]
    answers: PsfsAnswers


class OdiOutcomeCreate(_OutcomeIn):
    """Oswestry Disability Index v2.1a: the app shows the licensed text and sends only section scores."""

    instrument: Literal["odi"]
    answers: OdiAnswers


class RmdqOutcomeCreate(_OutcomeIn):
    """Roland-Morris Disability Questionnaire, 24 items."""

    instrument: Literal["rmdq"]
    answers: RmdqAnswers


class StartBackOutcomeCreate(_OutcomeIn):
    """Keele STarT Back Screening Tool; the risk group it gives is stored on the patient."""

    instrument: Literal["startback"]
    answers: StartBackAnswers


OutcomeCreate = Annotated[
    NprsOutcomeCreate | PsfsOutcomeCreate | OdiOutcomeCreate | RmdqOutcomeCreate | StartBackOutcomeCreate,
    Field(discriminator="instrument"),
]


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
        description="Against the patient's first response to the same instrument (for NPRS, with the same "
        "recall period): differences and whether they reach a meaningful change (docs/clinical-rules.md)"
    )
