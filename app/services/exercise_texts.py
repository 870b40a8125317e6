"""An exercise's patient text: its rows per locale, and the exercise as served.

The stored text keeps its dose placeholders (``{reps}``, ``{hold}`` …, see ``app.models.dose_words``).
Two ways to present it, one shape (``ExercisePublic``):

- :func:`present` / :func:`present_all`: one locale, placeholders filled from the exercise's
  ``default_dose`` (the library, GET /v1/exercises);
- :func:`present_every_locale`: every locale, placeholders kept, for programme snapshots: the patient app
  fills them with each item's own dose.
"""

import uuid
from typing import Any

from sqlmodel import Session, col, select

from app.models import dose_words
from app.models.catalogue_files import DEFAULT_LOCALE, STOP_RULES, LocalisedText
from app.models.exercise import Exercise, ExercisePublic, ExerciseText
from app.services import illustrations


def apply_columns(row: Any, columns: dict[str, Any]) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    for field, value in columns.items():
        if getattr(row, field) != value:
            setattr(row, field, value)
            changed = True
    return changed


def search_text(text: LocalisedText) -> str:
    """Name and summary for search, case-folded in Python (SQLite's lower() folds only ASCII).

    Whitespace is collapsed as in q, placeholders are left out (a search for "reps" or "10" should not
    match the dose words), and the newline keeps a match from spanning name and summary.
    """
    summary = dose_words.without_placeholders(text.summary)
    return f"{' '.join(text.name.split())}\n{summary}".casefold()


def load_texts(session: Session, exercise_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, ExerciseText]]:
    found: dict[uuid.UUID, dict[str, ExerciseText]] = {exercise_id: {} for exercise_id in exercise_ids}
    if exercise_ids:
        for row in session.exec(select(ExerciseText).where(col(ExerciseText.exercise_id).in_(exercise_ids))):
            found[row.exercise_id][row.locale] = row
    return found


def write_texts(session: Session, exercise: Exercise, texts: dict[str, LocalisedText]) -> bool:
    """Make the exercise's text rows exactly ``texts`` (one per locale); True when anything changed."""
    existing = load_texts(session, [exercise.id])[exercise.id]
    changed = False
    for locale, text in texts.items():
        values = {**text.model_dump(), "search_text": search_text(text)}
        row = existing.pop(locale, None)
        if row is None:
            session.add(ExerciseText(exercise_id=exercise.id, locale=locale, **values))
            changed = True
        elif apply_columns(row, values):
            session.add(row)
            changed = True
    for row in existing.values():
        session.delete(row)
        changed = True
    return changed


def _public(exercise: Exercise, texts: dict[str, ExerciseText], locale: str, filled: bool) -> ExercisePublic:
    served = locale if locale in texts else DEFAULT_LOCALE
    text = texts[served]

    def words(line: str) -> str:
        return dose_words.fill(line, exercise.default_dose, served) if filled else line

    return ExercisePublic.model_validate(
        {
            **exercise.model_dump(exclude={"owner_clinic_id", "chain_title", "content_hash", "illustration"}),
            "owner": "catalogue" if exercise.owner_clinic_id is None else "clinic",
            "stop_rules": [
                {"code": code, "text": STOP_RULES[code].get(served, STOP_RULES[code][DEFAULT_LOCALE])}
                for code in exercise.stop_rules
            ],
            # The service's own drawing first, then the clinic's own links.
            "media": [
                illustrations.media_entry(exercise, text.name, served),
                *(
                    {**media, "alt": media["alt"].get(served, media["alt"][DEFAULT_LOCALE])}
                    for media in exercise.media
                ),
            ],
            "locale": served,
            "name": text.name,
            "summary": words(text.summary),
            "steps": [words(step) for step in text.steps],
            "cautions": [words(caution) for caution in text.cautions],
            "available_locales": sorted(texts),
        }
    )


def present_all(session: Session, exercises: list[Exercise], locale: str) -> list[ExercisePublic]:
    """Each exercise in ``locale`` (else English), its dose words filled from its default dose."""
    texts = load_texts(session, [exercise.id for exercise in exercises])
    return [_public(exercise, texts[exercise.id], locale, filled=True) for exercise in exercises]


def present(session: Session, exercise: Exercise, locale: str) -> ExercisePublic:
    return present_all(session, [exercise], locale)[0]


def present_every_locale(
    session: Session, exercises: list[Exercise]
) -> dict[uuid.UUID, dict[str, ExercisePublic]]:
    """Each exercise in each locale it has text in, placeholders kept (for programme snapshots).

    The reader fills them per prescription item with ``dose_words.fill(text, item_dose, locale)``.
    """
    texts = load_texts(session, [exercise.id for exercise in exercises])
    return {
        exercise.id: {
            locale: _public(exercise, texts[exercise.id], locale, filled=False)
            for locale in texts[exercise.id]
        }
        for exercise in exercises
    }
