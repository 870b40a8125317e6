"""Exercise illustrations: the pose data each exercise is drawn from; the placeholder media links go.

- exercise.illustration: pose data (app.models.illustration), JSON; NULL for a clinic's own exercise sent
  without it (it is then drawn from its position). The catalogue rows get theirs at the next seed (the
  seed's mapping version changed).
- The catalogue's placeholder links (https://media.example.org/…) are taken out of exercise.media and of
  the exercises stored in programme revision snapshots: the service's own drawing replaces them (in a
  snapshot, from the next revision on). Downgrading does not bring them back.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 01:40:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLACEHOLDER = "https://media.example.org/"


def real_links(media: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in media if not str(entry.get("url", "")).startswith(PLACEHOLDER)]


def snapshot_without_placeholders(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The snapshot with every stored exercise's placeholder links removed (its other links kept)."""
    exercises = {
        exercise_id: {
            locale: {**shown, "media": real_links(shown.get("media", []))}
            for locale, shown in by_locale.items()
        }
        for exercise_id, by_locale in snapshot.get("exercises", {}).items()
    }
    return {**snapshot, "exercises": exercises}


def _clean(table: str, column: str, clean: Any) -> None:
    rows = sa.table(table, sa.column("id", sa.Uuid()), sa.column(column, sa.JSON()))
    connection = op.get_bind()
    found = connection.execute(
        sa.select(rows.c.id, rows.c[column]).where(sa.cast(rows.c[column], sa.Text).like(f"%{PLACEHOLDER}%"))
    ).all()
    for row_id, value in found:
        connection.execute(sa.update(rows).where(rows.c.id == row_id).values({column: clean(value)}))


def upgrade() -> None:
    with op.batch_alter_table("exercise") as batch:
        batch.add_column(sa.Column("illustration", sa.JSON(), nullable=True))
    _clean("exercise", "media", real_links)
    _clean("programme_revision", "snapshot", snapshot_without_placeholders)


def downgrade() -> None:
    with op.batch_alter_table("exercise") as batch:
        batch.drop_column("illustration")
