"""Foundation: clinics, staff users, patients, credentials and the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:43:51.184168
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "clinic",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("adherence_low_threshold", sa.Integer(), nullable=False),
        sa.Column("auto_progress_default", sa.String(length=8), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "auto_progress_default IN ('off', 'suggest', 'auto')", name=op.f("ck_clinic_auto_progress_values")
        ),
        sa.CheckConstraint(
            "adherence_low_threshold BETWEEN 0 AND 100", name=op.f("ck_clinic_adherence_threshold_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic")),
        sa.UniqueConstraint("slug", name=op.f("uq_clinic_slug")),
    )
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope_key", sa.String(length=80), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index(
            "ix_login_failure_scope_key_occurred_at", ["scope_key", "occurred_at"], unique=False
        )

    op.create_table(
        "api_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_api_key_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index("ix_api_key_clinic_id_id", ["clinic_id", "id"], unique=False)

    op.create_table(
        "audit_event",
        sa.Column("actor_kind", sa.String(length=8), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_audit_event_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_clinic_id_id", ["clinic_id", "id"], unique=False)
        batch_op.create_index(
            "ix_audit_event_clinic_id_patient_id_id", ["clinic_id", "patient_id", "id"], unique=False
        )

    op.create_table(
        "patient",
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("directional_preference", sa.String(length=16), nullable=False),
        sa.Column("neurodynamic_sensitivity", sa.Boolean(), nullable=True),
        sa.Column("stenosis_features", sa.Boolean(), nullable=True),
        sa.Column("red_flags_screened_at", sa.DateTime(), nullable=True),
        sa.Column("startback_risk", sa.String(length=8), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "directional_preference IN ('extension', 'flexion', 'lateral', 'none', 'unknown')",
            name=op.f("ck_patient_directional_preference_values"),
        ),
        sa.CheckConstraint(
            "startback_risk IN ('low', 'medium', 'high')", name=op.f("ck_patient_startback_risk_values")
        ),
        sa.CheckConstraint("birth_year >= 1900", name=op.f("ck_patient_birth_year_range")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_patient_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient")),
        sa.UniqueConstraint("clinic_id", "external_id", name=op.f("uq_patient_clinic_id_external_id")),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index("ix_patient_clinic_id_id", ["clinic_id", "id"], unique=False)

    op.create_table(
        "staff_user",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'physio')", name=op.f("ck_staff_user_role_values")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_staff_user_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_user_email")),
    )
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.create_index("ix_staff_user_clinic_id_id", ["clinic_id", "id"], unique=False)

    op.create_table(
        "enrolment_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_enrolment_code_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_enrolment_code_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolment_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_enrolment_code_code_hash")),
    )
    with op.batch_alter_table("enrolment_code", schema=None) as batch_op:
        batch_op.create_index(
            "ix_enrolment_code_clinic_id_patient_id", ["clinic_id", "patient_id"], unique=False
        )

    op.create_table(
        "refresh_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("subject_kind", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "(subject_kind = 'staff' AND user_id IS NOT NULL AND patient_id IS NULL) OR (subject_kind = 'patient' AND patient_id IS NOT NULL AND user_id IS NULL)",
            name=op.f("ck_refresh_token_one_subject"),
        ),
        sa.CheckConstraint(
            "subject_kind IN ('staff', 'patient')", name=op.f("ck_refresh_token_subject_kind_values")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_refresh_token_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_refresh_token_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_user.id"],
            name=op.f("fk_refresh_token_user_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_token_token_hash")),
    )
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.create_index(
            "ix_refresh_token_clinic_id_family_id", ["clinic_id", "family_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.drop_index("ix_refresh_token_clinic_id_family_id")

    op.drop_table("refresh_token")
    with op.batch_alter_table("enrolment_code", schema=None) as batch_op:
        batch_op.drop_index("ix_enrolment_code_clinic_id_patient_id")

    op.drop_table("enrolment_code")
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_user_clinic_id_id")

    op.drop_table("staff_user")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_clinic_id_id")

    op.drop_table("patient")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_clinic_id_patient_id_id")
        batch_op.drop_index("ix_audit_event_clinic_id_id")

    op.drop_table("audit_event")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index("ix_api_key_clinic_id_id")

    op.drop_table("api_key")
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failure_scope_key_occurred_at")

    op.drop_table("login_failure")
    op.drop_table("clinic")
