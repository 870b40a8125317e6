"""Runs of the periodic jobs: one row per job, clinic and period, which is also the lease on that run."""

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.common import clinic_fk, id_field, utc_field


class JobRun(SQLModel, table=True):
    """Whoever inserted the row (or took over a lease that ran out) runs the job for that period; the job's
    work and `finished_at` are committed together, so a period's work is stored once."""

    __tablename__ = "job_run"
    # Also the index of every look-up: by clinic, job and period.
    __table_args__ = (UniqueConstraint("clinic_id", "job", "period"),)

    id: uuid.UUID = id_field()
    clinic_id: uuid.UUID = clinic_fk()
    job: str = Field(max_length=32)
    # The period in the clinic's time zone: a local date (daily jobs) or a UTC hour (hourly jobs).
    period: str = Field(max_length=16)
    runner: str = Field(max_length=64)
    leased_until: datetime = utc_field()
    attempts: int = 1
    started_at: datetime = utc_field(default_now=True)
    finished_at: datetime | None = utc_field(nullable=True)
    # What the run did, e.g. "2 emitted" (counts only, never patient data).
    outcome: str | None = Field(default=None, max_length=200)
