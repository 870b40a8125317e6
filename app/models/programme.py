"""Programmes (a patient's phased prescription), clinic templates and immutable revisions.

The programme document (phases → items) is validated as a whole by `ProgrammeDocument`. The current
revision lives in `programme_phase` / `programme_item` rows, whose check constraints repeat the dose
bounds so no path can store an out-of-range dose; every revision is also frozen as a JSON snapshot.
"""

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import JSON, CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.common import INPUT, CalendarDate, IsoUUID, clinic_fk, id_field, utc_field

ProgrammeStatus = Literal["draft", "active", "paused", "completed", "cancelled"]
AutoProgress = Literal["off", "suggest", "auto"]
Side = Literal["left", "right", "both", "alternating"]
RevisionReason = Literal["edit", "progression", "regression", "status"]
ProgressionVariable = Literal["reps", "hold_s", "sets", "duration_s"]
# Statuses in which a programme is the patient's current one: at most one per patient.
CURRENT_STATUSES = ("active", "paused")

# One table of bounds for every dose number: request validation and database checks both use it.
DOSE_BOUNDS: dict[str, tuple[int, int]] = {
    "sets": (1, 10),
    "reps": (1, 100),
    "reps_max": (1, 100),
    "hold_s": (1, 600),
    "rest_s": (0, 600),
    "duration_s": (1, 7200),
    "times_per_day": (1, 12),
}
PHASE_BOUNDS: dict[str, tuple[int, int]] = {
    "min_days": (0, 365),
    "min_sessions": (0, 1000),
    "min_adherence_pct": (0, 100),
    "max_pain": (0, 10),
    "green_streak": (0, 50),
}
MAX_PHASES = 12
MAX_ITEMS_PER_PHASE = 30

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, StringConstraints(max_length=1000)]


def _bounded(name: str, table: dict[str, tuple[int, int]] = DOSE_BOUNDS) -> Any:
    low, high = table[name]
    return Field(default=None, ge=low, le=high)


def _range_checks(table: dict[str, tuple[int, int]]) -> list[CheckConstraint]:
    return [
        CheckConstraint(f"{name} IS NULL OR {name} BETWEEN {low} AND {high}", name=f"{name}_range")
        for name, (low, high) in table.items()
    ]


# --- the document: what clinicians send and what revisions freeze -----------------------------------


class ProgressionRule(BaseModel):
    """How an item's dose moves (clinical-content.md §2.3): one variable, by `step`, up to `ceiling`."""

    model_config = INPUT

    variable: ProgressionVariable
    step: int = Field(ge=1, le=600)
    ceiling: int = Field(ge=1, le=7200)
    sessions_needed: int = Field(default=2, ge=1, le=20, description="Green sessions in a row before a step")
    at_ceiling: Literal["advance", "hold"] = Field(
        default="hold", description="At the ceiling: move to the next exercise of the chain, or stay"
    )
    regression_step: int | None = Field(default=None, ge=1, le=600)

    @model_validator(mode="after")
    def _ceiling_within_variable_bounds(self) -> "ProgressionRule":
        low, high = DOSE_BOUNDS[self.variable]
        if not low <= self.ceiling <= high:
            raise ValueError(f"ceiling must be between {low} and {high} for {self.variable}")
        return self


class ItemDose(BaseModel):
    model_config = INPUT

    sets: int | None = _bounded("sets")
    reps: int | None = _bounded("reps")
    reps_max: int | None = _bounded("reps_max")
    hold_s: int | None = _bounded("hold_s")
    rest_s: int | None = _bounded("rest_s")
    duration_s: int | None = _bounded("duration_s")
    load: Annotated[str, StringConstraints(max_length=100)] | None = None
    side: Side = "both"
    times_per_day: int = Field(
        default=1, ge=DOSE_BOUNDS["times_per_day"][0], le=DOSE_BOUNDS["times_per_day"][1]
    )
    days_of_week: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6, 7],
        min_length=1,
        max_length=7,
        description="ISO weekdays: 1 = Monday … 7 = Sunday",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "ItemDose":
        if len(set(self.days_of_week)) != len(self.days_of_week):
            raise ValueError("days_of_week must not repeat a day")
        self.days_of_week = sorted(self.days_of_week)
        if self.reps_max is not None and (self.reps is None or self.reps_max < self.reps):
            raise ValueError("reps_max needs reps and must be at least reps")
        if self.reps is None and self.hold_s is None and self.duration_s is None:
            raise ValueError("a dose needs reps, hold_s or duration_s")
        return self


