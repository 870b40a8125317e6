"""The patient's programme document: one revision rendered in one language, with everything needed offline.

Rendered by ``app.services.programme_view.render`` from a revision's frozen snapshot. The field order is
the order of the JSON the patient app has always read; keep it when adding a field. A rendering is cached
and shared by every request for that revision and locale, so the models are frozen.
"""

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models.catalogue_files import Position
from app.models.exercise import MediaPublic, StopRulePublic
from app.models.programme_document import ProgrammeStatus, Side

SHARED = ConfigDict(frozen=True)


class HoldNotice(BaseModel):
    tier: Literal["emergency", "urgent"]
    since: datetime
    instruction: list[str] = Field(description="The programme is on hold, and what to do, in short lines")


class ExerciseView(BaseModel):
    """An exercise as this item prescribes it: text in the patient's language, dose words filled from the
    item's own dose (never the catalogue's default dose)."""

    model_config = SHARED

    id: uuid.UUID = Field(description="The exercise's id")
    slug: str = Field(description="The exercise's stable slug")
    locale: str = Field(description="The language the text is in: the patient's, else English")
    name: str = Field(description="The exercise's name in `locale`")
    media: list[MediaPublic] = Field(description="Pictures and videos, with alt text in `locale`")
    stop_rules: list[StopRulePublic] = Field(description="When to stop this exercise, in `locale`")
    position: Position = Field(description="The body position the exercise starts from")
    summary: str = Field(description="One sentence on the exercise, its dose words filled")
    steps: list[str] = Field(description="How to do it, one step per line, dose words filled")
    cautions: list[str] = Field(description="What to watch for, dose words filled")


class StoppedNotice(BaseModel):
    """An exercise stopped after a red session, until the physio reinstates it."""

    model_config = SHARED

    since: datetime = Field(description="When the red session stopped it")
    reasons: list[str] = Field(description="The stop rules the red session broke")
    message: list[str] = Field(description="What the patient is told, in their language")


class ItemView(BaseModel):
    """One prescription line: the dose in numbers and in words, and the exercise."""

    model_config = SHARED

    id: uuid.UUID = Field(description="The item's id, kept across revisions; session logs name it")
    position: int = Field(description="Order within the phase, from 0")
    sets: int | None = Field(description="Sets per session")
    reps: int | None = Field(description="Repetitions per set (the lower end of a range)")
    reps_max: int | None = Field(description="Upper end of a reps range (`reps`–`reps_max`)")
    hold_s: int | None = Field(description="Seconds to hold each repetition")
    rest_s: int | None = Field(description="Seconds to rest between sets")
    duration_s: int | None = Field(description="Seconds for a timed exercise")
    load: str | None = Field(description="Weight or band, in the physio's words")
    side: Side = Field(description="Which side to work: left, right, both or alternating")
    times_per_day: int = Field(description="Sessions a day on each day of `days_of_week`")
    days_of_week: list[int] = Field(description="ISO weekdays: 1 = Monday … 7 = Sunday")
    notes: str | None = Field(description="The physio's note to the patient")
    dose_text: str = Field(description="The whole dose in plain words, in the patient's language")
    exercise: ExerciseView = Field(description="The exercise, worded for this item's dose")
    stopped: StoppedNotice | None = Field(description="Set while the exercise is stopped: do not do it")


class PhaseView(BaseModel):
    model_config = SHARED

    position: int = Field(description="Order of the phase, from 0; `current_phase` names one")
    name: str = Field(description="The phase's name, as the physio wrote it")
    goal: str | None = Field(description="What the phase is for, as the physio wrote it")
    items: list[ItemView] = Field(description="The exercises of the phase, in order")


class SafetyView(BaseModel):
    """Safety text shown with every programme, in the patient's language."""

    model_config = SHARED

    emergency_warning: list[str] = Field(description="When to seek emergency care, in short lines")
    stop_rules_intro: str = Field(description="The sentence that introduces each exercise's stop rules")


class ProgrammeView(BaseModel):
    """One revision of a programme in the patient's language (`GET /v1/me/programmes/{id}`)."""

    model_config = SHARED

    id: uuid.UUID = Field(description="The programme's id")
    title: str = Field(description="The programme's title, as the physio wrote it")
    status: ProgrammeStatus = Field(description="Exercises are due only while the programme is active")
    start_date: date = Field(description="The patient's first local day of the programme")
    end_date: date | None = Field(description="The last local day, inclusive; none while open-ended")
    current_phase: int = Field(description="Index in `phases` of the phase the patient is in")
    revision: int = Field(description="The revision rendered; session logs send it back")
    locale: str = Field(description="The patient's language, which the document was rendered for")
    safety: SafetyView = Field(description="Safety text to show with the programme")
    safety_hold: HoldNotice | None = Field(
        description="Set while an emergency or urgent alert is open: do no exercises"
    )
    phases: list[PhaseView] = Field(description="The phases in order")
