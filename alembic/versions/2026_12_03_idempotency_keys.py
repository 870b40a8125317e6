"""Idempotency keys (issue 19 item 7, DESIGN §4): the first answer of a creating POST sent with an
`Idempotency-Key`, replayed to its retries for 24 hours (app/idempotency.py).

- idempotency_key: one row per (clinic, caller, key digest), unique, so that a concurrent duplicate's
  claim conflicts with the first; the answer is stored encrypted (app/services/idempotency.py); an index
  on (clinic_id, created_at) for the daily prune.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("caller_id", sa.Uuid(), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("answer", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_idempotency_key_clinic_id_clinic"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "clinic_id",
            "caller_id",
            "key_digest",
            name=op.f("uq_idempotency_key_clinic_id_caller_id_key_digest"),
        ),
    )
    op.create_index(
        "ix_idempotency_key_clinic_id_created_at",
        "idempotency_key",
        ["clinic_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_clinic_id_created_at", table_name="idempotency_key")
    op.drop_table("idempotency_key")