class ItemIn(ItemDose):
    """One prescription line. `id` is kept across revisions; leave it out for a new item."""

    id: IsoUUID | None = None
    exercise: Annotated[str, StringConstraints(min_length=1, max_length=80)] = Field(
        description="Exercise slug or id, from the catalogue or the clinic's own"
    )
    clinician_unlocked: bool = Field(
        default=False, description="Required for exercises that need a clinician's unlock"
    )
    notes: Note | None = None
    progression_rule: ProgressionRule | None = None

    @model_validator(mode="after")
    def _rule_moves_a_prescribed_variable(self) -> "ItemIn":
        rule = self.progression_rule
        if rule is not None:
            current = getattr(self, rule.variable)
            if current is None:
                raise ValueError(
                    f"progression_rule moves {rule.variable}, which this item does not prescribe"
                )
            if current > rule.ceiling:
                raise ValueError(f"{rule.variable} is already above the rule's ceiling")
        return self


class AdvanceCriteria(BaseModel):
    """When the next phase may start (all that are set must hold)."""

    model_config = INPUT

    min_days: int | None = _bounded("min_days", PHASE_BOUNDS)
    min_sessions: int | None = _bounded("min_sessions", PHASE_BOUNDS)
    min_adherence_pct: int | None = _bounded("min_adherence_pct", PHASE_BOUNDS)
    max_pain: int | None = _bounded("max_pain", PHASE_BOUNDS)
    green_streak: int | None = _bounded("green_streak", PHASE_BOUNDS)


class PhaseIn(BaseModel):
    model_config = INPUT

    name: Text200
    goal: Note | None = None
    advance_criteria: AdvanceCriteria = Field(default_factory=AdvanceCriteria)
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_ITEMS_PER_PHASE)


def _dates_ordered(start: date, end: date | None) -> None:
    if end is not None and end < start:
        raise ValueError("end_date must not be before start_date")


def _unique_item_ids(phases: list[PhaseIn]) -> None:
    ids = [item.id for phase in phases for item in phase.items if item.id is not None]
    if len(ids) != len(set(ids)):
        raise ValueError("an item id appears twice")


class TemplateIn(BaseModel):
    model_config = INPUT

    name: Text200
    description: Note | None = None
    phases: list[PhaseIn] = Field(min_length=1, max_length=MAX_PHASES)

    @model_validator(mode="after")
    def _ids(self) -> "TemplateIn":
        _unique_item_ids(self.phases)
        return self


OverrideReason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1000),
    Field(
        description="A clinician's reason to prescribe exercises that are contraindicated for this patient's "
        "screening record (the 409 `contraindicated` answer lists them); recorded on each item and audited"
    ),
]


class ProgrammeDocument(BaseModel):
    """The whole programme as a clinician edits it (`PUT /v1/programmes/{id}`)."""

    model_config = INPUT

    override_contraindications: OverrideReason | None = None
    title: Text200
    start_date: CalendarDate = Field(description="1900–2199")
    end_date: CalendarDate | None = Field(default=None, description="1900–2199; not before start_date")
    auto_progress: AutoProgress = "suggest"
    current_phase: int = Field(default=0, ge=0, lt=MAX_PHASES)
    phases: list[PhaseIn] = Field(min_length=1, max_length=MAX_PHASES)

    @model_validator(mode="after")
    def _consistent(self) -> "ProgrammeDocument":
        _dates_ordered(self.start_date, self.end_date)
        if self.current_phase >= len(self.phases):
            raise ValueError("current_phase must name one of the phases (0-based)")
        _unique_item_ids(self.phases)
        return self


class ItemOverride(ItemDose):
    """Per-patient change to one item of a template: phase and item index, and the dose fields to set."""

    model_config = INPUT

    phase: int = Field(ge=0, lt=MAX_PHASES)
    item: int = Field(ge=0, lt=MAX_ITEMS_PER_PHASE)
    notes: Note | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "ItemOverride":
        # Replaces ItemDose's check: an override is partial; the merged item is checked as a whole.
        return self


class ProgrammeCreate(BaseModel):
    """Create a draft from scratch (`phases`) or from a clinic template (`template_id` + overrides)."""

    model_config = INPUT

    template_id: IsoUUID | None = None
    title: Text200 | None = None
    start_date: CalendarDate = Field(description="1900–2199")
    end_date: CalendarDate | None = Field(default=None, description="1900–2199; not before start_date")
    auto_progress: AutoProgress | None = None
    phases: list[PhaseIn] | None = Field(default=None, min_length=1, max_length=MAX_PHASES)
    item_overrides: list[ItemOverride] = Field(default_factory=list, max_length=200)
    override_contraindications: OverrideReason | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "ProgrammeCreate":
        _dates_ordered(self.start_date, self.end_date)
        if (self.template_id is None) == (self.phases is None):
            raise ValueError("give either template_id or phases")
        if self.template_id is None and (self.title is None or self.item_overrides):
            raise ValueError(
                "a programme from scratch needs a title, and item_overrides apply to templates only"
            )
        return self


