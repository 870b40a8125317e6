"""The exercise catalogue as data files: schema and loader.

Each chain of the shared catalogue is one YAML file in ``exercises/`` named after the chain slug.
This module validates those files and nothing else: it knows no FastAPI and no database, so the
seed, the CLI and the tests can all use it. Clinical basis: ``clinical-content.md`` §1 (catalogue),
§2.3 (progression) and §3.3 (stop rules, in ``app.models.stop_rules``).

An entry is checked here on its own; ``app.models.catalogue_checks`` adds what needs the whole file or
every file (ladders, locks, declared locales, dose numbers in text). Ladder links stay within a chain. A
``progression`` is the next step (step + 1), and that step's ``regression`` points back. A
``regression`` may be any lower step that needs no clinician unlock (a "side exit", such as standing
extension stepping back to the plain press-up). A locked step may not lead on to an unlocked one, and the
locked step after a locked one steps back past it (the sciatic tensioner to the seated slider).

Every problem is reported as ``<dir>/<file>.yaml: exercise '<slug>' field <path>: <message>`` and
all problems found are raised together in one :class:`CatalogueError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

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

from app.models import dose_words
from app.models.catalogue_checks import check_file, check_links, raw_slugs, validation_messages
from app.models.illustration import Illustration
from app.models.stop_rules import NEURODYNAMICS_ONLY, NOT_ON_NEURODYNAMICS
from app.models.stop_rules import STOP_RULES as STOP_RULES  # re-exported: the codes and their texts
from app.models.stop_rules import StopRule as StopRule

CATALOGUE_DIR = Path(__file__).resolve().parent.parent.parent / "exercises"

DEFAULT_LOCALE = "en"

# Every catalogue exercise and chain title has text in each of these (the clinic's launch languages);
# the loader, and so the seed, refuses a file that misses one. A clinic's own exercises need English only.
CATALOGUE_LOCALES = ("en", "es")

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
# Conditions for which an exercise must not be prescribed unless a clinician overrides (review H7).
# The prescription check maps a patient's screening record onto these codes.
Contraindication = Literal[
    "pregnancy", "osteoporosis", "uncontrolled_hypertension", "hip_replacement", "recent_spinal_surgery",
    "extension_intolerant", "flexion_intolerant", "stenosis", "neurodynamic_sensitivity",
]  # fmt: skip
CONTRAINDICATIONS: tuple[str, ...] = get_args(Contraindication)

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


def _valid_template(text: str) -> str:
    problems = dose_words.template_problems(text)
    if problems:
        raise ValueError("; ".join(problems))
    return text


def _no_placeholder(text: str) -> str:
    if "{" in text or "}" in text:
        raise ValueError("a name cannot hold a placeholder or braces")
    return text


T = TypeVar("T")
UniqueList = Annotated[list[T], AfterValidator(_no_duplicates)]
Localised = Annotated[dict[Locale, T], AfterValidator(_require_default_locale)]
# Patient text: may name the dose only through the placeholders of app.models.dose_words.
PatientText = Annotated[Text, AfterValidator(_valid_template)]


class LocalisedText(BaseModel):
    """Patient text for one exercise in one locale; summary, steps and cautions may use dose placeholders."""

    model_config = StrictModel

    name: Annotated[Name, AfterValidator(_no_placeholder)]
    summary: PatientText
    steps: list[PatientText] = Field(min_length=1)
    cautions: list[PatientText] = Field(default_factory=list)


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
    contraindications: UniqueList[Contraindication] = Field(
        default_factory=list,
        description="Conditions for which the exercise is not prescribed unless a clinician overrides.",
    )
    side_required: bool = Field(
        default=False, description="One leg at a time: the clinician must choose left or right."
    )
    indications: UniqueList[Code] = Field(min_length=1)
    stop_rules: UniqueList[StopRule] = Field(min_length=1)
    tags: UniqueList[Tag] = Field(default_factory=list)
    illustration: Illustration | None = Field(
        default=None,
        description="Pose data the service draws the exercise's picture from (required in the catalogue)",
    )
    media: list[Media] = Field(
        default_factory=list, description="The clinic's own image or video links, shown after the drawing"
    )
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
        if category is None:  # category itself failed; that error is already reported
            return rules
        if category != "neurodynamics":
            misplaced = sorted(NEURODYNAMICS_ONLY.intersection(rules))
            if misplaced:
                raise ValueError(f"{misplaced} apply only to neurodynamics exercises")
            return rules
        contradicting = sorted(NOT_ON_NEURODYNAMICS.intersection(rules))
        if contradicting:
            raise ValueError(
                f"{contradicting} do not apply to neurodynamics exercises (nerve_glide_symptoms and "
                "leg_pain_above_3 replace them)"
            )
        missing = sorted(NEURODYNAMICS_ONLY.difference(rules))
        if missing:
            raise ValueError(f"a neurodynamics exercise needs {missing}")
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
        return None, raw, validation_messages(label, raw, exc)
    return chain, raw, check_file(label, path.stem, chain, CATALOGUE_LOCALES)


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
            unverifiable |= raw_slugs(raw)
        else:
            loaded.append((label, chain))

    unverifiable -= {exercise.slug for _, chain in loaded for exercise in chain.exercises}
    errors.extend(check_links(loaded, unverifiable))
    if errors:
        raise CatalogueError(errors)
    return [chain for _, chain in loaded]


def exercises_by_slug(chains: list[ChainFile]) -> dict[str, tuple[ChainFile, ExerciseSpec]]:
    """Index a loaded catalogue by exercise slug."""
    return {exercise.slug: (chain, exercise) for chain in chains for exercise in chain.exercises}
