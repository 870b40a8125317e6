"""Exercises a clinic can see (the shared catalogue and its own): search, ladders, and its own CRUD.

Text is served in one locale per request, negotiated from ``?locale=`` or ``Accept-Language``; an
exercise without text in that locale is served in English and says so in its ``locale`` field.
"""

import re
import uuid
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, SQLColumnExpression, Text, and_, cast, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db import utcnow
from app.errors import Code, Conflict, Forbidden, InvalidInput, NotFound
from app.models.catalogue_checks import LinkEnd, link_problems, links_of
from app.models.catalogue_files import DEFAULT_LOCALE, ExerciseSpec, Slug
from app.models.common import Actor, Page
from app.models.exercise import (
    Exercise,
    ExerciseChain,
    ExerciseCreate,
    ExercisePublic,
    ExerciseSearch,
    ExerciseText,
    ExerciseUpdate,
)
from app.services.exercise_texts import apply_columns, load_texts, present_all, write_texts
from app.services.exercise_texts import present as present  # re-exported for the routers and FHIR
from app.services.exercise_texts import present_every_locale as present_every_locale  # for snapshots
from app.services.pagination import PageParams, paginate

SLUG_TAKEN = "This slug is used by a catalogue exercise or another of this clinic's exercises."
# Bounds the work one Accept-Language header can cause.
MAX_LANGUAGE_RANGES = 20
_LANGUAGE_RANGE = re.compile(r"^([A-Za-z]{2})(?:-([A-Za-z]{2})(?![A-Za-z]))?(?:-[A-Za-z0-9]{1,8})*$")
_QUALITY = re.compile(r"^\s*q\s*=\s*(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\s*$", re.IGNORECASE)
# A q that can only match inside one tag; other characters could match across the stored JSON list.
_TAG_FRAGMENT = re.compile(r"^[a-z0-9-]+$")
_SLUG = TypeAdapter(Slug)
# A catalogue exercise, and a clinic's own; as sort keys, each puts the other first.
_IN_CATALOGUE = col(Exercise.owner_clinic_id).is_(None)
_CLINICS_OWN = col(Exercise.owner_clinic_id).is_not(None)


def _visible(actor: Actor) -> ColumnElement[bool]:
    return or_(_IN_CATALOGUE, col(Exercise.owner_clinic_id) == actor.clinic_id)


def _scoped(actor: Actor) -> SelectOfScalar[Exercise]:
    return select(Exercise).where(_visible(actor))


# --- locale -------------------------------------------------------------------------------------


def _candidates(language_range: str) -> list[str]:
    """``es-es`` → ``["es-ES", "es"]``; anything that is not a language tag → ``[]``."""
    match = _LANGUAGE_RANGE.match(language_range.strip())
    if match is None:
        return []
    language, region = match.group(1).lower(), match.group(2)
    return [f"{language}-{region.upper()}", language] if region else [language]


def _accepted(accept_language: str) -> list[str]:
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")[:MAX_LANGUAGE_RANGES]):
        tag, *parameters = item.split(";")
        quality = 1.0
        if parameters:
            match = _QUALITY.match(parameters[0])
            if match is None:
                continue
            quality = float(match.group(1))
        if quality > 0:
            ranked.append((-quality, position, tag))
    return [candidate for _, _, tag in sorted(ranked) for candidate in _candidates(tag)]


def resolve_locale(session: Session, actor: Actor, locale: str | None, accept_language: str | None) -> str:
    """The locale to serve: ``locale`` if given, else the best ``Accept-Language`` tag that any visible
    exercise has text in; English when neither names one."""
    wanted = _candidates(locale) if locale else _accepted(accept_language or "")
    if not wanted or wanted[0] == DEFAULT_LOCALE:
        return DEFAULT_LOCALE
    available = set(
        session.exec(
            select(ExerciseText.locale)
            .distinct()
            .join(Exercise, col(Exercise.id) == ExerciseText.exercise_id)
            .where(_visible(actor), col(ExerciseText.locale).in_(wanted))
        )
    )
    return next((candidate for candidate in wanted if candidate in available), DEFAULT_LOCALE)


