"""Credentials: refresh tokens, patient enrolment codes, EHR API keys and failed sign-in records."""

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import CheckConstraint, Index, String
from sqlmodel import Field, SQLModel

from app.models.common import INPUT, clinic_fk, id_field, utc_field

SubjectKind = Literal["staff", "patient"]


class RefreshToken(SQLModel, table=True):
    """One row per issued refresh token; rotation marks the old row used, reuse revokes the family."""

    __tablename__ = "refresh_token"

    __table_args__ = (
        CheckConstraint("subject_kind IN ('staff', 'patient')", name="subject_kind_values"),
        CheckConstraint(
            "(subject_kind = 'staff' AND user_id IS NOT NULL AND patient_id IS NULL) OR "
            "(subject_kind = 'patient' AND patient_id IS NOT NULL AND user_id IS NULL)",
            name="one_subject",
        ),
        Index("ix_refresh_token_clinic_id_family_id", "clinic_id", "family_id"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    subject_kind: SubjectKind = Field(sa_type=String(8))
    user_id: uuid.UUID | None = Field(default=None, foreign_key="staff_user.id", ondelete="CASCADE")
    patient_id: uuid.UUID | None = Field(default=None, foreign_key="patient.id", ondelete="CASCADE")
    family_id: uuid.UUID
    token_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = utc_field()
    # The family's absolute end: rotation never carries a token past it (null: no absolute end).
    family_expires_at: datetime | None = utc_field(nullable=True)
    used_at: datetime | None = utc_field(nullable=True)
    revoked_at: datetime | None = utc_field(nullable=True)
    created_at: datetime = utc_field(default_now=True)


class EnrolmentCode(SQLModel, table=True):
    __tablename__ = "enrolment_code"
    __table_args__ = (Index("ix_enrolment_code_clinic_id_patient_id", "clinic_id", "patient_id"),)

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    patient_id: uuid.UUID = Field(foreign_key="patient.id", ondelete="CASCADE")
    code_hash: str = Field(max_length=64, unique=True)
    expires_at: datetime = utc_field()
    used_at: datetime | None = utc_field(nullable=True)
    revoked_at: datetime | None = utc_field(nullable=True)
    created_by: uuid.UUID | None = None
    created_at: datetime = utc_field(default_now=True)


class EnrolmentCodePublic(SQLModel):
    code: str
    patient_id: uuid.UUID
    expires_at: datetime


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    __table_args__ = (Index("ix_api_key_clinic_id_id", "clinic_id", "id"),)

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    name: str = Field(max_length=200)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    created_by: uuid.UUID | None = None
    created_at: datetime = utc_field(default_now=True)
    revoked_at: datetime | None = utc_field(nullable=True)


class ApiKeyCreate(SQLModel):
    model_config = INPUT

    name: str = Field(min_length=1, max_length=200)


class ApiKeyPublic(SQLModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret key. It is shown only in this response; store it now.")


class LoginFailure(SQLModel, table=True):
    """A failed sign-in, keyed by account or address (hashed), counted in a sliding window."""

    __tablename__ = "login_failure"

    __table_args__ = (Index("ix_login_failure_scope_key_occurred_at", "scope_key", "occurred_at"),)

    id: uuid.UUID = id_field()
    scope_key: str = Field(max_length=80)
    occurred_at: datetime = utc_field(default_now=True)


class TokenPair(SQLModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Access token lifetime in seconds")


class TokenRequest(SQLModel):
    """The OAuth2 token request (RFC 6749 §4.3 and §6), form-encoded. Without `grant_type` the request is
    taken as the password grant, as the service's first clients send it."""

    grant_type: str | None = Field(default=None, max_length=40, description="password or refresh_token")
    username: str | None = Field(default=None, max_length=320, description="password grant: the email")
    password: str | None = Field(default=None, max_length=1024, description="password grant")
    refresh_token: str | None = Field(default=None, max_length=256, description="refresh_token grant")
    scope: str | None = Field(default=None, max_length=200, description="Ignored: there are no scopes")
    client_id: str | None = Field(
        default=None,
        max_length=200,
        description="The clinic's slug: needed only when one email and password open accounts at two clinics",
    )


class RefreshRequest(SQLModel):
    model_config = INPUT

    refresh_token: str = Field(min_length=1, max_length=256)


class EnrolRequest(SQLModel):
    model_config = INPUT

    code: str = Field(min_length=1, max_length=32)
