"""Exercise illustrations: the pose data each exercise is drawn from.

- exercise.illustration: pose data (app.models.illustration), JSON; NULL for a clinic's own exercise sent
  without it (it is then drawn from its position). The catalogue rows get theirs at the next seed (the
  seed's mapping version changed).

Revision ID: 0013
Revises: 0010 (the lead re-points this at 0012 when the chain is merged)
Create Date: 2026-12-03 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exercise") as batch:
        batch.add_column(sa.Column("illustration", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exercise") as batch:
        batch.drop_column("illustration")
