"""Safety hold: screened history on the patient, holds on programmes, suspended items, resolution notes.

All new columns are nullable, so existing rows need no backfill: no history recorded, no hold, nothing
suspended, and alerts resolved before this had no note. Audit rows gain an optional detail (the note a
clinician wrote when resolving an alert).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATIENT_HISTORY = (
    "history_cancer",
    "history_immunosuppression",
    "history_fracture_risk",
    "history_major_trauma",
)


def upgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        for name in PATIENT_HISTORY:
            batch_op.add_column(sa.Column(name, sa.Boolean(), nullable=True))
    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.add_column(sa.Column("safety_hold", sa.JSON(), nullable=True))
    with op.batch_alter_table("programme_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("suspension", sa.JSON(), nullable=True))
    with op.batch_alter_table("safety_alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution_note", sa.Text(), nullable=True))
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("detail")
    with op.batch_alter_table("safety_alert", schema=None) as batch_op:
        batch_op.drop_column("resolution_note")
    with op.batch_alter_table("programme_item", schema=None) as batch_op:
        batch_op.drop_column("suspension")
    with op.batch_alter_table("programme", schema=None) as batch_op:
        batch_op.drop_column("safety_hold")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        for name in reversed(PATIENT_HISTORY):
            batch_op.drop_column(name)
