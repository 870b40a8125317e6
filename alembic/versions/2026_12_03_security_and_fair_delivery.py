"""Security findings and fair webhook delivery (issue 19).

- patient.session_generation: carried by patient access tokens, bumped by a sign-out (lost phone);
- refresh_token.family_expires_at: a patient's sign-in has an absolute end however often it rotates;
- staff emails unique per clinic, not across clinics (creating a user no longer tells one clinic which
  emails another clinic uses);
- webhook_endpoint.clinical_codes: clinical codes in payloads only where an endpoint opts in;
- webhook_endpoint.failures_in_row, backoff_until: a failing endpoint is backed off as a whole;
- delivery.priority: alerts that send a patient to care are claimed first; two indexes for the fair
  claim (each endpoint's line in claim order; the leased rows).

New NOT NULL columns have server defaults, so existing rows need no backfill.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("family_expires_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_constraint("uq_staff_user_email", type_="unique")
        batch_op.create_unique_constraint("uq_staff_user_clinic_id_email", ["clinic_id", "email"])
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("clinical_codes", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("failures_in_row", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("backoff_until", sa.DateTime(), nullable=True))
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.SmallInteger(), server_default="1", nullable=False))
        batch_op.create_index(
            "ix_delivery_endpoint_line",
            ["endpoint_id", "status", "priority", "next_attempt_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_delivery_status_locked_until",
            ["status", "locked_until", "clinic_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_status_locked_until")
        batch_op.drop_index("ix_delivery_endpoint_line")
        batch_op.drop_column("priority")
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.drop_column("backoff_until")
        batch_op.drop_column("failures_in_row")
        batch_op.drop_column("clinical_codes")
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_constraint("uq_staff_user_clinic_id_email", type_="unique")
        batch_op.create_unique_constraint("uq_staff_user_email", ["email"])
    with op.batch_alter_table("refresh_token", schema=None) as batch_op:
        batch_op.drop_column("family_expires_at")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
