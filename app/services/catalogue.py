"""Seed the shared exercise catalogue from the chain files: upsert by slug, never delete.

A catalogue exercise that is no longer in the files is archived (programmes may still use it) and comes
back if it is added again. Rows whose file entry is unchanged are not touched, so a re-seed is cheap.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from app.db import utcnow
from app.models.catalogue_files import ChainFile, ExerciseSpec
from app.models.exercise import Exercise
from app.services.exercise_texts import apply_columns, write_texts
from app.services.exercises import spec_columns

# Bump when the mapping from a file entry to rows changes, so the next seed rewrites every row.
# 2: contraindications, side_required; search text without dose placeholders. 3: illustration pose data.
MAPPING_VERSION = 3


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.archived)

    def summary(self) -> str:
        counts = (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.archived)} archived"
        )
        return (
            f"Exercise catalogue: {counts}."
            if self.changed
            else f"Exercise catalogue: {counts}; nothing to do."
        )


def content_hash(chain: ChainFile, spec: ExerciseSpec) -> str:
    payload = {
        "mapping": MAPPING_VERSION,
        "chain": chain.chain,
        "title": chain.title,
        "exercise": spec.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def count_exercises(chains: list[ChainFile]) -> int:
    return sum(len(chain.exercises) for chain in chains)


def seed_catalogue(
    session: Session, chains: list[ChainFile], advance: Callable[[int], None] = lambda _: None
) -> SeedReport:
    """Make the catalogue rows match ``chains`` (already validated by ``load_catalogue``).

    ``advance(1)`` is called after each exercise, for a progress bar.
    """
    report = SeedReport()
    now = utcnow()
    existing = {
        row.slug: row for row in session.exec(select(Exercise).where(col(Exercise.owner_clinic_id).is_(None)))
    }
    for chain in chains:
        for spec in chain.exercises:
            digest = content_hash(chain, spec)
            columns = spec_columns(spec, chain.chain, chain.title) | {"content_hash": digest}
            row = existing.pop(spec.slug, None)
            if row is None:
                row = Exercise(owner_clinic_id=None, **columns)
                session.add(row)
                session.flush()  # the text rows reference it
                write_texts(session, row, spec.text)
                report.created.append(spec.slug)
            elif row.content_hash == digest and row.archived_at is None:
                report.unchanged.append(spec.slug)
            else:
                apply_columns(row, columns | {"archived_at": None})
                write_texts(session, row, spec.text)
                row.updated_at = now
                session.add(row)
                report.updated.append(spec.slug)
            advance(1)
    for slug, row in sorted(existing.items()):
        if row.archived_at is None:
            row.archived_at = row.updated_at = now
            session.add(row)
            report.archived.append(slug)
    session.flush()
    return report
