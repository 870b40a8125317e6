import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import StringConstraints, field_validator
from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.models.common import (
    INPUT,
    IsoDateTime,
    clinic_fk,
    id_field,
    in_calendar,
    known_timezone,
    utc_field,
)

DirectionalPreference = Literal["extension", "flexion", "lateral", "none", "unknown"]
StartBackRisk = Literal["low", "medium", "high"]
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]


class PatientBase(SQLModel):
    display_name: str = Field(min_length=1, max_length=200)
    birth_year: int | None = Field(default=None, ge=1900)
    timezone: str = Field(default="UTC", max_length=64)
    locale: Locale = Field(default="en", max_length=16)
    # Clinical screening record (clinical-content.md section 3.2).
    directional_preference: DirectionalPreference = Field(default="unknown", sa_type=String(16))
    neurodynamic_sensitivity: bool | None = None
    stenosis_features: bool | None = None
    red_flags_screened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    startback_risk: StartBackRisk | None = Field(default=None, sa_type=String(8))
    # History the clinician screened (not asked again at every check-in): it combines with new signs a
    # patient reports (cancer + a new neurological sign → emergency), never raises an alert on its own.
    history_cancer: bool | None = Field(default=None, description="Has, or has had, cancer")
    history_immunosuppression: bool | None = Field(
        default=None,
        description="Weakened immunity: steroids, biologics, chemotherapy, HIV, injecting drug use, past TB",
    )
    history_fracture_risk: bool | None = Field(
        default=None, description="Osteoporosis or long-term steroid use"
    )
    history_major_trauma: bool | None = Field(
        default=None, description="The back pain began after major trauma (a bad fall, crash or blow)"
    )
    # Conditions checked against each exercise's contraindications when a programme is prescribed.
    pregnant: bool | None = Field(default=None, description="Pregnant, or less than 6 weeks after birth")
    osteoporosis: bool | None = Field(
        default=None, description="Osteoporosis or a vertebral fragility fracture"
    )
    uncontrolled_hypertension: bool | None = Field(
        default=None, description="High blood pressure not controlled"
    )
    hip_replacement: bool | None = Field(
        default=None, description="A hip replacement with movement precautions"
    )
    recent_spinal_surgery: bool | None = Field(
        default=None, description="Spinal surgery in the last 3 months"
    )


class Patient(PatientBase, table=True):
    __table_args__ = (
        UniqueConstraint("clinic_id", "external_id"),
        Index("ix_patient_clinic_id_id", "clinic_id", "id"),
        CheckConstraint(
            "directional_preference IN ('extension', 'flexion', 'lateral', 'none', 'unknown')",
            name="directional_preference_values",
        ),
        CheckConstraint("startback_risk IN ('low', 'medium', 'high')", name="startback_risk_values"),
        CheckConstraint("birth_year >= 1900", name="birth_year_range"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    external_id: str | None = Field(default=None, max_length=128)
    # Carried by every patient access token (claim `gen`) and compared on every request: a sign-out by
    # staff (or a new enrolment code) bumps it, so every device's access token stops working at once.
    session_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class _PatientInputRules(SQLModel):
    model_config = INPUT

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return known_timezone(value)

    @field_validator("birth_year", check_fields=False)
    @classmethod
    def _not_in_future(cls, value: int | None) -> int | None:
        if value is not None and value > datetime.now(UTC).year:
            raise ValueError("must not be in the future")
        return value

    @field_validator("red_flags_screened_at", check_fields=False)
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must include a UTC offset")
        return in_calendar(value).astimezone(UTC)


class PatientUpsert(_PatientInputRules, PatientBase):
    """Body of PUT /patients/by-external-id/{external_id}: the EHR's view of the patient."""

    red_flags_screened_at: IsoDateTime | None = None


class PatientCreate(PatientUpsert):
    external_id: str | None = Field(default=None, min_length=1, max_length=128)


class PatientUpdate(_PatientInputRules):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    birth_year: int | None = Field(default=None, ge=1900)
    timezone: str | None = Field(default=None, max_length=64)
    locale: Locale | None = Field(default=None, max_length=16)
    external_id: str | None = Field(default=None, min_length=1, max_length=128)
    directional_preference: DirectionalPreference | None = None
    neurodynamic_sensitivity: bool | None = None
    stenosis_features: bool | None = None
    red_flags_screened_at: IsoDateTime | None = None
    startback_risk: StartBackRisk | None = None
    history_cancer: bool | None = None
    history_immunosuppression: bool | None = None
    history_fracture_risk: bool | None = None
    history_major_trauma: bool | None = None
    pregnant: bool | None = None
    osteoporosis: bool | None = None
    uncontrolled_hypertension: bool | None = None
    hip_replacement: bool | None = None
    recent_spinal_surgery: bool | None = None


class PatientPublic(PatientBase):
    id: uuid.UUID
    clinic_id: uuid.UUID
    external_id: str | None
    created_at: datetime
    updated_at: datetime
