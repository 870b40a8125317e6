"""The programme document: what a clinician writes (phases → items with their dose and progression rule),
validated as a whole, and the bounds every dose number keeps (requests and database checks use one table).
"""

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.models.common import INPUT, CalendarDate, IsoUUID

ProgrammeStatus = Literal["draft", "active", "paused", "completed", "cancelled"]
AutoProgress = Literal["off", "suggest", "auto"]
Side = Literal["left", "right", "both", "alternating"]
RevisionReason = Literal["edit", "progression", "regression", "status"]
ProgressionVariable = Literal["reps", "hold_s", "sets", "duration_s"]
# Statuses in which a programme is the patient's current one: at most one per patient.
CURRENT_STATUSES = ("active", "paused")

# The numbers of a dose, in one place: a prescription adds load, side and frequency; an exercise's
# starting dose, the progression rules and the simulation's change lines use these.
DOSE_NUMBERS = ("sets", "reps", "reps_max", "hold_s", "rest_s", "duration_s")
PRESCRIPTION_FIELDS = (*DOSE_NUMBERS, "load", "side", "times_per_day")

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


class ItemDocument(ItemDose):
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
    def _rule_moves_a_prescribed_variable(self) -> "ItemDocument":
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


class PhaseDocument(BaseModel):
    model_config = INPUT

    name: Text200
    goal: Note | None = None
    advance_criteria: AdvanceCriteria = Field(default_factory=AdvanceCriteria)
    items: list[ItemDocument] = Field(min_length=1, max_length=MAX_ITEMS_PER_PHASE)


def _dates_ordered(start: date, end: date | None) -> None:
    if end is not None and end < start:
        raise ValueError("end_date must not be before start_date")


def _unique_item_ids(phases: list[PhaseDocument]) -> None:
    ids = [item.id for phase in phases for item in phase.items if item.id is not None]
    if len(ids) != len(set(ids)):
        raise ValueError("an item id appears twice")


class TemplateCreate(BaseModel):
    model_config = INPUT

    name: Text200
    description: Note | None = None
    phases: list[PhaseDocument] = Field(min_length=1, max_length=MAX_PHASES)

    @model_validator(mode="after")
    def _ids(self) -> "TemplateCreate":
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
    phases: list[PhaseDocument] = Field(min_length=1, max_length=MAX_PHASES)

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
    phases: list[PhaseDocument] | None = Field(default=None, min_length=1, max_length=MAX_PHASES)
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


class ReinstateRequest(BaseModel):
    model_config = INPUT

    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = Field(
        description="Why the exercise is safe to do again (kept in the audit trail)"
    )
