"""Programmes: clinic templates, phased prescriptions (current revision as rows) and revision snapshots.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 06:21:41.129701
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "programme_template",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("phases", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_programme_template_clinic_id_clinic"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_template")),
    )
    with op.batch_alter_table("programme_template", schema=None) as batch_op:
        batch_op.create_index("ix_programme_template_clinic_id_id", ["clinic_id", "id"], unique=False)

    op.create_table(
        "programme",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("auto_progress", sa.String(length=8), nullable=False),
        sa.Column("current_phase", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "auto_progress IN ('off', 'suggest', 'auto')", name=op.f("ck_programme_auto_progress_values")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'paused', 'completed', 'cancelled')",
            name=op.f("ck_programme_status_values"),
        ),
        sa.CheckConstraint("current_phase >= 0", name=op.f("ck_programme_current_phase_positive")),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date >= start_date", name=op.f("ck_programme_dates_ordered")
        ),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_programme_revision_positive")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_programme_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patient.id"], name=op.f("fk_programme_patient_id_patient"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["programme_template.id"],
            name=op.f("fk_programme_template_id_programme_template"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme")),
    )
    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.create_index("ix_programme_clinic_id_id", ["clinic_id", "id"], unique=False)
        batch_op.create_index(
            "ix_programme_clinic_id_patient_id_id", ["clinic_id", "patient_id", "id"], unique=False
        )
        batch_op.create_index(
            "uq_programme_current_per_patient",
            ["clinic_id", "patient_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('active', 'paused')"),
            postgresql_where=sa.text("status IN ('active', 'paused')"),
        )

    op.create_table(
        "programme_item",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("phase_position", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("exercise_id", sa.Uuid(), nullable=False),
        sa.Column("clinician_unlocked", sa.Boolean(), nullable=False),
        sa.Column("sets", sa.Integer(), nullable=True),
        sa.Column("reps", sa.Integer(), nullable=True),
        sa.Column("reps_max", sa.Integer(), nullable=True),
        sa.Column("hold_s", sa.Integer(), nullable=True),
        sa.Column("rest_s", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("load", sa.String(length=100), nullable=True),
        sa.Column("side", sa.String(length=12), nullable=False),
        sa.Column("times_per_day", sa.Integer(), nullable=False),
        sa.Column("days_mask", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("progression_rule", sa.JSON(), nullable=True),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "side IN ('left', 'right', 'both', 'alternating')", name=op.f("ck_programme_item_side_values")
        ),
        sa.CheckConstraint("days_mask BETWEEN 1 AND 127", name=op.f("ck_programme_item_days_mask_range")),
        sa.CheckConstraint(
            "duration_s IS NULL OR duration_s BETWEEN 1 AND 7200",
            name=op.f("ck_programme_item_duration_s_range"),
        ),
        sa.CheckConstraint(
            "hold_s IS NULL OR hold_s BETWEEN 1 AND 600", name=op.f("ck_programme_item_hold_s_range")
        ),
        sa.CheckConstraint(
            "reps IS NOT NULL OR hold_s IS NOT NULL OR duration_s IS NOT NULL",
            name=op.f("ck_programme_item_dose_has_amount"),
        ),
        sa.CheckConstraint(
            "reps IS NULL OR reps BETWEEN 1 AND 100", name=op.f("ck_programme_item_reps_range")
        ),
        sa.CheckConstraint(
            "reps_max IS NULL OR (reps IS NOT NULL AND reps_max >= reps)",
            name=op.f("ck_programme_item_reps_max_ge_reps"),
        ),
        sa.CheckConstraint(
            "reps_max IS NULL OR reps_max BETWEEN 1 AND 100", name=op.f("ck_programme_item_reps_max_range")
        ),
        sa.CheckConstraint(
            "rest_s IS NULL OR rest_s BETWEEN 0 AND 600", name=op.f("ck_programme_item_rest_s_range")
        ),
        sa.CheckConstraint(
            "sets IS NULL OR sets BETWEEN 1 AND 10", name=op.f("ck_programme_item_sets_range")
        ),
        sa.CheckConstraint(
            "times_per_day IS NULL OR times_per_day BETWEEN 1 AND 12",
            name=op.f("ck_programme_item_times_per_day_range"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_programme_item_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["exercise_id"], ["exercise.id"], name=op.f("fk_programme_item_exercise_id_exercise")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_programme_item_programme_id_programme"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_item")),
    )
    with op.batch_alter_table("programme_item", schema=None) as batch_op:
        batch_op.create_index(
            "ix_programme_item_clinic_id_programme_id", ["clinic_id", "programme_id"], unique=False
        )

    op.create_table(
        "programme_phase",
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("goal", sa.Text(), nullable=True),
        sa.Column("min_days", sa.Integer(), nullable=True),
        sa.Column("min_sessions", sa.Integer(), nullable=True),
        sa.Column("min_adherence_pct", sa.Integer(), nullable=True),
        sa.Column("max_pain", sa.Integer(), nullable=True),
        sa.Column("green_streak", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "green_streak IS NULL OR green_streak BETWEEN 0 AND 50",
            name=op.f("ck_programme_phase_green_streak_range"),
        ),
        sa.CheckConstraint(
            "max_pain IS NULL OR max_pain BETWEEN 0 AND 10", name=op.f("ck_programme_phase_max_pain_range")
        ),
        sa.CheckConstraint(
            "min_adherence_pct IS NULL OR min_adherence_pct BETWEEN 0 AND 100",
            name=op.f("ck_programme_phase_min_adherence_pct_range"),
        ),
        sa.CheckConstraint(
            "min_days IS NULL OR min_days BETWEEN 0 AND 365", name=op.f("ck_programme_phase_min_days_range")
        ),
        sa.CheckConstraint(
            "min_sessions IS NULL OR min_sessions BETWEEN 0 AND 1000",
            name=op.f("ck_programme_phase_min_sessions_range"),
        ),
        sa.CheckConstraint("position >= 0", name=op.f("ck_programme_phase_position_positive")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_programme_phase_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_programme_phase_programme_id_programme"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("programme_id", "position", name=op.f("pk_programme_phase")),
    )
    op.create_table(
        "programme_revision",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("author_kind", sa.String(length=8), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "reason IN ('edit', 'progression', 'regression', 'status')",
            name=op.f("ck_programme_revision_reason_values"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_programme_revision_clinic_id_clinic"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_programme_revision_programme_id_programme"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_revision")),
        sa.UniqueConstraint("programme_id", "number", name=op.f("uq_programme_revision_programme_id_number")),
    )
    with op.batch_alter_table("programme_revision", schema=None) as batch_op:
        batch_op.create_index(
            "ix_programme_revision_clinic_id_programme_id_number",
            ["clinic_id", "programme_id", "number"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("programme_revision", schema=None) as batch_op:
        batch_op.drop_index("ix_programme_revision_clinic_id_programme_id_number")

    op.drop_table("programme_revision")
    op.drop_table("programme_phase")
    with op.batch_alter_table("programme_item", schema=None) as batch_op:
        batch_op.drop_index("ix_programme_item_clinic_id_programme_id")

    op.drop_table("programme_item")
    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_programme_current_per_patient",
            sqlite_where=sa.text("status IN ('active', 'paused')"),
            postgresql_where=sa.text("status IN ('active', 'paused')"),
        )
        batch_op.drop_index("ix_programme_clinic_id_patient_id_id")
        batch_op.drop_index("ix_programme_clinic_id_id")

    op.drop_table("programme")
    with op.batch_alter_table("programme_template", schema=None) as batch_op:
        batch_op.drop_index("ix_programme_template_clinic_id_id")

    op.drop_table("programme_template")
