"""The exercise catalogue as data files: schema, loader and chain invariants.

Each chain of the shared catalogue is one YAML file in ``exercises/`` named after the chain slug.
This module validates those files and nothing else: it knows no FastAPI and no database, so the
seed, the CLI and the tests can all use it. Clinical basis: ``clinical-content.md`` §1 (catalogue),
§2.3 (progression) and §3.3 (stop rules).

Ladder links stay within a chain. A ``progression`` is the next step (step + 1), and that step's
``regression`` points back. A ``regression`` may be any lower step (a "side exit" that is not pointed
back at, such as standing extension stepping back to the plain press-up) but never an exercise that
needs a clinician unlock: stepping back must never unlock anything. Regression links may not form a
cycle, and a locked step may not lead on to an unlocked one (that exercise would be reachable only
through the lock).

Every problem is reported as ``<dir>/<file>.yaml: exercise '<slug>' field <path>: <message>`` and
all problems found are raised together in one :class:`CatalogueError`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

CATALOGUE_DIR = Path(__file__).resolve().parent.parent.parent / "exercises"

DEFAULT_LOCALE = "en"

# Chains whose patient text must also be available in these locales (clinic launch languages).
REQUIRED_LOCALES_BY_CHAIN: dict[str, frozenset[str]] = {
    "extension": frozenset({"es"}),
    "bridge": frozenset({"es"}),
    "sciatic-glide": frozenset({"es"}),
}

# Patient-facing "stop the exercise" rules (clinical-content §3.3). Red flags (§3.3 rule 6) are not a
# per-exercise code: the symptom check-in handles them for the whole programme.
STOP_RULES: dict[str, dict[str, str]] = {
    "leg_symptoms_spread": {
        "en": "Stop if pain or tingling moves further down your leg than it was before you began.",
        "es": "Para si el dolor o el hormigueo baja por la pierna más lejos que antes de empezar.",
    },
    "new_numbness_or_weakness": {
        "en": "Stop if your leg or foot becomes numb, tingly or weak in a way that is new for you.",
        "es": "Para si notas la pierna o el pie dormidos, con hormigueo o débiles de una forma nueva "
        "para ti.",
    },
    "pain_above_5": {
        "en": "Stop if the pain goes above 5 out of 10 while you exercise, or if you feel a sharp or "
        "catching pain.",
        "es": "Para si el dolor pasa de 5 sobre 10 durante el ejercicio, o si notas un dolor agudo o un "
        "pinchazo.",
    },
    "worse_next_morning": {
        "en": "If your pain or stiffness is worse the next morning than before the session, do the easier "
        "version next time. If it happens twice, your physio will be told.",
        "es": "Si a la mañana siguiente el dolor o la rigidez son peores que antes de la sesión, haz la "
        "versión más fácil la próxima vez. Si pasa dos veces, se avisará a tu fisioterapeuta.",
    },
    "dizziness_chest_pain_breathless": {
        "en": "Stop straight away if you feel dizzy or faint, get chest pain, or are short of breath.",
        "es": "Para enseguida si te mareas o sientes que te vas a desmayar, te duele el pecho o te falta "
        "el aire.",
    },
    "brief_tingling_must_settle": {
        "en": "A little tingling during a nerve exercise is fine only if it fades within a minute or two of "
        "stopping. If it lingers, stop and do the easier version next time.",
        "es": "Un poco de hormigueo durante un ejercicio de nervio es aceptable solo si desaparece uno o dos "
        "minutos después de parar. Si no se va, para y haz la versión más fácil la próxima vez.",
    },
}

# Rules that only make sense for nerve-glide exercises.
NEURODYNAMIC_ONLY_STOP_RULES = frozenset({"brief_tingling_must_settle"})

# Source tags of the reference table (clinical-content §6) that the catalogue may cite.
SOURCE_TAGS = frozenset(
    {
        "JOSPT21", "JOSPT12", "PMC-SUBGROUP", "NICE59", "BMJ17", "OWEN20", "MAY18", "WALKBACK",
        "MEDTODAY", "PAINPLUS-TABLE", "ACSM09", "BANDY97", "BANDY-IRION", "COPP08", "NOI-BLOG",
        "ELLIS12", "ELLIS16", "PLAZA20", "TRACKACTIVE", "STENOSIS", "LSS-SURVEY", "LAWRENCE",
        "BIM", "COACTIVE", "FUSION", "HELIYON", "CARDIO-RPE", "CAREPATRON", "MDTHER", "AXIAL",
        "PEAK-EXT", "RELIEF", "SANCTUM", "TRAINET", "PHYSIOREHAB", "INVERTA", "OHSE", "CORESTATION",
        "TBPC", "LIM", "PEAK-SCI", "PREHAB-CONTRA", "PREHAB-FEM", "GEG", "PUREPHYSIO", "MCGILL-PR",
        "PY101", "CHIROMOVE", "GREATROCK", "ESTEBAN-DB", "FITTHRIVE", "LIVBP", "ARC", "FITBIE",
        "ALEXEATLY", "MAURIE", "CATALYST", "LIM-PLANK", "CBPT", "HARBOUR", "DEDHAM", "COREPHYSIO",
        "PTVIDEO", "BELLAIRE", "JENKINS", "COOPER", "ESTEBAN", "ROBERTSON", "BESTHEALTH",
        "MYACTIVE", "REMISOVRAN", "GETWELLEN", "COAST", "POPSUGAR", "PREHAB-PIRI", "STUDYLIB-SAFE",
        "INMOTION",
    }
)  # fmt: skip

Category = Literal[
    "directional_preference", "strength", "endurance", "motor_control",
    "neurodynamics", "mobility", "stretch", "aerobic",
]  # fmt: skip
BodyRegion = Literal["lumbar", "hip", "lower_limb", "trunk", "whole_body"]
Position = Literal["prone", "supine", "sitting", "standing", "side_lying", "quadruped", "kneeling"]
Equipment = Literal[
    "mat", "pillow", "strap", "towel", "belt", "chair", "band", "step", "wall", "table", "none",
]  # fmt: skip
StopRule = Literal[
    "leg_symptoms_spread", "new_numbness_or_weakness", "pain_above_5",
    "worse_next_morning", "dizziness_chest_pain_breathless", "brief_tingling_must_settle",
]  # fmt: skip

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
Code = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$", max_length=60)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=40)]
SourceTag = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]+(?:-[A-Z0-9]+)*$", max_length=40)]
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(?:-[A-Z]{2})?$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=600)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
MediaUrl = Annotated[str, StringConstraints(pattern=r"^(?:https://\S+|/\S+)$", max_length=500)]

StrictModel = ConfigDict(extra="forbid", strict=True, frozen=True)


def _no_duplicates(values: list[Any]) -> list[Any]:
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        raise ValueError(f"duplicate entries {duplicates}")
    return values


def _require_default_locale(values: dict[str, Any]) -> dict[str, Any]:
    if DEFAULT_LOCALE not in values:
        raise ValueError(f"'{DEFAULT_LOCALE}' text is required")
    return values


T = TypeVar("T")
UniqueList = Annotated[list[T], AfterValidator(_no_duplicates)]
Localised = Annotated[dict[Locale, T], AfterValidator(_require_default_locale)]


class LocalisedText(BaseModel):
    """Patient text for one exercise in one locale."""

    model_config = StrictModel

    name: Name
    summary: Text
    steps: list[Text] = Field(min_length=1)
    cautions: list[Text] = Field(default_factory=list)


class Dose(BaseModel):
    """Starting dose for one exercise; a clinician may change it per patient."""

    model_config = StrictModel

    sets: int | None = Field(default=None, ge=1, le=10)
    reps: int | None = Field(default=None, ge=1, le=100)
    reps_max: int | None = Field(default=None, ge=1, le=100)
    hold_s: int | None = Field(default=None, ge=1, le=600)
    duration_s: int | None = Field(default=None, ge=1, le=3600)
    rest_s: int | None = Field(default=None, ge=0, le=600)
    times_per_day: int = Field(ge=1, le=12)
    days_per_week: int = Field(ge=1, le=7)
    duration_min: int | None = Field(default=None, ge=1, le=180)

    @field_validator("reps_max")
    @classmethod
    def _reps_max_needs_reps(cls, reps_max: int | None, info: ValidationInfo) -> int | None:
        if reps_max is None:
            return None
        if "reps" not in info.data:  # reps itself failed; that error is already reported
            return reps_max
        reps = info.data["reps"]
        if reps is None:
            raise ValueError("needs reps to be set as well")
        if reps_max < reps:
            raise ValueError(f"must be ≥ reps ({reps})")
        return reps_max

    @model_validator(mode="after")
    def _has_an_amount(self) -> Dose:
        if all(v is None for v in (self.reps, self.hold_s, self.duration_s, self.duration_min)):
            raise ValueError("set at least one of reps, hold_s, duration_s or duration_min")
        return self


class Media(BaseModel):
    model_config = StrictModel

    kind: Literal["image", "video"]
    url: MediaUrl
    alt: Localised[Text]


class Alternatives(BaseModel):
    """Suggestions outside the ladder (usually another chain); they need not point back."""

    model_config = StrictModel

    easier: UniqueList[Slug] = Field(default_factory=list)
    harder: UniqueList[Slug] = Field(default_factory=list)


class ExerciseSpec(BaseModel):
    model_config = StrictModel

    slug: Slug
    step: int = Field(ge=0, le=50)
    category: Category
    body_region: BodyRegion
    position: Position
    equipment: UniqueList[Equipment]
    default_dose: Dose
    progression: Slug | None
    regression: Slug | None
    alternatives: Alternatives = Field(default_factory=Alternatives)
    requires_clinician_unlock: bool
    indications: UniqueList[Code] = Field(min_length=1)
    stop_rules: UniqueList[StopRule] = Field(min_length=1)
    tags: UniqueList[Tag] = Field(default_factory=list)
    media: list[Media] = Field(default_factory=list)
    sources: UniqueList[SourceTag] = Field(min_length=1)
    text: Localised[LocalisedText]

    @field_validator("equipment")
    @classmethod
    def _none_stands_alone(cls, equipment: list[str]) -> list[str]:
        if "none" in equipment and len(equipment) > 1:
            raise ValueError("'none' cannot be combined with other equipment")
        return equipment

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, sources: list[str]) -> list[str]:
        unknown = [tag for tag in sources if tag not in SOURCE_TAGS]
        if unknown:
            raise ValueError(f"unknown source tags {unknown} (see clinical-content.md §6)")
        return sources

    @field_validator("stop_rules")
    @classmethod
    def _nerve_rules_on_nerve_exercises(cls, rules: list[str], info: ValidationInfo) -> list[str]:
        category = info.data.get("category")
        misplaced = [rule for rule in rules if rule in NEURODYNAMIC_ONLY_STOP_RULES]
        if misplaced and category is not None and category != "neurodynamics":
            raise ValueError(f"{misplaced} apply only to neurodynamics exercises")
        return rules

    @field_validator("progression", "regression")
    @classmethod
    def _not_itself(cls, target: str | None, info: ValidationInfo) -> str | None:
        if target is not None and target == info.data.get("slug"):
            raise ValueError("an exercise cannot link to itself")
        return target

    @field_validator("alternatives")
    @classmethod
    def _alternatives_not_itself(cls, alternatives: Alternatives, info: ValidationInfo) -> Alternatives:
        slug = info.data.get("slug")
        if slug is not None and slug in alternatives.easier + alternatives.harder:
            raise ValueError("an exercise cannot list itself as an alternative")
        return alternatives

    def localised(self, locale: str) -> LocalisedText:
        """Text in ``locale``, falling back to English."""
        return self.text.get(locale) or self.text[DEFAULT_LOCALE]


class ChainFile(BaseModel):
    """One ``exercises/<chain>.yaml`` file: a chain and its exercises in ladder order."""

    model_config = StrictModel

    chain: Slug
    title: Localised[Name]
    exercises: list[ExerciseSpec] = Field(min_length=1)


class CatalogueError(Exception):
    """Every problem found in the catalogue files, one readable message each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__(
            f"{len(self.errors)} problem(s) in the exercise catalogue:\n"
            + "\n".join(f"- {message}" for message in self.errors)
        )


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that refuses duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _where(
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


def _describe(error: dict[str, Any]) -> str:
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


def _validation_messages(file_label: str, raw: Any, exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        loc = error["loc"]
        if len(loc) >= 2 and loc[0] == "exercises" and isinstance(loc[1], int):
            where = _where(file_label, _exercise_slug(raw, loc[1]), loc[1], _field_path(loc[2:]) or None)
        else:
            where = _where(file_label, field=_field_path(loc) or None)
        messages.append(f"{where}: {_describe(error)}")
    return messages


def _raw_slugs(raw: Any) -> set[str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("exercises"), list):
        return set()
    return {ex["slug"] for ex in raw["exercises"] if isinstance(ex, dict) and isinstance(ex.get("slug"), str)}


def _check_file(file_label: str, stem: str, chain: ChainFile) -> list[str]:
    """Invariants that need the whole file but no other file."""
    errors = []
    if chain.chain != stem:
        where = _where(file_label, field="chain")
        errors.append(f"{where}: '{chain.chain}' must equal the file name '{stem}'")

    required_locales = REQUIRED_LOCALES_BY_CHAIN.get(chain.chain, frozenset())
    for locale in sorted(required_locales - chain.title.keys()):
        errors.append(f"{_where(file_label, field=f'title.{locale}')}: is required for this chain")
    for exercise in chain.exercises:
        for locale in sorted(required_locales - exercise.text.keys()):
            where = _where(file_label, exercise.slug, field=f"text.{locale}")
            errors.append(f"{where}: is required for this chain")

    by_step: dict[int, list[str]] = defaultdict(list)
    for exercise in chain.exercises:
        by_step[exercise.step].append(exercise.slug)
    for step, slugs in sorted(by_step.items()):
        for slug in slugs[1:]:
            where = _where(file_label, slug, field="step")
            errors.append(f"{where}: step {step} is also used by '{slugs[0]}'")
    steps = sorted(by_step)
    first = steps[0]
    if first not in (0, 1):
        slug = by_step[first][0]
        errors.append(f"{_where(file_label, slug, field='step')}: the first step must be 0 or 1, not {first}")
    for previous, current in zip(steps, steps[1:], strict=False):
        if current != previous + 1:
            slug = by_step[current][0]
            missing = list(range(previous + 1, current))
            errors.append(
                f"{_where(file_label, slug, field='step')}: steps must be contiguous; step {current} follows "
                f"step {previous} (missing {missing})"
            )
    return errors


def _ladder_target(
    index: dict[str, tuple[str, ChainFile, ExerciseSpec]], chain: ChainFile, target_slug: str, where: str
) -> tuple[ExerciseSpec | None, list[str]]:
    """The exercise a ladder link names, or None and the error if it is unknown or in another chain."""
    if target_slug not in index:
        return None, [f"{where}: unknown exercise '{target_slug}'"]
    target_file, target_chain, target = index[target_slug]
    if target_chain.chain != chain.chain:
        return None, [
            f"{where}: '{target_slug}' is in chain '{target_chain.chain}' ({target_file}); "
            "ladder links stay within a chain (use alternatives for other chains)"
        ]
    return target, []


def _progression_errors(where: str, exercise: ExerciseSpec, target: ExerciseSpec) -> list[str]:
    """The next step up: step + 1, pointing back, and never an open exercise behind a locked one."""
    errors = []
    if target.step != exercise.step + 1:
        errors.append(f"{where}: '{target.slug}' is at step {target.step}; expected {exercise.step + 1}")
    if target.regression != exercise.slug:
        errors.append(
            f"{where}: '{target.slug}' has regression {target.regression!r}; expected '{exercise.slug}'"
        )
    if exercise.requires_clinician_unlock and not target.requires_clinician_unlock:
        errors.append(
            f"{where}: '{target.slug}' needs no clinician unlock but is reachable only through this locked "
            f"step; end the ladder here (null) or lock '{target.slug}' too"
        )
    return errors


def _regression_errors(where: str, exercise: ExerciseSpec, target: ExerciseSpec) -> list[str]:
    """A step back: any lower step of the chain that needs no unlock. It need not point back (a side exit)."""
    errors = []
    if target.requires_clinician_unlock:
        errors.append(
            f"{where}: '{target.slug}' needs a clinician unlock, so it cannot be a regression "
            "(stepping back must never unlock an exercise)"
        )
    if target.step >= exercise.step:
        errors.append(
            f"{where}: '{target.slug}' is at step {target.step}; a regression must be at a lower step "
            f"than {exercise.step}"
        )
    return errors


# Ladder link field → the rules its target must meet.
LADDER_LINKS = {"progression": _progression_errors, "regression": _regression_errors}


def _regression_cycles(
    chains: list[tuple[str, ChainFile]], index: dict[str, tuple[str, ChainFile, ExerciseSpec]]
) -> list[str]:
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
                where = _where(index[slug][0], slug, field="regression")
                errors.append(f"{where}: regression links form a cycle: {' → '.join([*loop, slug])}")
            walked.update(path)
    return errors


def _check_links(chains: list[tuple[str, ChainFile]], unverifiable: set[str]) -> list[str]:
    """Cross-file invariants: unique slugs, in-chain ladder links, locks, existing alternatives."""
    errors = []
    index: dict[str, tuple[str, ChainFile, ExerciseSpec]] = {}
    for file_label, chain in chains:
        for exercise in chain.exercises:
            if exercise.slug in index:
                where = _where(file_label, exercise.slug, field="slug")
                errors.append(f"{where}: duplicate slug, already defined in {index[exercise.slug][0]}")
                continue
            index[exercise.slug] = (file_label, chain, exercise)

    for file_label, chain in chains:
        for exercise in chain.exercises:
            if index[exercise.slug][2] is not exercise:  # the duplicate was reported above
                continue
            for field, link_errors in LADDER_LINKS.items():
                target_slug = getattr(exercise, field)
                if target_slug is None or target_slug in unverifiable:
                    continue
                where = _where(file_label, exercise.slug, field=field)
                target, target_errors = _ladder_target(index, chain, target_slug, where)
                errors.extend(target_errors)
                if target is not None:
                    errors.extend(link_errors(where, exercise, target))

            for direction in ("easier", "harder"):
                for position, target_slug in enumerate(getattr(exercise.alternatives, direction)):
                    if target_slug in unverifiable:
                        continue
                    where = _where(file_label, exercise.slug, field=f"alternatives.{direction}[{position}]")
                    if target_slug not in index:
                        errors.append(f"{where}: unknown exercise '{target_slug}'")
                    elif index[target_slug][2].requires_clinician_unlock:
                        errors.append(
                            f"{where}: '{target_slug}' needs a clinician unlock, so it is not an alternative"
                        )
    errors.extend(_regression_cycles(chains, index))
    return errors


def _load_one(path: Path, label: str) -> tuple[ChainFile | None, Any, list[str]]:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - safe loader subclass
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return None, None, [f"{label}: cannot be read: {exc}"]
    if not isinstance(raw, dict):
        return None, raw, [f"{label}: the top level must be a mapping with chain, title and exercises"]
    try:
        chain = ChainFile.model_validate(raw)
    except ValidationError as exc:
        return None, raw, _validation_messages(label, raw, exc)
    return chain, raw, _check_file(label, path.stem, chain)


def load_catalogue(directory: Path = CATALOGUE_DIR) -> list[ChainFile]:
    """Load every ``*.yaml`` chain file in ``directory`` and check all invariants.

    Returns the chains sorted by file name. Raises :class:`CatalogueError` listing every problem.
    """
    directory = Path(directory)
    errors: list[str] = []
    if not directory.is_dir():
        raise CatalogueError([f"{directory}: catalogue directory not found"])
    paths = sorted(directory.glob("*.yaml"))
    for stray in sorted(directory.glob("*.yml")):
        errors.append(f"{directory.name}/{stray.name}: chain files must use the .yaml extension")
    if not paths:
        errors.append(f"{directory.name}: no *.yaml chain files found")

    loaded: list[tuple[str, ChainFile]] = []
    unverifiable: set[str] = set()  # slugs in files that failed, so links to them are not misreported
    for path in paths:
        label = f"{directory.name}/{path.name}"
        chain, raw, file_errors = _load_one(path, label)
        errors.extend(file_errors)
        if chain is None:
            unverifiable |= _raw_slugs(raw)
        else:
            loaded.append((label, chain))

    unverifiable -= {exercise.slug for _, chain in loaded for exercise in chain.exercises}
    errors.extend(_check_links(loaded, unverifiable))
    if errors:
        raise CatalogueError(errors)
    return [chain for _, chain in loaded]


def exercises_by_slug(chains: list[ChainFile]) -> dict[str, tuple[ChainFile, ExerciseSpec]]:
    """Index a loaded catalogue by exercise slug."""
    return {exercise.slug: (chain, exercise) for chain in chains for exercise in chain.exercises}
