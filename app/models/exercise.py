"""Exercises: the shared catalogue (seeded from ``exercises/``) and each clinic's own, with text per locale.

The request schemas reuse the chain-file models of ``app.models.catalogue_files`` (a pure module with
no database or FastAPI), so an exercise posted by a clinic obeys the same rules as one in the files.
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import JSON, CheckConstraint, Index, String, Text, UniqueConstraint, false, text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.catalogue_files import (
    Alternatives,
    BodyRegion,
    Category,
    Code,
    Contraindication,
    Dose,
    Equipment,
    ExerciseSpec,
    Locale,
    Localised,
    LocalisedText,
    Media,
    Name,
    Position,
    Slug,
    SourceTag,
    StopRule,
    Tag,
    UniqueList,
)
from app.models.common import QueryBool, id_field, utc_field
from app.models.illustration import Illustration

MAX_STEP = 50  # as in the chain-file schema


def _one_of(column: str, literal: Any) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in get_args(literal))})"


class Exercise(SQLModel, table=True):
    __tablename__ = "exercise"
    __table_args__ = (
        CheckConstraint(_one_of("category", Category), name="category_values"),
        CheckConstraint(_one_of("body_region", BodyRegion), name="body_region_values"),
        CheckConstraint(_one_of("position", Position), name="position_values"),
        CheckConstraint(f"step BETWEEN 0 AND {MAX_STEP}", name="step_range"),
        # A clinic's own slugs are unique within the clinic (NULL owners never collide here) ...
        UniqueConstraint("owner_clinic_id", "slug"),
        # ... and catalogue slugs among the catalogue. Clashes between the two are refused by the service.
        Index(
            "uq_exercise_catalogue_slug",
            "slug",
            unique=True,
            sqlite_where=text("owner_clinic_id IS NULL"),
            postgresql_where=text("owner_clinic_id IS NULL"),
        ),
        Index("ix_exercise_owner_clinic_id_id", "owner_clinic_id", "id"),
        Index("ix_exercise_owner_clinic_id_chain_step", "owner_clinic_id", "chain", "step"),
    )

    id: uuid.UUID = id_field()
    # NULL: the shared catalogue, read-only over the API; otherwise the clinic that owns it.
    owner_clinic_id: uuid.UUID | None = SQLField(default=None, foreign_key="clinic.id", ondelete="CASCADE")
    slug: str = SQLField(max_length=80)
    chain: str = SQLField(max_length=80)
    chain_title: dict[str, str] = SQLField(sa_type=JSON)
    step: int
    category: str = SQLField(sa_type=String(32))
    body_region: str = SQLField(sa_type=String(16))
    position: str = SQLField(sa_type=String(16))
    equipment: list[str] = SQLField(sa_type=JSON)
    default_dose: dict[str, Any] = SQLField(sa_type=JSON)
    progression_slug: str | None = SQLField(default=None, max_length=80)
    regression_slug: str | None = SQLField(default=None, max_length=80)
    alternatives: dict[str, list[str]] = SQLField(sa_type=JSON)
    requires_clinician_unlock: bool
    # Contraindication codes (app.models.catalogue_files.Contraindication); '[]' for rows that predate them.
    contraindications: list[str] = SQLField(
        default_factory=list, sa_type=JSON, sa_column_kwargs={"server_default": text("'[]'")}
    )
    side_required: bool = SQLField(default=False, sa_column_kwargs={"server_default": false()})
    indications: list[str] = SQLField(sa_type=JSON)
    stop_rules: list[str] = SQLField(sa_type=JSON)
    tags: list[str] = SQLField(sa_type=JSON)
    # Pose data the illustration is drawn from (app.models.illustration); NULL: drawn from `position`.
    illustration: dict[str, Any] | None = SQLField(default=None, sa_type=JSON)
    media: list[dict[str, Any]] = SQLField(sa_type=JSON)
    sources: list[str] = SQLField(sa_type=JSON)
    # Hash of the chain-file entry the row was seeded from, so a re-seed can skip unchanged ones.
    content_hash: str | None = SQLField(default=None, max_length=64)
    archived_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class ExerciseText(SQLModel, table=True):
    """Patient text of one exercise in one locale (English always present)."""

    __tablename__ = "exercise_text"

    exercise_id: uuid.UUID = SQLField(foreign_key="exercise.id", ondelete="CASCADE", primary_key=True)
    locale: str = SQLField(max_length=16, primary_key=True)
    name: str = SQLField(max_length=80)
    summary: str = SQLField(max_length=600)
    steps: list[str] = SQLField(sa_type=JSON)
    cautions: list[str] = SQLField(sa_type=JSON)
    # Name and summary case-folded in Python: SQLite's lower() folds only ASCII, so searching a
    # pre-folded column is what makes "Úsalo" match "úsalo" on SQLite and PostgreSQL alike.
    search_text: str = SQLField(sa_type=Text)


class ExerciseCreate(ExerciseSpec):
    """A clinic's own exercise: an entry of a chain file (same fields, same rules) plus its chain.

    Differences from the files: ``progression``/``regression`` may be left out, and ``sources`` is
    optional and free (a clinic cites its own protocols, not only the catalogue's reference table).
    """

    chain: Slug
    chain_title: Localised[Name] | None = None
    progression: Slug | None = None
    regression: Slug | None = None
    sources: UniqueList[SourceTag] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: list[str]) -> list[str]:
        # Replaces the files' check against the catalogue's reference table (see the docstring).
        return sources


# Fields a PATCH may set to null: null clears a ladder link, or re-derives the chain title.
NULLABLE_ON_UPDATE = ("chain_title", "progression", "regression", "illustration")


class ExerciseUpdate(BaseModel):
    """PATCH body: only the fields sent change. ``text`` adds or replaces the locales it names."""

    model_config = ConfigDict(extra="forbid", strict=True)

    chain: Slug | None = None
    chain_title: Localised[Name] | None = None
    step: int | None = Field(default=None, ge=0, le=MAX_STEP)
    category: Category | None = None
    body_region: BodyRegion | None = None
    position: Position | None = None
    equipment: UniqueList[Equipment] | None = None
    default_dose: Dose | None = None
    progression: Slug | None = None
    regression: Slug | None = None
    alternatives: Alternatives | None = None
    requires_clinician_unlock: bool | None = None
    contraindications: UniqueList[Contraindication] | None = None
    side_required: bool | None = None
    indications: UniqueList[Code] | None = None
    stop_rules: UniqueList[StopRule] | None = None
    tags: UniqueList[Tag] | None = None
    illustration: Illustration | None = None
    media: list[Media] | None = None
    sources: UniqueList[SourceTag] | None = None
    text: dict[Locale, LocalisedText] | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Only sent values get here: null would blank a required field, not keep it.
        if value is None and info.field_name not in NULLABLE_ON_UPDATE:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


class ExerciseSearch(BaseModel):
    """Filters of GET /v1/exercises; they combine with AND."""

    # (A NUL character is refused before any route runs: app/middleware.py.)
    q: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        default=None,
        description="Case-insensitive substring of the name or summary (in the served locale) or a tag.",
    )
    category: Category | None = None
    chain: Slug | None = None
    position: Position | None = None
    equipment: Equipment | None = Field(default=None, description="Exercises that use this equipment.")
    tag: Tag | None = None
    body_region: BodyRegion | None = None
    include_own: QueryBool = Field(default=True, description="Include the clinic's own exercises.")
    include_archived: QueryBool = False


class StopRulePublic(BaseModel):
    code: StopRule
    text: str


class MediaPublic(BaseModel):
    kind: Literal["image", "video"]
    url: str
    alt: str
    size_bytes: int | None = Field(
        default=None, description="Size of the file at `url` (the service's own drawings; else null)"
    )
    sha256: str | None = Field(
        default=None, description="SHA-256 of the file at `url`, hex (also its ETag), for offline caching"
    )


class ExercisePublic(BaseModel):
    id: uuid.UUID
    slug: str
    owner: Literal["catalogue", "clinic"]
    chain: str
    step: int
    category: Category
    body_region: BodyRegion
    position: Position
    equipment: list[Equipment]
    default_dose: Dose
    progression_slug: str | None
    regression_slug: str | None
    alternatives: Alternatives
    requires_clinician_unlock: bool = Field(
        description="A high-load step (e.g. overpressure, nerve tensioners): it may only be added to a "
        "programme after a physiotherapist explicitly unlocks it for that patient."
    )
    contraindications: list[Contraindication] = Field(
        description="Conditions for which the exercise is not prescribed unless a clinician overrides."
    )
    side_required: bool = Field(description="One leg at a time: a prescription must choose left or right.")
    indications: list[str]
    stop_rules: list[StopRulePublic]
    tags: list[str]
    media: list[MediaPublic]
    sources: list[str]
    archived_at: datetime | None
    locale: str = Field(description="The locale the text fields are in: the requested one, else English.")
    name: str
    summary: str = Field(description="Dose words filled from `default_dose` (raw placeholders in snapshots).")
    steps: list[str]
    cautions: list[str]
    available_locales: list[str]


class ExerciseChain(BaseModel):
    chain: str
    title: str
    exercises: list[ExercisePublic] = Field(description="The ladder, easiest first.")
    position: int = Field(description="Index in `exercises` of the exercise that was asked for.")
