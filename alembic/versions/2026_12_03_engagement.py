"""Engagement and monitoring: periodic job runs (leases), reminder preferences, calendar feed tokens,
missed-day nudges, staff interactions.

- job_run: one row per periodic job, clinic and period; the lease on that run and its result;
- reminder_preference: a patient's reminder times, days, quiet hours and evening time;
- calendar_token: the hashed secret of a patient's iCalendar feed URL (revocable);
- missed_day: one row per patient and local day nudged (adherence.missed_day is emitted once);
- interaction: a staff member's minutes with a patient (live or async), for the monitoring report.

Only new tables: nothing to backfill.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 00:40:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from alembic import op

revision: str = "0012"
# The chain's 0011 comes from another branch (issue 19); until it is merged this follows 0010.
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant_columns(table: str, patient: bool = True) -> list[Any]:
    columns: list[Any] = [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f(f"fk_{table}_clinic_id_clinic"), ondelete="CASCADE"
        ),
    ]
    if patient:
        columns += [
            sa.Column("patient_id", sa.Uuid(), nullable=False),
            sa.ForeignKeyConstraint(
                ["patient_id"],
                ["patient.id"],
                name=op.f(f"fk_{table}_patient_id_patient"),
                ondelete="CASCADE",
            ),
        ]
    return columns


def upgrade() -> None:
    op.create_table(
        "job_run",
        *_tenant_columns("job_run", patient=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("runner", sa.String(length=64), nullable=False),
        sa.Column("leased_until", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.UniqueConstraint("clinic_id", "job", "period", name=op.f("uq_job_run_clinic_id_job_period")),
    )
    op.create_table(
        "reminder_preference",
        *_tenant_columns("reminder_preference"),
        sa.Column("times", sa.JSON(), nullable=False),
        sa.Column("days", sa.JSON(), nullable=True),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("evening", sa.String(length=5), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint(
            "clinic_id", "patient_id", name=op.f("uq_reminder_preference_clinic_id_patient_id")
        ),
    )
    op.create_table(
        "calendar_token",
        *_tenant_columns("calendar_token"),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_token_token_hash")),
    )
    op.create_index(
        "ix_calendar_token_clinic_id_patient_id", "calendar_token", ["clinic_id", "patient_id"], unique=False
    )
    op.create_table(
        "missed_day",
        *_tenant_columns("missed_day"),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint(
            "clinic_id",
            "patient_id",
            "local_date",
            name=op.f("uq_missed_day_clinic_id_patient_id_local_date"),
        ),
    )
    op.create_table(
        "interaction",
        *_tenant_columns("interaction"),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('live', 'async')", name=op.f("ck_interaction_kind_values")),
        sa.CheckConstraint("minutes BETWEEN 1 AND 600", name=op.f("ck_interaction_minutes_range")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_user.id"], name=op.f("fk_interaction_user_id_staff_user"), ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_interaction_clinic_id_patient_id_occurred_at",
        "interaction",
        ["clinic_id", "patient_id", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_interaction_clinic_id_patient_id_occurred_at", table_name="interaction")
    op.drop_table("interaction")
    op.drop_table("missed_day")
    op.drop_index("ix_calendar_token_clinic_id_patient_id", table_name="calendar_token")
    op.drop_table("calendar_token")
    op.drop_table("reminder_preference")
    op.drop_table("job_run")
