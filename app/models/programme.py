"""Programmes (a patient's phased prescription), clinic templates and immutable revisions.

The programme document (phases → items) is validated as a whole by `ProgrammeDocument`. The current
revision lives in `programme_phase` / `programme_item` rows, whose check constraints repeat the dose
bounds so no path can store an out-of-range dose; every revision is also frozen as a JSON snapshot.
"""

import uuid
from datetime import date, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import JSON, CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel
from sqlmodel._compat import SQLModelConfig

from app.models.common import clinic_fk, id_field, utc_field
from app.models.programme_document import (
    DOSE_BOUNDS,
    PHASE_BOUNDS,
    AdvanceCriteria,
    AutoProgress,
    ItemDose,
    PhaseDocument,
    ProgrammeStatus,
    ProgressionRule,
    RevisionReason,
    Side,
)


def _range_checks(table: dict[str, tuple[int, int]]) -> list[CheckConstraint]:
    return [
        CheckConstraint(f"{name} IS NULL OR {name} BETWEEN {low} AND {high}", name=f"{name}_range")
        for name, (low, high) in table.items()
    ]


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


# --- what the rules read -----------------------------------------------------------------------------------
# The session log's rules (colour, progression gates, review prompts, the patient's notice) read these of a
# programme and an item. An ORM object has them, and so does the row the log path loads on the driver
# (app.store.log_target); a rule that changes a programme takes the ORM objects
# (app.services.programmes.attached).


class ProgrammeFacts(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def clinic_id(self) -> uuid.UUID: ...
    @property
    def patient_id(self) -> uuid.UUID: ...
    @property
    def status(self) -> ProgrammeStatus: ...
    @property
    def auto_progress(self) -> AutoProgress: ...
    @property
    def current_phase(self) -> int: ...
    @property
    def revision(self) -> int: ...
    @property
    def phase_started_at(self) -> datetime | None: ...
    @property
    def activated_at(self) -> datetime | None: ...
    @property
    def safety_hold(self) -> dict[str, Any] | None: ...


class ItemFacts(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def programme_id(self) -> uuid.UUID: ...
    @property
    def phase_position(self) -> int: ...
    @property
    def exercise_id(self) -> uuid.UUID: ...
    @property
    def sets(self) -> int | None: ...
    @property
    def reps(self) -> int | None: ...
    @property
    def hold_s(self) -> int | None: ...
    @property
    def duration_s(self) -> int | None: ...
    @property
    def progression_rule(self) -> dict[str, Any] | None: ...
    @property
    def dose_revision(self) -> int: ...
    @property
    def removed_at(self) -> datetime | None: ...
    @property
    def suspension(self) -> dict[str, Any] | None: ...


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
    # Built from stored snapshots (JSON: ids as strings), not from a client's input. The config's type is
    # that of `INPUT`, which ItemDose has.
    model_config = SQLModelConfig(strict=False)

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
    phases: list[PhaseDocument]
    created_at: datetime
    updated_at: datetime
