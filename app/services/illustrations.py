"""Each exercise's illustration: drawn from its pose data, described in a locale, served and referenced.

The picture of an exercise in a locale is :func:`exercise_picture` (by id, for the handout) or
:func:`picture_of` (a loaded exercise and its name). Both give the same bytes for the same pose data and
text, so the SHA-256 is the ETag and the catalogue and programme documents can name it for offline use.
Catalogue pictures are public (they hold no patient data); a clinic's own only to that clinic.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, or_, select

from app.errors import Code, NotFound
from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.common import Actor
from app.models.exercise import Exercise, ExerciseText
from app.models.illustration import Frame, Illustration, Prop
from app.services.figure import render_svg

MEDIA_PATH = "/media/exercises/{slug}.svg"

# A clinic's own exercise sent without pose data is drawn in the base pose of its position.
_POSITION_POSES: dict[str, Frame] = {
    "prone": Frame(pose="prone"),
    "supine": Frame(pose="hook_lying"),
    "sitting": Frame(pose="sitting"),
    "standing": Frame(pose="standing"),
    "side_lying": Frame(pose="supine", view="top"),
    "quadruped": Frame(pose="quadruped"),
    "kneeling": Frame(pose="kneeling"),
}
_POSITION_WORDS = {
    "en": "A person in the starting position of the exercise.",
    "es": "Una persona en la posición inicial del ejercicio.",
}


@dataclass(frozen=True)
class Picture:
    """One rendering: the SVG document, its content hash, and the description in the locale it is in."""

    svg: str
    sha256: str
    alt: str
    locale: str

    @property
    def data(self) -> bytes:
        return self.svg.encode()

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def illustration_of(exercise: Exercise) -> Illustration:
    """The exercise's pose data, or its position's base pose with its mat or chair."""
    if exercise.illustration is not None:
        return Illustration.model_validate(exercise.illustration, strict=False)
    frame = _POSITION_POSES[exercise.position]
    props = [Prop(kind="mat")] if "mat" in exercise.equipment else []
    if exercise.position == "sitting":
        props.append(Prop(kind="chair", at="hip"))
    return Illustration(alt=_POSITION_WORDS, frames=[frame], props=props)


# Renderings by exercise row version: every change to an exercise's columns or text moves its updated_at.
_PICTURES: dict[tuple[uuid.UUID, datetime | None, str, str], Picture] = {}
_KEPT = 4096


def picture_of(exercise: Exercise, name: str, locale: str) -> Picture:
    """The exercise's illustration with its name as the title and the alt text as the description, both in
    ``locale`` (else English)."""
    key = (exercise.id, exercise.updated_at, name, locale)
    picture = _PICTURES.get(key)
    if picture is None:
        if len(_PICTURES) >= _KEPT:
            _PICTURES.clear()
        picture = _PICTURES[key] = _draw(illustration_of(exercise), name, locale)
    return picture


def _draw(illustration: Illustration, name: str, locale: str) -> Picture:
    served = locale if locale in illustration.alt else DEFAULT_LOCALE
    svg = render_svg(illustration, name, illustration.alt[served], served)
    return Picture(
        svg=svg, sha256=hashlib.sha256(svg.encode()).hexdigest(), alt=illustration.alt[served], locale=served
    )


def media_entry(exercise: Exercise, name: str, locale: str) -> dict[str, Any]:
    """The illustration as a media entry of the served exercise: its URL, alt text, size and hash."""
    picture = picture_of(exercise, name, locale)
    return {
        "kind": "image",
        "url": f"{MEDIA_PATH.format(slug=exercise.slug)}?locale={picture.locale}&v={picture.sha256[:16]}",
        "alt": picture.alt,
        "size_bytes": picture.size_bytes,
        "sha256": picture.sha256,
    }


def _name(session: Session, exercise: Exercise, locale: str) -> str:
    rows = {
        row.locale: row.name
        for row in session.exec(select(ExerciseText).where(ExerciseText.exercise_id == exercise.id))
    }
    return rows.get(locale) or rows[DEFAULT_LOCALE]


def exercise_picture(session: Session, exercise_id: uuid.UUID, locale: str) -> Picture:
    """The picture of one exercise in ``locale`` (for the handout: ids come from a revision's snapshot)."""
    exercise = session.get(Exercise, exercise_id)
    if exercise is None:
        raise NotFound("No such exercise.", code=Code.NOT_FOUND)
    return picture_of(exercise, _name(session, exercise, locale), locale)


def served_picture(session: Session, actor: Actor | None, slug: str, locale: str) -> tuple[Picture, bool]:
    """``GET /media/exercises/{slug}.svg``: the picture and whether it is public (a catalogue exercise).

    Anyone may read a catalogue exercise's picture; a clinic's own only a caller of that clinic (staff, its
    API keys, its patients). Anything else is 404, as if it did not exist.
    """
    visible: ColumnElement[bool] = col(Exercise.owner_clinic_id).is_(None)
    if actor is not None:
        visible = or_(visible, col(Exercise.owner_clinic_id) == actor.clinic_id)
    exercise = session.exec(
        select(Exercise).where(Exercise.slug == slug, visible)  # the service keeps the two kinds' slugs apart
    ).first()
    if exercise is None:
        raise NotFound("No exercise picture with that name.", code=Code.NOT_FOUND)
    return picture_of(exercise, _name(session, exercise, locale), locale), exercise.owner_clinic_id is None
