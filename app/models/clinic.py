import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import StringConstraints
from sqlalchemy import CheckConstraint, String
from sqlmodel import Field, SQLModel

from app.models.common import id_field, utc_field

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")]
AutoProgress = Literal["off", "suggest", "auto"]


class ClinicBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    slug: Slug = Field(min_length=2, max_length=64, unique=True)
    timezone: str = Field(default="UTC", max_length=64)
    adherence_low_threshold: int = Field(default=60, ge=0, le=100)
    auto_progress_default: AutoProgress = Field(default="suggest", sa_type=String(8))
    # An item with no green session and no change of dose for this many days raises one review alert.
    review_after_days: int = Field(default=14, ge=7, le=90, sa_column_kwargs={"server_default": "14"})


class Clinic(ClinicBase, table=True):
    __table_args__ = (
        CheckConstraint("adherence_low_threshold BETWEEN 0 AND 100", name="adherence_threshold_range"),
        CheckConstraint("auto_progress_default IN ('off', 'suggest', 'auto')", name="auto_progress_values"),
        CheckConstraint("review_after_days BETWEEN 7 AND 90", name="review_after_days_range"),
    )

    id: uuid.UUID = id_field()
    created_at: datetime = utc_field(default_now=True)