# --- tables -----------------------------------------------------------------------------------------


class Template(SQLModel, table=True):
    __tablename__ = "programme_template"
    __table_args__ = (Index("ix_programme_template_clinic_id_id", "clinic_id", "id"),)

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    name: str = SQLField(max_length=200)
    description: str | None = SQLField(default=None, sa_type=Text)
    phases: list[dict[str, Any]] = SQLField(sa_type=JSON)
    created_by: uuid.UUID | None = None
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class Programme(SQLModel, table=True):
    __tablename__ = "programme"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'active', 'paused', 'completed', 'cancelled')", name="status_values"
        ),
        CheckConstraint("auto_progress IN ('off', 'suggest', 'auto')", name="auto_progress_values"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates_ordered"),
        CheckConstraint("revision >= 1", name="revision_positive"),
        CheckConstraint("current_phase >= 0", name="current_phase_positive"),
        Index("ix_programme_clinic_id_id", "clinic_id", "id"),
        Index("ix_programme_clinic_id_patient_id_id", "clinic_id", "patient_id", "id"),
        # The database, not only the service, keeps one current programme per patient.
        Index(
            "uq_programme_current_per_patient",
            "clinic_id",
            "patient_id",
            unique=True,
            sqlite_where=text("status IN ('active', 'paused')"),
            postgresql_where=text("status IN ('active', 'paused')"),
        ),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = SQLField(foreign_key="patient.id", ondelete="CASCADE")
    template_id: uuid.UUID | None = SQLField(
        default=None, foreign_key="programme_template.id", ondelete="SET NULL"
    )
    title: str = SQLField(max_length=200)
    status: ProgrammeStatus = SQLField(default="draft", sa_type=String(16))
    start_date: date
    end_date: date | None = None
    auto_progress: AutoProgress = SQLField(default="suggest", sa_type=String(8))
    current_phase: int = 0
    revision: int = 1
    # When the current phase began (activation, or the last phase advance): phase criteria count from here.
    phase_started_at: datetime | None = utc_field(nullable=True)
    # When the programme was first activated (a resume does not move it): nothing is due, and nothing can
    # be logged, before it.
    activated_at: datetime | None = utc_field(nullable=True)
    # Set while the patient has an open emergency or urgent alert (a SafetyHold as JSON): shown to the
    # patient. Whether a programme may be resumed is decided from the alerts themselves.
    safety_hold: dict[str, Any] | None = SQLField(default=None, sa_type=JSON)
    created_by: uuid.UUID | None = None
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class ProgrammePhase(SQLModel, table=True):
    """A phase of the programme's current revision (rewritten on every edit)."""

    __tablename__ = "programme_phase"
    __table_args__ = (
        *_range_checks(PHASE_BOUNDS),
        CheckConstraint("position >= 0", name="position_positive"),
    )

    programme_id: uuid.UUID = SQLField(foreign_key="programme.id", ondelete="CASCADE", primary_key=True)
    position: int = SQLField(primary_key=True)
    clinic_id: uuid.UUID = clinic_fk()
    name: str = SQLField(max_length=200)
    goal: str | None = SQLField(default=None, sa_type=Text)
    min_days: int | None = None
    min_sessions: int | None = None
    min_adherence_pct: int | None = None
    max_pain: int | None = None
    green_streak: int | None = None


class ProgrammeItem(SQLModel, table=True):
    """A prescription line. Its id survives edits; a removed item keeps its row (logs point at it)."""

    __tablename__ = "programme_item"
    __table_args__ = (
        *_range_checks(DOSE_BOUNDS),
        CheckConstraint(
            "reps_max IS NULL OR (reps IS NOT NULL AND reps_max >= reps)", name="reps_max_ge_reps"
        ),
        CheckConstraint("days_mask BETWEEN 1 AND 127", name="days_mask_range"),
        CheckConstraint("side IN ('left', 'right', 'both', 'alternating')", name="side_values"),
        CheckConstraint(
            "reps IS NOT NULL OR hold_s IS NOT NULL OR duration_s IS NOT NULL", name="dose_has_amount"
        ),
        Index("ix_programme_item_clinic_id_programme_id", "clinic_id", "programme_id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    programme_id: uuid.UUID = SQLField(foreign_key="programme.id", ondelete="CASCADE")
    phase_position: int
    position: int
    exercise_id: uuid.UUID = SQLField(foreign_key="exercise.id")
    clinician_unlocked: bool = False
    sets: int | None = None
    reps: int | None = None
    reps_max: int | None = None
    hold_s: int | None = None
    rest_s: int | None = None
    duration_s: int | None = None
    load: str | None = SQLField(default=None, max_length=100)
    side: Side = SQLField(default="both", sa_type=String(12))
    times_per_day: int = 1
    # ISO weekdays as bits: Monday = 1, Tuesday = 2, … Sunday = 64.
    days_mask: int = 127
    notes: str | None = SQLField(default=None, sa_type=Text)
    progression_rule: dict[str, Any] | None = SQLField(default=None, sa_type=JSON)
    # The revision that last changed this item's exercise or dose: only sessions done since count towards
    # its next progression, and a red session against an older dose does not regress it again.
    dose_revision: int = SQLField(default=1, sa_column_kwargs={"server_default": "1"})
    removed_at: datetime | None = utc_field(nullable=True)
    # Set after a red session (an ItemSuspension as JSON): the item is not done or due until a clinician
    # reinstates it or replaces it.
    suspension: dict[str, Any] | None = SQLField(default=None, sa_type=JSON)
    # A clinician prescribed this exercise despite a contraindication (a ContraindicationOverride as JSON).
    contraindication_override: dict[str, Any] | None = SQLField(default=None, sa_type=JSON)


class ProgrammeRevision(SQLModel, table=True):
    """An immutable snapshot of the whole programme after one change."""

    __tablename__ = "programme_revision"
    __table_args__ = (
        UniqueConstraint("programme_id", "number"),
        CheckConstraint("reason IN ('edit', 'progression', 'regression', 'status')", name="reason_values"),
        Index("ix_programme_revision_clinic_id_programme_id_number", "clinic_id", "programme_id", "number"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    programme_id: uuid.UUID = SQLField(foreign_key="programme.id", ondelete="CASCADE")
    number: int
    reason: RevisionReason = SQLField(sa_type=String(12))
    author_kind: str = SQLField(max_length=8)
    author_id: uuid.UUID | None = None
    snapshot: dict[str, Any] = SQLField(sa_type=JSON)
    # What was due under this revision: status, dates, current phase and each item's frequency. Small, so
    # adherence over any window reads these instead of whole snapshots.
    schedule: dict[str, Any] = SQLField(sa_type=JSON)
    created_at: datetime = utc_field(default_now=True)


def days_to_mask(days: list[int]) -> int:
    return sum(1 << (day - 1) for day in set(days))


def mask_to_days(mask: int) -> list[int]:
    return [day for day in range(1, 8) if mask & (1 << (day - 1))]


class ReinstateIn(BaseModel):
    model_config = INPUT

    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="Why the exercise is safe to do again (kept in the audit trail)"
    )


# --- responses --------------------------------------------------------------------------------------


class SafetyHold(BaseModel):
    tier: Literal["emergency", "urgent"]
    alert_id: uuid.UUID
    since: datetime


class ContraindicationOverride(BaseModel):
    conditions: list[str] = Field(description="The patient's conditions the exercise is contraindicated for")
    reason: str
    by: uuid.UUID
    at: datetime


class ItemSuspension(BaseModel):
    since: datetime
    reasons: list[str] = Field(description="Why the session was red, e.g. leg_symptoms_spread")
    log_id: uuid.UUID = Field(description="The session log that stopped the item")


class ItemPublic(ItemDose):
    # Built from stored snapshots (JSON: ids as strings), not from a client's input.
    model_config = ConfigDict(strict=False)

    id: uuid.UUID
    position: int
    exercise_id: uuid.UUID
    exercise_slug: str
    exercise_name: str = Field(description="English name, for clinicians' lists")
    requires_clinician_unlock: bool
    clinician_unlocked: bool
    notes: str | None
    progression_rule: ProgressionRule | None
    suspension: ItemSuspension | None = Field(
        default=None, description="Stopped after a red session until a clinician reinstates it"
    )
    contraindication_override: ContraindicationOverride | None = None


class PhasePublic(BaseModel):
    position: int
    name: str
    goal: str | None
    advance_criteria: AdvanceCriteria
    items: list[ItemPublic]


class ProgrammeSummary(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    template_id: uuid.UUID | None
    title: str
    status: ProgrammeStatus
    start_date: date
    end_date: date | None
    auto_progress: AutoProgress
    current_phase: int
    revision: int
    safety_hold: SafetyHold | None = Field(
        default=None, description="Set while the patient has an open emergency or urgent alert"
    )
    created_at: datetime
    updated_at: datetime


class ProgrammePublic(ProgrammeSummary):
    phases: list[PhasePublic]


class RevisionSummary(BaseModel):
    number: int
    reason: RevisionReason
    author_kind: str
    author_id: uuid.UUID | None
    created_at: datetime


class RevisionPublic(RevisionSummary):
    programme: ProgrammePublic


class TemplatePublic(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    phases: list[PhaseIn]
    created_at: datetime
    updated_at: datetime
