"""Exercise library: catalogue and clinic-owned exercises, with their text per locale.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:53:27.176104
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exercise",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_clinic_id", sa.Uuid(), nullable=True),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("chain", sa.String(length=80), nullable=False),
        sa.Column("chain_title", sa.JSON(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("body_region", sa.String(length=16), nullable=False),
        sa.Column("position", sa.String(length=16), nullable=False),
        sa.Column("equipment", sa.JSON(), nullable=False),
        sa.Column("default_dose", sa.JSON(), nullable=False),
        sa.Column("progression_slug", sa.String(length=80), nullable=True),
        sa.Column("regression_slug", sa.String(length=80), nullable=True),
        sa.Column("alternatives", sa.JSON(), nullable=False),
        sa.Column("requires_clinician_unlock", sa.Boolean(), nullable=False),
        sa.Column("indications", sa.JSON(), nullable=False),
        sa.Column("stop_rules", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "body_region IN ('lumbar', 'hip', 'lower_limb', 'trunk', 'whole_body')",
            name=op.f("ck_exercise_body_region_values"),
        ),
        sa.CheckConstraint(
            "category IN ('directional_preference', 'strength', 'endurance', 'motor_control', 'neurodynamics', 'mobility', 'stretch', 'aerobic')",
            name=op.f("ck_exercise_category_values"),
        ),
        sa.CheckConstraint(
            "position IN ('prone', 'supine', 'sitting', 'standing', 'side_lying', 'quadruped', 'kneeling')",
            name=op.f("ck_exercise_position_values"),
        ),
        sa.CheckConstraint("step BETWEEN 0 AND 50", name=op.f("ck_exercise_step_range")),
        sa.ForeignKeyConstraint(
            ["owner_clinic_id"],
            ["clinic.id"],
            name=op.f("fk_exercise_owner_clinic_id_clinic"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exercise")),
        sa.UniqueConstraint("owner_clinic_id", "slug", name=op.f("uq_exercise_owner_clinic_id_slug")),
    )
    with op.batch_alter_table("exercise", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exercise_owner_clinic_id_chain_step", ["owner_clinic_id", "chain", "step"], unique=False
        )
        batch_op.create_index("ix_exercise_owner_clinic_id_id", ["owner_clinic_id", "id"], unique=False)
        batch_op.create_index(
            "uq_exercise_catalogue_slug",
            ["slug"],
            unique=True,
            sqlite_where=sa.text("owner_clinic_id IS NULL"),
            postgresql_where=sa.text("owner_clinic_id IS NULL"),
        )

    op.create_table(
        "exercise_text",
        sa.Column("exercise_id", sa.Uuid(), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("summary", sa.String(length=600), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("cautions", sa.JSON(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exercise_id"],
            ["exercise.id"],
            name=op.f("fk_exercise_text_exercise_id_exercise"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("exercise_id", "locale", name=op.f("pk_exercise_text")),
    )


def downgrade() -> None:
    op.drop_table("exercise_text")
    with op.batch_alter_table("exercise", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_exercise_catalogue_slug",
            sqlite_where=sa.text("owner_clinic_id IS NULL"),
            postgresql_where=sa.text("owner_clinic_id IS NULL"),
        )
        batch_op.drop_index("ix_exercise_owner_clinic_id_id")
        batch_op.drop_index("ix_exercise_owner_clinic_id_chain_step")

    op.drop_table("exercise")