# --- reading ------------------------------------------------------------------------------------


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _json_list_has(column: Any, item: str) -> ColumnElement[bool]:
    # Portable list membership: the stored JSON text contains the quoted item. Items are slugs
    # (no quotes or backslashes), so a quoted match is an exact element match on both databases.
    return cast(column, Text).like(f'%"{_escape_like(item)}"%', escape="\\")


def _matching(statement: SelectOfScalar[Exercise], q: str, locale: str) -> SelectOfScalar[Exercise]:
    """Rows whose name or summary (in ``locale``, else English) or one of whose tags contains ``q``."""
    pattern = f"%{_escape_like(q)}%"
    english = aliased(ExerciseText)
    statement = statement.join(
        english, and_(col(english.exercise_id) == Exercise.id, col(english.locale) == DEFAULT_LOCALE)
    )
    searched: SQLColumnExpression[str] = col(english.search_text)
    if locale != DEFAULT_LOCALE:
        localised = aliased(ExerciseText)
        statement = statement.outerjoin(
            localised, and_(col(localised.exercise_id) == Exercise.id, col(localised.locale) == locale)
        )
        searched = func.coalesce(localised.search_text, english.search_text)
    conditions = [searched.like(pattern, escape="\\")]
    if _TAG_FRAGMENT.match(q):
        conditions.append(cast(Exercise.tags, Text).like(pattern, escape="\\"))
    return statement.where(or_(*conditions))


