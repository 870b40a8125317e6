"""Progression engine: suggestions, the revision that last changed each item, and when the phase began.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 06:34:35.648718
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "progression_suggestion",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("evidence_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("based_on_revision", sa.Integer(), nullable=False),
        sa.Column("applied_revision", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "direction IN ('progress', 'regress')", name=op.f("ck_progression_suggestion_direction_values")
        ),
        sa.CheckConstraint(
            "kind IN ('dose', 'exercise', 'phase')", name=op.f("ck_progression_suggestion_kind_values")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'applied')",
            name=op.f("ck_progression_suggestion_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_progression_suggestion_clinic_id_clinic"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["programme_item.id"],
            name=op.f("fk_progression_suggestion_item_id_programme_item"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_progression_suggestion_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_progression_suggestion_programme_id_programme"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progression_suggestion")),
    )
    with op.batch_alter_table("progression_suggestion", schema=None) as batch_op:
        batch_op.create_index(
            "ix_progression_suggestion_clinic_id_evidence_key", ["clinic_id", "evidence_key"], unique=False
        )
        batch_op.create_index(
            "ix_progression_suggestion_clinic_id_programme_id_id",
            ["clinic_id", "programme_id", "id"],
            unique=False,
        )

    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phase_started_at", sa.DateTime(), nullable=True))

    with op.batch_alter_table("programme_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dose_revision", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:

    with op.batch_alter_table("programme_item", schema=None) as batch_op:
        batch_op.drop_column("dose_revision")

    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.drop_column("phase_started_at")

    with op.batch_alter_table("progression_suggestion", schema=None) as batch_op:
        batch_op.drop_index("ix_progression_suggestion_clinic_id_programme_id_id")
        batch_op.drop_index("ix_progression_suggestion_clinic_id_evidence_key")

    op.drop_table("progression_suggestion")
