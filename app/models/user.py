import uuid
from datetime import datetime
from typing import Literal

from pydantic import EmailStr
from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.common import INPUT, clinic_fk, id_field, utc_field

Role = Literal["admin", "physio"]


class UserBase(SQLModel):
    # Unique per clinic, not across clinics: see docs/security.md (F6).
    email: str = Field(max_length=254)
    name: str = Field(min_length=1, max_length=200)
    role: Role = Field(default="physio", sa_type=String(16))
    active: bool = True


class User(UserBase, table=True):
    __tablename__ = "staff_user"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'physio')", name="role_values"),
        Index("ix_staff_user_clinic_id_id", "clinic_id", "id"),
        UniqueConstraint("clinic_id", "email"),
    )

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    password_hash: str = Field(max_length=255)
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class UserCreate(SQLModel):
    model_config = INPUT

    email: EmailStr = Field(max_length=254)
    name: str = Field(min_length=1, max_length=200)
    role: Role = "physio"
    password: str = Field(min_length=10, max_length=128)


class UserUpdate(SQLModel):
    model_config = INPUT

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=10, max_length=128)


class UserPublic(UserBase):
    id: uuid.UUID
    clinic_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
