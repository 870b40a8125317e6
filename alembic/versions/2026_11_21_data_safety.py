"""Data safety: the session-log dose bounds the API enforces, and the alert's item as a foreign key.

The API already refused these values, so existing rows satisfy the new constraints; from now on no other
path (a script, a console, a bug) can store them either. Checked by tests/test_data_safety.py.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_session_log_hold_s_range"), "hold_s IS NULL OR hold_s BETWEEN 0 AND 3600"
        )
        batch_op.create_check_constraint(
            op.f("ck_session_log_duration_s_range"), "duration_s IS NULL OR duration_s BETWEEN 0 AND 21600"
        )
        batch_op.create_check_constraint(
            op.f("ck_session_log_utc_offset_range"), "utc_offset_minutes BETWEEN -1440 AND 1440"
        )

    with op.batch_alter_table("safety_alert", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_safety_alert_item_id_programme_item"),
            "programme_item",
            ["item_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("safety_alert", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_safety_alert_item_id_programme_item"), type_="foreignkey")

    with op.batch_alter_table("session_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_session_log_utc_offset_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_session_log_duration_s_range"), type_="check")
        batch_op.drop_constraint(op.f("ck_session_log_hold_s_range"), type_="check")
