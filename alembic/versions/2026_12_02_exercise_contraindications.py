"""Exercise contraindications and side_required; one stop-rule set for nerve glides.

Each exercise gains the conditions for which it is not prescribed unless a clinician overrides (a JSON
list of codes) and whether a prescription must choose a leg. Existing rows get the defaults through the
server defaults ('[]' and false), so no backfill is needed; the next `hep seed` fills in the catalogue's.

The stop rule `brief_tingling_must_settle` is retired: a neurodynamics exercise now carries
`nerve_glide_symptoms` and `leg_pain_above_3` instead of it, `new_numbness_or_weakness` and
`pain_above_5` (which contradicted it). Stored rows, a clinic's own exercises included, are rewritten so
they stay valid and readable; the downgrade maps the new pair back to the old code.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 20:00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NERVE_RULES = ["nerve_glide_symptoms", "leg_pain_above_3"]
RETIRED_ON_NERVES = ("brief_tingling_must_settle", "new_numbness_or_weakness", "pain_above_5")

_exercise = sa.table(
    "exercise",
    sa.column("id", sa.Uuid()),
    sa.column("category", sa.String()),
    sa.column("stop_rules", sa.JSON()),
)


def _rewrite_stop_rules(rewrite: Callable[[str, list[str]], list[str]]) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_exercise.c.id, _exercise.c.category, _exercise.c.stop_rules)).all()
    for row in rows:
        rules = rewrite(row.category, list(row.stop_rules))
        if rules != row.stop_rules:
            bind.execute(_exercise.update().where(_exercise.c.id == row.id).values(stop_rules=rules))


def _to_nerve_rules(category: str, rules: list[str]) -> list[str]:
    if category != "neurodynamics":
        return [rule for rule in rules if rule != "brief_tingling_must_settle"]
    kept = [rule for rule in rules if rule not in RETIRED_ON_NERVES]
    return kept + [rule for rule in NERVE_RULES if rule not in kept]


def _to_brief_tingling(category: str, rules: list[str]) -> list[str]:
    if category != "neurodynamics":
        return rules
    kept = [rule for rule in rules if rule not in NERVE_RULES]
    return [*kept, "brief_tingling_must_settle", "new_numbness_or_weakness", "pain_above_5"]


def upgrade() -> None:
    with op.batch_alter_table("exercise", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("contraindications", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("side_required", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    _rewrite_stop_rules(_to_nerve_rules)


def downgrade() -> None:
    _rewrite_stop_rules(_to_brief_tingling)
    with op.batch_alter_table("exercise", schema=None) as batch_op:
        batch_op.drop_column("side_required")
        batch_op.drop_column("contraindications")
