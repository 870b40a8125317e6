"""Pacing and promises: next-morning reports, review prompts, pain by region, contraindication screening.

- next_morning_report: one answer per patient and local day of sessions (better, same, worse);
- session_log: back and leg pain, the leg symptoms' extent before the session, and the side;
- patient: the screening record's contraindication conditions;
- programme: activated_at (backfilled from the first revision whose schedule is active);
- programme_item: a clinician's contraindication override;
- safety_alert: sources next_morning and review, and a review_key that makes a review prompt one alert;
- progression_suggestion: the status superseded;
- clinic: review_after_days (default 14).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCREENING = (
    "pregnant",
    "osteoporosis",
    "uncontrolled_hypertension",
    "hip_replacement",
    "recent_spinal_surgery",
)
LEG = "('none', 'buttock', 'thigh', 'below_knee', 'foot')"


def upgrade() -> None:
    op.create_table(
        "next_morning_report",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("session_date", sa.Date(), nullable=False),
        sa.Column("response", sa.String(length=8), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "response IN ('better', 'same', 'worse')", name=op.f("ck_next_morning_report_response_values")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_next_morning_report_clinic_id_clinic"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_next_morning_report_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["programme.id"],
            name=op.f("fk_next_morning_report_programme_id_programme"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_next_morning_report")),
        sa.UniqueConstraint(
            "patient_id", "session_date", name=op.f("uq_next_morning_report_patient_id_session_date")
        ),
    )
    op.create_index(
        "ix_next_morning_report_clinic_id_patient_id_session_date",
        "next_morning_report",
        ["clinic_id", "patient_id", "session_date"],
    )
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("back_pain", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("leg_pain", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("leg_symptoms_before", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("leg_side", sa.String(length=8), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_session_log_leg_symptoms_before_values"),
            f"leg_symptoms_before IS NULL OR leg_symptoms_before IN {LEG}",
        )
        batch_op.create_check_constraint(
            op.f("ck_session_log_leg_side_values"),
            "leg_side IS NULL OR leg_side IN ('left', 'right', 'both')",
        )
        batch_op.create_check_constraint(
            op.f("ck_session_log_back_pain_range"), "back_pain IS NULL OR back_pain BETWEEN 0 AND 10"
        )
        batch_op.create_check_constraint(
            op.f("ck_session_log_leg_pain_range"), "leg_pain IS NULL OR leg_pain BETWEEN 0 AND 10"
        )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        for name in SCREENING:
            batch_op.add_column(sa.Column(name, sa.Boolean(), nullable=True))
    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activated_at", sa.DateTime(), nullable=True))
    _backfill_activated_at()
    with op.batch_alter_table("programme_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contraindication_override", sa.JSON(), nullable=True))
    with op.batch_alter_table("safety_alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_key", sa.String(length=200), nullable=True))
        batch_op.drop_constraint(op.f("ck_safety_alert_source_values"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_safety_alert_source_values"),
            "source IN ('symptom_check', 'session_log', 'next_morning', 'review')",
        )
        batch_op.create_index(
            "uq_safety_alert_clinic_id_review_key", ["clinic_id", "review_key"], unique=True
        )
    with op.batch_alter_table("progression_suggestion", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_progression_suggestion_status_values"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_progression_suggestion_status_values"),
            "status IN ('pending', 'accepted', 'rejected', 'applied', 'superseded')",
        )
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_after_days", sa.Integer(), server_default="14", nullable=False))
        batch_op.create_check_constraint(
            op.f("ck_clinic_review_after_days_range"), "review_after_days BETWEEN 7 AND 90"
        )


def _backfill_activated_at() -> None:
    """A programme was activated when its first revision with an active schedule was made."""
    bind = op.get_bind()
    revisions = sa.table(
        "programme_revision",
        sa.column("programme_id", sa.Uuid()),
        sa.column("schedule", sa.JSON()),
        sa.column("created_at", sa.DateTime()),
        sa.column("number", sa.Integer()),
    )
    programmes = sa.table("programme", sa.column("id", sa.Uuid()), sa.column("activated_at", sa.DateTime()))
    first: dict = {}
    rows = bind.execute(
        sa.select(revisions.c.programme_id, revisions.c.schedule, revisions.c.created_at).order_by(
            revisions.c.programme_id, revisions.c.number
        )
    )
    for programme_id, schedule, created_at in rows:
        if programme_id not in first and (schedule or {}).get("status") == "active":
            first[programme_id] = created_at
    for programme_id, activated_at in first.items():
        bind.execute(
            sa.update(programmes).where(programmes.c.id == programme_id).values(activated_at=activated_at)
        )


def downgrade() -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_clinic_review_after_days_range"), type_="check")
        batch_op.drop_column("review_after_days")
    op.execute("UPDATE progression_suggestion SET status = 'rejected' WHERE status = 'superseded'")
    with op.batch_alter_table("progression_suggestion", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_progression_suggestion_status_values"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_progression_suggestion_status_values"),
            "status IN ('pending', 'accepted', 'rejected', 'applied')",
        )
    op.execute("DELETE FROM safety_alert WHERE source IN ('next_morning', 'review')")
    with op.batch_alter_table("safety_alert", schema=None) as batch_op:
        batch_op.drop_index("uq_safety_alert_clinic_id_review_key")
        batch_op.drop_constraint(op.f("ck_safety_alert_source_values"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_safety_alert_source_values"), "source IN ('symptom_check', 'session_log')"
        )
        batch_op.drop_column("review_key")
    with op.batch_alter_table("programme_item", schema=None) as batch_op:
        batch_op.drop_column("contraindication_override")
    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.drop_column("activated_at")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        for name in reversed(SCREENING):
            batch_op.drop_column(name)
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        for name in ("leg_pain_range", "back_pain_range", "leg_side_values", "leg_symptoms_before_values"):
            batch_op.drop_constraint(op.f(f"ck_session_log_{name}"), type_="check")
        for name in ("leg_side", "leg_symptoms_before", "leg_pain", "back_pain"):
            batch_op.drop_column(name)
    op.drop_index(
        "ix_next_morning_report_clinic_id_patient_id_session_date", table_name="next_morning_report"
    )
    op.drop_table("next_morning_report")
