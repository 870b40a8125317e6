"""Patient logging: session logs, symptom check-ins, safety alerts and outcome responses.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 06:27:31.598913
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "outcome_response",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("instrument", sa.String(length=12), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "instrument IN ('nprs', 'psfs', 'odi', 'rmdq', 'startback')",
            name=op.f("ck_outcome_response_instrument_values"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_outcome_response_clinic_id_clinic"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_outcome_response_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_response")),
    )
    with op.batch_alter_table("outcome_response", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outcome_response_clinic_id_patient_id_instrument",
            ["clinic_id", "patient_id", "instrument"],
            unique=False,
        )

    op.create_table(
        "symptom_check",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("tier", sa.String(length=12), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "tier IS NULL OR tier IN ('emergency', 'urgent', 'routine')",
            name=op.f("ck_symptom_check_tier_values"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_symptom_check_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_symptom_check_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_symptom_check")),
    )
    with op.batch_alter_table("symptom_check", schema=None) as batch_op:
        batch_op.create_index(
            "ix_symptom_check_clinic_id_patient_id_id", ["clinic_id", "patient_id", "id"], unique=False
        )

    op.create_table(
        "safety_alert",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=True),
        sa.Column("item_id", sa.Uuid(), nullable=True),
        sa.Column("tier", sa.String(length=12), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "source IN ('symptom_check', 'session_log')", name=op.f("ck_safety_alert_source_values")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_safety_alert_status_values")
        ),
        sa.CheckConstraint(
            "tier IN ('emergency', 'urgent', 'routine')", name=op.f("ck_safety_alert_tier_values")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_safety_alert_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_safety_alert_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_safety_alert_programme_id_programme"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_alert")),
    )
    with op.batch_alter_table("safety_alert", schema=None) as batch_op:
        batch_op.create_index(
            "ix_safety_alert_clinic_id_patient_id_id", ["clinic_id", "patient_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_safety_alert_clinic_id_status_id", ["clinic_id", "status", "id"], unique=False
        )

    op.create_table(
        "session_log",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("performed_at", sa.DateTime(), nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("sets_done", sa.Integer(), nullable=False),
        sa.Column("reps_done", sa.JSON(), nullable=False),
        sa.Column("hold_s", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("pain_during", sa.Integer(), nullable=False),
        sa.Column("pain_after", sa.Integer(), nullable=True),
        sa.Column("leg_symptoms", sa.String(length=12), nullable=False),
        sa.Column("response", sa.String(length=8), nullable=False),
        sa.Column("new_numbness_or_weakness", sa.Boolean(), nullable=False),
        sa.Column("effort", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("colour", sa.String(length=8), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("colour IN ('green', 'yellow', 'red')", name=op.f("ck_session_log_colour_values")),
        sa.CheckConstraint(
            "leg_symptoms IN ('none', 'buttock', 'thigh', 'below_knee', 'foot')",
            name=op.f("ck_session_log_leg_symptoms_values"),
        ),
        sa.CheckConstraint(
            "response IN ('better', 'same', 'worse')", name=op.f("ck_session_log_response_values")
        ),
        sa.CheckConstraint(
            "effort IS NULL OR effort BETWEEN 0 AND 10", name=op.f("ck_session_log_effort_range")
        ),
        sa.CheckConstraint(
            "pain_after IS NULL OR pain_after BETWEEN 0 AND 10", name=op.f("ck_session_log_pain_after_range")
        ),
        sa.CheckConstraint("pain_during BETWEEN 0 AND 10", name=op.f("ck_session_log_pain_during_range")),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_session_log_revision_positive")),
        sa.CheckConstraint("sets_done BETWEEN 0 AND 20", name=op.f("ck_session_log_sets_done_range")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_session_log_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["programme_item.id"],
            name=op.f("fk_session_log_item_id_programme_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_session_log_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_session_log_programme_id_programme"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_log")),
    )
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_session_log_clinic_id_item_id_performed_at",
            ["clinic_id", "item_id", "performed_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_session_log_clinic_id_patient_id_local_date",
            ["clinic_id", "patient_id", "local_date"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.drop_index("ix_session_log_clinic_id_patient_id_local_date")
        batch_op.drop_index("ix_session_log_clinic_id_item_id_performed_at")

    op.drop_table("session_log")
    with op.batch_alter_table("safety_alert", schema=None) as batch_op:
        batch_op.drop_index("ix_safety_alert_clinic_id_status_id")
        batch_op.drop_index("ix_safety_alert_clinic_id_patient_id_id")

    op.drop_table("safety_alert")
    with op.batch_alter_table("symptom_check", schema=None) as batch_op:
        batch_op.drop_index("ix_symptom_check_clinic_id_patient_id_id")

    op.drop_table("symptom_check")
    with op.batch_alter_table("outcome_response", schema=None) as batch_op:
        batch_op.drop_index("ix_outcome_response_clinic_id_patient_id_instrument")

    op.drop_table("outcome_response")
