"""Catalogue invariants that need a whole chain file or every file, and the wording of every problem.

``app.models.catalogue_files`` holds the schema (one entry at a time) and the loader; this module holds
what the loader checks on top of it:

- per file: the chain name, steps, text in every declared catalogue locale (titles, exercise text,
  media alt text), no dose numbers stated in summaries or steps (clinical review M9: they use the
  placeholders of ``app.models.dose_words``), the same placeholders in every locale, and a default dose
  that fills every placeholder used;
- across files: unique slugs, in-chain ladder links, locks, and alternatives that exist.

Every problem reads ``<dir>/<file>.yaml: exercise '<slug>' field <path>: <message>``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.models import dose_words

if TYPE_CHECKING:
    from app.models.catalogue_files import ChainFile, ExerciseSpec


def where(
    file_label: str, slug: str | None = None, index: int | None = None, field: str | None = None
) -> str:
    parts = []
    if slug is not None:
        parts.append(f"exercise '{slug}'")
    elif index is not None:
        parts.append(f"exercise #{index}")
    if field:
        parts.append(f"field {field}")
    return f"{file_label}: {' '.join(parts)}" if parts else file_label


_PYDANTIC_MESSAGES = {
    "greater_than_equal": "must be ≥ {ge}",
    "less_than_equal": "must be ≤ {le}",
    "extra_forbidden": "unknown key",
    "missing": "is required",
    "too_short": "needs at least {min_length} item(s)",
    "string_too_short": "must not be empty",
    "string_too_long": "is longer than {max_length} characters",
}


def _describe(error: ErrorDetails) -> str:
    template = _PYDANTIC_MESSAGES.get(error["type"])
    if template is not None:
        return template.format(**error.get("ctx", {}))
    if error["type"] == "string_pattern_mismatch":
        return f"{error['input']!r} does not match {error['ctx']['pattern']}"
    if error["type"] == "literal_error":
        return f"{error['input']!r} is not allowed; expected {error['ctx']['expected']}"
    message = error["msg"]
    return message.removeprefix("Value error, ")


def _field_path(parts: tuple[Any, ...]) -> str:
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            path += " (key)"
        else:
            path += f".{part}" if path else str(part)
    return path


def _exercise_slug(raw: Any, index: int) -> str | None:
    try:
        slug = raw["exercises"][index]["slug"]
    except (TypeError, KeyError, IndexError):
        return None
    return slug if isinstance(slug, str) else None


def validation_messages(file_label: str, raw: Any, exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "exercises" and isinstance(loc[1], int):
            place = where(file_label, _exercise_slug(raw, loc[1]), loc[1], _field_path(loc[2:]) or None)
        else:
            place = where(file_label, field=_field_path(loc) or None)
        messages.append(f"{place}: {_describe(error)}")
    return messages


def raw_slugs(raw: Any) -> set[str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("exercises"), list):
        return set()
    return {ex["slug"] for ex in raw["exercises"] if isinstance(ex, dict) and isinstance(ex.get("slug"), str)}


# --- one file -----------------------------------------------------------------------------------


def _locale_errors(file_label: str, chain: ChainFile, locales: tuple[str, ...]) -> list[str]:
    """Every declared catalogue locale has a chain title, exercise text and media alt text."""
    errors = [
        f"{where(file_label, field=f'title.{locale}')}: is required (catalogue locales: {', '.join(locales)})"
        for locale in locales
        if locale not in chain.title
    ]
    for exercise in chain.exercises:
        localised: list[tuple[str, dict[str, Any]]] = [("text", exercise.text)]
        localised += [(f"media[{index}].alt", media.alt) for index, media in enumerate(exercise.media)]
        if exercise.illustration is None:
            place = where(file_label, exercise.slug, field="illustration")
            errors.append(f"{place}: is required: every catalogue exercise is drawn from its pose data")
        else:
            localised.append(("illustration.alt", exercise.illustration.alt))
            if not exercise.illustration.arrows:
                place = where(file_label, exercise.slug, field="illustration.arrows")
                errors.append(f"{place}: is required: an arrow shows the movement (or where to relax)")
        for field, texts in localised:
            for locale in locales:
                if locale not in texts:
                    place = where(file_label, exercise.slug, field=f"{field}.{locale}")
                    errors.append(f"{place}: is required (catalogue locales: {', '.join(locales)})")
    return errors


def _text_errors(file_label: str, exercise: ExerciseSpec) -> list[str]:
    """Doses only through placeholders, the same placeholders in every locale, each backed by the dose."""
    errors = []
    used: dict[str, set[str]] = {}
    for locale, text in exercise.text.items():
        lines = [("summary", text.summary), *((f"steps[{i}]", step) for i, step in enumerate(text.steps))]
        for field, line in lines:
            numbers = dose_words.numbers_outside_placeholders(line)
            if numbers:
                place = where(file_label, exercise.slug, field=f"text.{locale}.{field}")
                errors.append(
                    f"{place}: states the number(s) {numbers}; a dose goes through a placeholder "
                    f"({', '.join(f'{{{name}}}' for name in dose_words.PLACEHOLDERS)}) or is left to the "
                    "prescription"
                )
        used[locale] = set().union(
            *(dose_words.placeholders(line) for line in (text.summary, *text.steps, *text.cautions))
        )
    english = used.get("en", set())
    for locale, names in sorted(used.items()):
        if names != english:
            place = where(file_label, exercise.slug, field=f"text.{locale}")
            errors.append(
                f"{place}: uses the placeholders {sorted(names)} but the English text uses {sorted(english)}"
            )
    dose = exercise.default_dose.model_dump()
    for name in sorted(english & set(dose_words.PLACEHOLDERS)):
        if all(dose[field] is None for field in dose_words.PLACEHOLDER_FIELDS[name]):
            place = where(file_label, exercise.slug, field="default_dose")
            fields = " or ".join(dose_words.PLACEHOLDER_FIELDS[name])
            errors.append(f"{place}: the text uses {{{name}}}, so set {fields}")
    return errors


def check_file(file_label: str, stem: str, chain: ChainFile, locales: tuple[str, ...]) -> list[str]:
    """Invariants that need the whole file but no other file."""
    errors = []
    if chain.chain != stem:
        errors.append(
            f"{where(file_label, field='chain')}: '{chain.chain}' must equal the file name '{stem}'"
        )
    errors.extend(_locale_errors(file_label, chain, locales))
    for exercise in chain.exercises:
        errors.extend(_text_errors(file_label, exercise))

    by_step: dict[int, list[str]] = defaultdict(list)
    for exercise in chain.exercises:
        by_step[exercise.step].append(exercise.slug)
    for step, slugs in sorted(by_step.items()):
        for slug in slugs[1:]:
            errors.append(
                f"{where(file_label, slug, field='step')}: step {step} is also used by '{slugs[0]}'"
            )
    steps = sorted(by_step)
    first = steps[0]
    if first not in (0, 1):
        slug = by_step[first][0]
        errors.append(f"{where(file_label, slug, field='step')}: the first step must be 0 or 1, not {first}")
    for previous, current in zip(steps, steps[1:], strict=False):
        if current != previous + 1:
            slug = by_step[current][0]
            missing = list(range(previous + 1, current))
            errors.append(
                f"{where(file_label, slug, field='step')}: steps must be contiguous; step {current} follows "
                f"step {previous} (missing {missing})"
            )
    return errors


# --- across files -------------------------------------------------------------------------------

Index = dict[str, tuple[str, "ChainFile", "ExerciseSpec"]]


class LinkEnd(NamedTuple):
    """One end of a link between exercises, as the link rules see it."""

    slug: str
    chain: str
    step: int
    locked: bool  # needs a clinician unlock


def link_problems(field: str, source: LinkEnd, target: LinkEnd) -> list[tuple[str, str]]:
    """What is wrong with the link `field` (progression, regression or alternatives.*) from source to
    target, as (kind, message) pairs: the rules every link meets, checked alike for the catalogue files
    (check_links) and for a clinic's own exercises (app.services.exercises). Stepping back must never
    unlock an exercise or lead to a harder one; an alternative is open to the patient; ladders stay in
    their chain."""
    if field in LADDER_LINKS and target.chain != source.chain:
        return [
            (
                "other_chain",
                f"'{target.slug}' is in chain '{target.chain}'; ladder links stay within a chain "
                "(use alternatives for other chains)",
            )
        ]
    problems = []
    if field == "regression":
        if target.locked:
            problems.append(
                (
                    "clinician_locked",
                    f"'{target.slug}' needs a clinician unlock, so it cannot be a regression "
                    "(stepping back must never unlock an exercise)",
                )
            )
        if target.step >= source.step:
            problems.append(
                (
                    "not_easier",
                    f"'{target.slug}' is at step {target.step}; a regression must be at a lower step "
                    f"than {source.step}",
                )
            )
    elif field.startswith("alternatives.") and target.locked:
        problems.append(
            ("clinician_locked", f"'{target.slug}' needs a clinician unlock, so it is not an alternative")
        )
    return problems


def _end(chain: ChainFile, exercise: ExerciseSpec) -> LinkEnd:
    return LinkEnd(exercise.slug, chain.chain, exercise.step, exercise.requires_clinician_unlock)


def _progression_errors(place: str, exercise: ExerciseSpec, target: ExerciseSpec) -> list[str]:
    """The next step up: step + 1, pointing back, and never an open exercise behind a locked one.

    A locked step cannot be a regression, so the (locked) step after it steps back past it instead, to a
    lower unlocked step (the slump slider → sciatic tensioner, which steps back to the seated slider).
    """
    errors = []
    if target.step != exercise.step + 1:
        errors.append(f"{place}: '{target.slug}' is at step {target.step}; expected {exercise.step + 1}")
    if exercise.requires_clinician_unlock:
        if target.regression is None:
            errors.append(
                f"{place}: '{target.slug}' has no regression; it must step back past this locked step "
                "to a lower unlocked one"
            )
    elif target.regression != exercise.slug:
        errors.append(
            f"{place}: '{target.slug}' has regression {target.regression!r}; expected '{exercise.slug}'"
        )
    if exercise.requires_clinician_unlock and not target.requires_clinician_unlock:
        errors.append(
            f"{place}: '{target.slug}' needs no clinician unlock but is reachable only through this locked "
            f"step; end the ladder here (null) or lock '{target.slug}' too"
        )
    return errors


# The ladder links; the catalogue files' ladders also meet _progression_errors (each step leads to the
# next and points back), which a clinic's own exercise cannot (it cannot change the catalogue's).
LADDER_LINKS = ("progression", "regression")


def _regression_cycles(chains: list[tuple[str, ChainFile]], index: Index) -> list[str]:
    """Each cycle of regression links, reported once at the exercise where the walk first meets it.

    The lower-step rule already rules cycles out; this walk keeps "step back" finite even if that rule
    is ever relaxed, and names the whole loop rather than one link of it.
    """
    errors = []
    walked: set[str] = set()
    for _, chain in chains:
        for exercise in chain.exercises:
            path: list[str] = []
            slug: str | None = exercise.slug
            while slug is not None and slug in index and slug not in walked and slug not in path:
                path.append(slug)
                slug = index[slug][2].regression
            if slug is not None and slug in path:
                loop = path[path.index(slug) :]
                place = where(index[slug][0], slug, field="regression")
                errors.append(f"{place}: regression links form a cycle: {' → '.join([*loop, slug])}")
            walked.update(path)
    return errors


def links_of(exercise: ExerciseSpec) -> dict[str, str]:
    """Every link an exercise makes, by field (progression, regression, alternatives.easier[0], …)."""
    links = {field: getattr(exercise, field) for field in LADDER_LINKS if getattr(exercise, field)}
    for direction in ("easier", "harder"):
        for position, slug in enumerate(getattr(exercise.alternatives, direction)):
            links[f"alternatives.{direction}[{position}]"] = slug
    return links


def check_links(chains: list[tuple[str, ChainFile]], unverifiable: set[str]) -> list[str]:
    """Cross-file invariants: unique slugs, in-chain ladder links, locks, existing alternatives."""
    errors = []
    index: Index = {}
    for file_label, chain in chains:
        for exercise in chain.exercises:
            if exercise.slug in index:
                place = where(file_label, exercise.slug, field="slug")
                errors.append(f"{place}: duplicate slug, already defined in {index[exercise.slug][0]}")
                continue
            index[exercise.slug] = (file_label, chain, exercise)

    for file_label, chain in chains:
        for exercise in chain.exercises:
            if index[exercise.slug][2] is not exercise:  # the duplicate was reported above
                continue
            for field, target_slug in links_of(exercise).items():
                if target_slug in unverifiable:
                    continue
                place = where(file_label, exercise.slug, field=field)
                if target_slug not in index:
                    errors.append(f"{place}: unknown exercise '{target_slug}'")
                    continue
                _, target_chain, target = index[target_slug]
                problems = link_problems(field, _end(chain, exercise), _end(target_chain, target))
                errors.extend(f"{place}: {message}" for _, message in problems)
                if field == "progression" and not problems:
                    errors.extend(_progression_errors(place, exercise, target))
    errors.extend(_regression_cycles(chains, index))
    return errors