def list_exercises(
    session: Session, actor: Actor, params: PageParams, search: ExerciseSearch, locale: str
) -> Page[ExercisePublic]:
    statement = _scoped(actor)
    if not search.include_own:
        statement = statement.where(_IN_CATALOGUE)
    if not search.include_archived:
        statement = statement.where(col(Exercise.archived_at).is_(None))
    for column, value in (
        (Exercise.category, search.category),
        (Exercise.chain, search.chain),
        (Exercise.position, search.position),
        (Exercise.body_region, search.body_region),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if search.equipment is not None:
        statement = statement.where(_json_list_has(Exercise.equipment, search.equipment))
    if search.tag is not None:
        statement = statement.where(_json_list_has(Exercise.tags, search.tag))
    q = " ".join((search.q or "").split()).casefold()
    if q:
        statement = _matching(statement, q, locale)
    page = paginate(session, statement, Exercise.id, params)
    return page.mapped(lambda rows: present_all(session, rows, locale))


def get_exercise(session: Session, actor: Actor, id_or_slug: str) -> Exercise:
    """An exercise the caller can see, archived ones included, by id or else by slug."""
    try:
        statement = _scoped(actor).where(Exercise.id == uuid.UUID(id_or_slug))
    except ValueError:
        try:
            slug = _SLUG.validate_python(id_or_slug)
        except ValidationError as exc:  # not a slug either (and not always storable text, e.g. NUL)
            raise NotFound("No such exercise.") from exc
        # The clinic's own slug first: it may predate a catalogue exercise that later took the same slug.
        statement = _scoped(actor).where(Exercise.slug == slug).order_by(_IN_CATALOGUE)
    exercise = session.exec(statement).first()
    if exercise is None:
        raise NotFound("No such exercise.")
    return exercise


def resolve_refs(session: Session, actor: Actor, refs: set[str]) -> dict[str, Exercise]:
    """Exercises the caller can see, keyed by the id or slug they were asked for; unknown refs are absent."""
    ids: dict[uuid.UUID, str] = {}
    slugs: set[str] = set()
    for ref in refs:
        try:
            ids[uuid.UUID(ref)] = ref
        except ValueError:
            slugs.add(ref)
    found: dict[str, Exercise] = {}
    if ids:
        for exercise in session.exec(_scoped(actor).where(col(Exercise.id).in_(list(ids)))):
            found[ids[exercise.id]] = exercise
    if slugs:
        # The clinic's own slug wins over the catalogue's, as in get_exercise.
        statement = _scoped(actor).where(col(Exercise.slug).in_(list(slugs))).order_by(_IN_CATALOGUE)
        for exercise in session.exec(statement):
            found.setdefault(exercise.slug, exercise)
    return found


def get_chain(session: Session, actor: Actor, exercise: Exercise, locale: str) -> ExerciseChain:
    """The ladder ``exercise`` is on, easiest first: the catalogue's steps and the clinic's own in that
    chain. Archived exercises drop out, except the one asked for (so it always has a position)."""
    ladder = list(
        session.exec(
            _scoped(actor)
            .where(
                Exercise.chain == exercise.chain,
                or_(col(Exercise.archived_at).is_(None), col(Exercise.id) == exercise.id),
            )
            .order_by(col(Exercise.step), _CLINICS_OWN, col(Exercise.slug))
        )
    )
    # The catalogue names its chains; a clinic's own chain takes the title of its first step.
    titled = next((row for row in ladder if row.owner_clinic_id is None), ladder[0])
    title = titled.chain_title.get(locale, titled.chain_title[DEFAULT_LOCALE])
    position = next(index for index, row in enumerate(ladder) if row.id == exercise.id)
    return ExerciseChain(
        chain=exercise.chain, title=title, exercises=present_all(session, ladder, locale), position=position
    )


# --- writing ------------------------------------------------------------------------------------


def spec_columns(spec: ExerciseSpec, chain: str, chain_title: dict[str, str]) -> dict[str, Any]:
    """Column values of an exercise described as a chain-file entry (the seed and the API share this)."""
    return {
        "slug": spec.slug,
        "chain": chain,
        "chain_title": dict(chain_title),
        "step": spec.step,
        "category": spec.category,
        "body_region": spec.body_region,
        "position": spec.position,
        "equipment": list(spec.equipment),
        "default_dose": spec.default_dose.model_dump(),
        "progression_slug": spec.progression,
        "regression_slug": spec.regression,
        "alternatives": spec.alternatives.model_dump(),
        "requires_clinician_unlock": spec.requires_clinician_unlock,
        "contraindications": list(spec.contraindications),
        "side_required": spec.side_required,
        "indications": list(spec.indications),
        "stop_rules": list(spec.stop_rules),
        "tags": list(spec.tags),
        "illustration": None if spec.illustration is None else spec.illustration.model_dump(mode="json"),
        "media": [media.model_dump() for media in spec.media],
        "sources": list(spec.sources),
    }


def _slug_taken(session: Session, actor: Actor, slug: str) -> bool:
    return session.exec(select(Exercise.id).where(_visible(actor), Exercise.slug == slug)).first() is not None


def _chain_title(
    session: Session, actor: Actor, spec: ExerciseCreate, exercise_id: uuid.UUID | None
) -> dict[str, str]:
    """The title sent, else the chain's existing one (the catalogue's first), else the exercise's name."""
    if spec.chain_title is not None:
        return spec.chain_title
    statement = select(col(Exercise.chain_title)).where(_visible(actor), Exercise.chain == spec.chain)
    if exercise_id is not None:
        statement = statement.where(Exercise.id != exercise_id)
    existing = session.exec(statement.order_by(_CLINICS_OWN, col(Exercise.id))).first()
    return existing or {DEFAULT_LOCALE: spec.text[DEFAULT_LOCALE].name}


def _check_links(session: Session, actor: Actor, spec: ExerciseCreate) -> None:
    """Every link names an exercise the clinic can see and meets the rules of the catalogue's links
    (catalogue_checks.link_problems: ladders in their chain, stepping back never unlocks an exercise or
    leads to a harder one, alternatives need no unlock)."""
    links = links_of(spec)
    targets: dict[str, Exercise] = {}
    wanted = set(links.values())
    for row in session.exec(_scoped(actor).where(col(Exercise.slug).in_(wanted)).order_by(_IN_CATALOGUE)):
        targets.setdefault(row.slug, row)
    source = LinkEnd(spec.slug, spec.chain, spec.step, spec.requires_clinician_unlock)
    errors: list[dict[str, Any]] = []
    for field, slug in links.items():
        target = targets.get(slug)
        if target is None:
            problems = [("unknown_exercise", f"no exercise '{slug}'")]
        else:
            end = LinkEnd(target.slug, target.chain, target.step, target.requires_clinician_unlock)
            problems = link_problems(field, source, end)
        errors.extend({"loc": ["body", field], "message": m, "type": kind} for kind, m in problems)
    if errors:
        raise InvalidInput("Some linked exercises are not valid.", code=Code.INVALID_EXERCISE, errors=errors)


def create_exercise(session: Session, actor: Actor, data: ExerciseCreate) -> Exercise:
    if _slug_taken(session, actor, data.slug):
        raise Conflict(SLUG_TAKEN, code=Code.SLUG_TAKEN)
    _check_links(session, actor, data)
    columns = spec_columns(data, data.chain, _chain_title(session, actor, data, None))
    exercise = Exercise(owner_clinic_id=actor.clinic_id, **columns)
    try:
        with session.begin_nested():
            session.add(exercise)
    except IntegrityError as exc:  # a concurrent request took the slug between the check and the insert
        raise Conflict(SLUG_TAKEN, code=Code.SLUG_TAKEN) from exc
    write_texts(session, exercise, data.text)
    session.flush()
    return exercise


def _own(exercise: Exercise) -> None:
    if exercise.owner_clinic_id is None:
        raise Forbidden(
            "Catalogue exercises are read-only; create the clinic's own variant instead.",
            code=Code.CATALOGUE_READ_ONLY,
        )


def _as_spec(exercise: Exercise, texts: dict[str, ExerciseText]) -> dict[str, Any]:
    """The stored exercise in the shape of an ExerciseCreate body."""
    return {
        "slug": exercise.slug,
        "chain": exercise.chain,
        "chain_title": exercise.chain_title,
        "step": exercise.step,
        "category": exercise.category,
        "body_region": exercise.body_region,
        "position": exercise.position,
        "equipment": exercise.equipment,
        "default_dose": exercise.default_dose,
        "progression": exercise.progression_slug,
        "regression": exercise.regression_slug,
        "alternatives": exercise.alternatives,
        "requires_clinician_unlock": exercise.requires_clinician_unlock,
        "contraindications": exercise.contraindications,
        "side_required": exercise.side_required,
        "indications": exercise.indications,
        "stop_rules": exercise.stop_rules,
        "tags": exercise.tags,
        "illustration": exercise.illustration,
        "media": exercise.media,
        "sources": exercise.sources,
        "text": {
            locale: {"name": row.name, "summary": row.summary, "steps": row.steps, "cautions": row.cautions}
            for locale, row in texts.items()
        },
    }


def update_exercise(session: Session, actor: Actor, exercise: Exercise, data: ExerciseUpdate) -> Exercise:
    """Apply the fields sent, then check the whole result by the same rules as a new exercise."""
    _own(exercise)
    changes = data.model_dump(exclude_unset=True)
    current = _as_spec(exercise, load_texts(session, [exercise.id])[exercise.id])
    merged = current | changes | {"text": current["text"] | changes.get("text", {})}
    if "chain" in changes and "chain_title" not in changes:
        merged["chain_title"] = None  # moved to another chain: take that chain's title
    try:
        spec = ExerciseCreate.model_validate(merged)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", *map(str, error["loc"])], "message": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        raise InvalidInput(
            "The exercise would not be valid after this change.", code=Code.INVALID_EXERCISE, errors=errors
        ) from exc
    _check_links(session, actor, spec)
    columns = spec_columns(spec, spec.chain, _chain_title(session, actor, spec, exercise.id))
    if apply_columns(exercise, columns) | write_texts(session, exercise, spec.text):
        exercise.updated_at = utcnow()
    session.add(exercise)
    session.flush()
    return exercise


def archive_exercise(session: Session, exercise: Exercise) -> None:
    """Hide the clinic's own exercise from search; programmes that use it can still read it."""
    _own(exercise)
    if exercise.archived_at is None:
        exercise.archived_at = exercise.updated_at = utcnow()
        session.add(exercise)
        session.flush()
