"""The exercise catalogue files: the real catalogue loads, and each broken invariant is reported by name."""

from __future__ import annotations

import shutil
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.models.catalogue_files import (
    CATALOGUE_DIR,
    CATALOGUE_LOCALES,
    CONTRAINDICATIONS,
    STOP_RULES,
    CatalogueError,
    ChainFile,
    Contraindication,
    StopRule,
    exercises_by_slug,
    load_catalogue,
)
from app.models.dose_words import numbers_outside_placeholders

EXPECTED_CHAIN_SIZES = {
    "extension": 7,
    "flexion": 5,
    "bridge": 4,
    "front-plank": 3,
    "side-plank": 3,
    "bird-dog": 2,
    "dead-bug": 4,
    "sciatic-glide": 5,
    "femoral-glide": 3,
    "mobility-stretch": 7,
    "walking": 3,
}
LOCKED = {"prone-press-up-overpressure", "slump-slider", "sciatic-tensioner", "side-lying-femoral-tensioner"}
NERVE_GLIDES = {
    "supine-ankle-pump-glide", "supine-sciatic-slider", "seated-sciatic-slider", "slump-slider",
    "sciatic-tensioner", "prone-knee-bend-glide", "side-lying-femoral-slider", "side-lying-femoral-tensioner",
}  # fmt: skip


@pytest.fixture(scope="module")
def catalogue() -> list[ChainFile]:
    return load_catalogue(CATALOGUE_DIR)


@pytest.fixture(scope="module")
def by_chain(catalogue: list[ChainFile]) -> dict[str, ChainFile]:
    return {chain.chain: chain for chain in catalogue}


@pytest.fixture(scope="module")
def by_slug(catalogue: list[ChainFile]) -> dict[str, Any]:
    return {slug: exercise for slug, (_, exercise) in exercises_by_slug(catalogue).items()}


# --- the real catalogue -------------------------------------------------------------------------


def test_catalogue_dir_is_the_repository_exercises_folder() -> None:
    repo_root = Path(__file__).resolve().parents[2]
    assert repo_root / "exercises" == CATALOGUE_DIR


def test_real_catalogue_has_every_chain_at_its_clinical_size(catalogue: list[ChainFile]) -> None:
    sizes = {chain.chain: len(chain.exercises) for chain in catalogue}

    assert sizes == EXPECTED_CHAIN_SIZES
    assert sum(sizes.values()) == 46


def test_exercises_are_listed_in_ladder_order(by_chain: dict[str, ChainFile]) -> None:
    for name, chain in by_chain.items():
        steps = [exercise.step for exercise in chain.exercises]
        first = 0 if name == "sciatic-glide" else 1
        assert steps == list(range(first, first + len(steps))), name


def test_every_chain_and_exercise_has_text_in_every_catalogue_locale(catalogue: list[ChainFile]) -> None:
    assert CATALOGUE_LOCALES == ("en", "es")
    for chain in catalogue:
        assert set(chain.title) == set(CATALOGUE_LOCALES), chain.chain
        for exercise in chain.exercises:
            english = exercise.text["en"]
            assert set(exercise.text) == set(CATALOGUE_LOCALES), exercise.slug
            assert set(exercise.illustration.alt) == set(CATALOGUE_LOCALES), exercise.slug
            assert all(set(media.alt) == set(CATALOGUE_LOCALES) for media in exercise.media), exercise.slug
            spanish = exercise.text["es"]
            assert spanish.name != english.name or spanish.name in ("Dead bug", "Plancha"), exercise.slug
            assert len(spanish.steps) == len(english.steps), exercise.slug
            assert len(spanish.cautions) == len(english.cautions), exercise.slug


def test_press_ups_are_called_extension_in_spanish(by_chain: dict[str, ChainFile]) -> None:
    # "Flexión de brazos" reads as the opposite direction in an extension chain (review W3).
    for exercise in by_chain["extension"].exercises:
        spanish = exercise.text["es"]
        words = " ".join([spanish.name, spanish.summary, *spanish.steps, *spanish.cautions])
        assert "flexión" not in words.casefold(), exercise.slug
        assert "flexión" not in exercise.illustration.alt["es"].casefold(), exercise.slug
    assert by_chain["extension"].exercises[3].text["es"].name.startswith("Extensión")


def test_every_exercise_has_english_text_and_alt_text(catalogue: list[ChainFile]) -> None:
    for chain in catalogue:
        assert chain.title["en"]
        for exercise in chain.exercises:
            english = exercise.text["en"]
            assert english.name and english.summary and english.steps
            assert exercise.illustration and exercise.illustration.alt["en"], exercise.slug


def test_exactly_the_high_load_steps_need_a_clinician_unlock(by_slug: dict[str, Any]) -> None:
    locked = {slug for slug, exercise in by_slug.items() if exercise.requires_clinician_unlock}

    assert locked == LOCKED
    # The locks do not break the ladders: the step before each locked one still links to it.
    assert by_slug["seated-sciatic-slider"].progression == "slump-slider"
    assert by_slug["slump-slider"].progression == "sciatic-tensioner"
    assert by_slug["side-lying-femoral-slider"].progression == "side-lying-femoral-tensioner"
    assert by_slug["prone-press-up-exhale-sag"].progression == "prone-press-up-overpressure"
    # A locked step cannot be a regression: the tensioner steps back past the slump slider.
    assert by_slug["sciatic-tensioner"].regression == "seated-sciatic-slider"


def test_mobility_stretch_chain_has_separate_ladders(by_slug: dict[str, Any]) -> None:
    assert (by_slug["cat-camel"].progression, by_slug["cat-camel"].regression) == (None, None)
    assert by_slug["figure-four-stretch"].progression == "figure-four-pull-stretch"
    assert by_slug["figure-four-pull-stretch"].progression is None
    assert by_slug["strap-hamstring-stretch"].regression is None
    assert by_slug["strap-hamstring-stretch"].progression == "standing-hamstring-stretch"
    assert by_slug["standing-hip-flexor-stretch"].progression == "half-kneeling-hip-flexor-stretch"


def test_cross_chain_suggestions_live_in_alternatives(by_slug: dict[str, Any]) -> None:
    assert "quadruped-single-limb-lift" in by_slug["cat-camel"].alternatives.harder
    assert "posterior-pelvic-tilt" in by_slug["double-leg-bridge"].alternatives.easier
    assert "posterior-pelvic-tilt" in by_slug["dead-bug-hold"].alternatives.easier
    assert "cat-camel" in by_slug["quadruped-single-limb-lift"].alternatives.easier
    assert by_slug["double-leg-bridge"].regression is None


def test_doses_follow_the_clinical_reference(by_slug: dict[str, Any], by_chain: dict[str, ChainFile]) -> None:
    for exercise in by_chain["extension"].exercises:
        assert (exercise.default_dose.times_per_day, exercise.default_dose.days_per_week) == (6, 7)
    assert by_slug["prone-lying-over-pillows"].default_dose.duration_s == 120
    assert by_slug["prone-press-up"].default_dose.reps == 10
    bridge = by_slug["double-leg-bridge"].default_dose
    assert (bridge.sets, bridge.reps, bridge.days_per_week) == (2, 10, 3)
    knee_to_chest = by_slug["single-knee-to-chest"].default_dose
    assert (knee_to_chest.reps, knee_to_chest.reps_max) == (6, 10)
    assert by_slug["target-walk"].default_dose.duration_min == 30
    assert by_slug["target-walk"].default_dose.days_per_week == 5


def test_stop_rules_have_patient_text_in_every_catalogue_locale(catalogue: list[ChainFile]) -> None:
    assert set(STOP_RULES) == set(typing.get_args(StopRule))
    for texts in STOP_RULES.values():
        assert all(texts[locale].strip() for locale in CATALOGUE_LOCALES)
    used = {rule for chain in catalogue for exercise in chain.exercises for rule in exercise.stop_rules}
    assert used == set(STOP_RULES)


def test_stop_rules_promise_only_what_is_built() -> None:
    assert "twice in a row, your physio will be told" in STOP_RULES["worse_next_morning"]["en"]
    assert "dos mañanas seguidas" in STOP_RULES["worse_next_morning"]["es"]
    assert "above 3 out of 10" in STOP_RULES["leg_pain_above_3"]["en"]
    assert "numb or weak" in STOP_RULES["nerve_glide_symptoms"]["en"]


def test_nerve_glides_have_one_consistent_rule_set(catalogue: list[ChainFile]) -> None:
    nerve_only = {"nerve_glide_symptoms", "leg_pain_above_3"}
    not_on_nerves = {"new_numbness_or_weakness", "pain_above_5"}
    for chain in catalogue:
        for exercise in chain.exercises:
            rules = set(exercise.stop_rules)
            if exercise.category == "neurodynamics":
                assert nerve_only <= rules and not rules & not_on_nerves, exercise.slug
            else:
                assert not rules & nerve_only, exercise.slug


def test_localised_text_falls_back_to_english(by_slug: dict[str, Any]) -> None:
    assert by_slug["bird-dog"].localised("fr").name == by_slug["bird-dog"].text["en"].name
    assert by_slug["double-leg-bridge"].localised("es").name == "Puente"


# --- contraindications, sides and nerve tension (review H6, H7, M7, M8, W4) ----------------------


def test_contraindication_codes_are_exported_in_order() -> None:
    assert typing.get_args(Contraindication) == CONTRAINDICATIONS
    assert "pregnancy" in CONTRAINDICATIONS and "neurodynamic_sensitivity" in CONTRAINDICATIONS


def _with(by_slug: dict[str, Any], code: str) -> set[str]:
    return {slug for slug, exercise in by_slug.items() if code in exercise.contraindications}


def test_contraindications_follow_the_clinical_rules(
    by_slug: dict[str, Any], by_chain: dict[str, ChainFile]
) -> None:
    chain_of = {exercise.slug: name for name, chain in by_chain.items() for exercise in chain.exercises}
    prone = {slug for slug, exercise in by_slug.items() if exercise.position == "prone"}
    assert len(prone) == 10 and prone <= _with(by_slug, "pregnancy")
    assert {slug for slug in by_slug if chain_of[slug] == "dead-bug"} <= _with(by_slug, "pregnancy")
    assert _with(by_slug, "extension_intolerant") == {
        slug for slug in by_slug if chain_of[slug] == "extension"
    }
    assert _with(by_slug, "flexion_intolerant") >= {
        slug for slug in by_slug if chain_of[slug] == "flexion"
    } | {"slump-slider"}
    assert _with(by_slug, "stenosis") >= {"standing-extension", "prone-press-up-overpressure"}
    assert _with(by_slug, "osteoporosis") == {
        "single-knee-to-chest", "double-knees-to-chest", "seated-flexion", "standing-flexion",
        "slump-slider", "cat-camel",
    }  # fmt: skip
    holds = {
        "knee-plank",
        "front-plank",
        "knee-side-plank",
        "side-plank",
        "dead-bug-hold",
        "double-leg-bridge",
    }
    assert holds | {"bird-dog", "banded-bridge"} <= _with(by_slug, "uncontrolled_hypertension")
    assert {
        "single-knee-to-chest", "double-knees-to-chest", "figure-four-stretch", "figure-four-pull-stretch",
        "side-lying-femoral-slider", "side-lying-femoral-tensioner",
    } <= _with(by_slug, "hip_replacement")  # fmt: skip
    assert {"sciatic-tensioner", "side-lying-femoral-tensioner", "prone-press-up-overpressure"} <= _with(
        by_slug, "recent_spinal_surgery"
    )
    assert _with(by_slug, "neurodynamic_sensitivity") == {
        "strap-hamstring-stretch", "standing-hamstring-stretch", "sciatic-tensioner",
        "side-lying-femoral-tensioner",
    }  # fmt: skip
    # Sliders treat neurodynamic sensitivity; walking is never withheld.
    assert not by_slug["supine-sciatic-slider"].contraindications
    assert not any(by_slug[slug].contraindications for slug in by_slug if chain_of[slug] == "walking")


def test_one_leg_nerve_glides_need_a_side_and_say_so(by_slug: dict[str, Any]) -> None:
    assert {slug for slug, exercise in by_slug.items() if exercise.side_required} == NERVE_GLIDES
    for slug in NERVE_GLIDES:
        english, spanish = by_slug[slug].text["en"], by_slug[slug].text["es"]
        assert "the leg your physio chose" in " ".join(english.steps), slug
        assert "la pierna que eligió tu fisioterapeuta" in " ".join(spanish.steps), slug
        text = " ".join([english.summary, *english.steps, *english.cautions])
        assert "painful leg" not in text and "without symptoms" not in text, slug


def test_hamstring_stretches_leave_the_ankle_relaxed(by_slug: dict[str, Any]) -> None:
    strap = by_slug["strap-hamstring-stretch"].text["en"]
    assert "arch" in strap.steps[0] and "sole" not in " ".join(strap.steps)
    assert any("Do not pull your toes" in step for step in strap.steps)
    standing = by_slug["standing-hamstring-stretch"].text["en"]
    assert "toes pointing up" not in " ".join(standing.steps)
    assert by_slug["strap-hamstring-stretch"].alternatives.easier == []


def test_sciatic_step_zero_is_a_true_slider(by_slug: dict[str, Any]) -> None:
    steps = by_slug["supine-ankle-pump-glide"].text["en"].steps
    straighten = next(step for step in steps if step.startswith("Straighten the knee"))
    bend = next(step for step in steps if step.startswith("Bend the knee"))
    assert "point your toes away" in straighten and "pull your toes up" in bend


def test_the_missing_cautions_are_there(by_slug: dict[str, Any]) -> None:
    def cautions(slug: str) -> str:
        return " ".join(by_slug[slug].text["en"].cautions)

    for slug in (
        "knee-side-plank",
        "side-plank",
        "side-plank-leg-lift",
        "dead-bug-hold",
        "double-leg-bridge",
    ):
        assert "hold your breath" in cautions(slug) and "blood pressure" in cautions(slug), slug
    assert "dizzy" in cautions("standing-extension") and "looking forward" in cautions("standing-extension")
    for slug in ("single-knee-to-chest", "double-knees-to-chest", "side-lying-femoral-slider"):
        assert "hip replacement" in cautions(slug), slug
    for slug in ("short-walks", "continuous-walk", "target-walk"):
        assert "see your doctor (GP) soon" in cautions(slug), slug
        assert "calf" in cautions(slug) and "tell your physio." not in cautions(slug).split("calf")[1]


# A patient who becomes pregnant, or learns of a condition, after the prescription still reads why.
CAUTION_WORDS = {
    "pregnancy": ("pregnant", "embarazada"),
    "osteoporosis": ("osteoporosis", "osteoporosis"),
    "uncontrolled_hypertension": ("blood pressure", "tensión alta"),
    "hip_replacement": ("hip replacement", "prótesis de cadera"),
}


def test_each_condition_a_patient_may_not_have_told_us_has_a_caution(catalogue: list[ChainFile]) -> None:
    for chain in catalogue:
        for exercise in chain.exercises:
            for code in set(exercise.contraindications) & set(CAUTION_WORDS):
                english, spanish = CAUTION_WORDS[code]
                assert english in " ".join(exercise.text["en"].cautions), (exercise.slug, code)
                assert spanish in " ".join(exercise.text["es"].cautions), (exercise.slug, code)


def test_summaries_and_steps_state_no_dose(catalogue: list[ChainFile]) -> None:
    for chain in catalogue:
        for exercise in chain.exercises:
            for text in exercise.text.values():
                for line in (text.summary, *text.steps):
                    assert numbers_outside_placeholders(line) == [], (exercise.slug, line)


# --- broken copies ------------------------------------------------------------------------------


@pytest.fixture
def catalogue_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "exercises"
    shutil.copytree(CATALOGUE_DIR, directory)
    return directory


Mutation = Callable[[dict[str, Any]], None]


def edit(directory: Path, chain: str, mutate: Mutation) -> None:
    path = directory / f"{chain}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def exercise(data: dict[str, Any], slug: str) -> dict[str, Any]:
    return next(item for item in data["exercises"] if item["slug"] == slug)


def change(slug: str, *path: str, value: Any) -> Mutation:
    """Set a (nested) field of one exercise."""

    def mutate(data: dict[str, Any]) -> None:
        target = exercise(data, slug)
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def remove(slug: str, *path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target = exercise(data, slug)
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


def set_top(key: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data[key] = value

    return mutate


def load_errors(directory: Path) -> list[str]:
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(directory)
    return raised.value.errors


def assert_reported(errors: list[str], *fragments: str) -> None:
    assert any(all(fragment in error for fragment in fragments) for error in errors), (fragments, errors)


BROKEN_CASES = [
    pytest.param(
        "bridge",
        change("marching-bridge", "regression", value=None),
        ("exercises/bridge.yaml: exercise 'banded-bridge' field progression:", "expected 'banded-bridge'"),
        id="asymmetric-link",
    ),
    pytest.param(
        "bridge",
        change("double-leg-bridge", "regression", value="posterior-pelvic-tilt"),
        ("exercises/bridge.yaml: exercise 'double-leg-bridge' field regression:", "chain 'flexion'"),
        id="ladder-link-to-another-chain",
    ),
    pytest.param(
        "flexion",
        both(
            change("posterior-pelvic-tilt", "progression", value="double-knees-to-chest"),
            change("double-knees-to-chest", "regression", value="posterior-pelvic-tilt"),
        ),
        ("exercises/flexion.yaml: exercise 'posterior-pelvic-tilt' field progression:", "expected 2"),
        id="ladder-link-skips-a-step",
    ),
    pytest.param(
        "walking",
        change("target-walk", "progression", value="marathon"),
        ("exercises/walking.yaml: exercise 'target-walk' field progression: unknown exercise 'marathon'",),
        id="dangling-progression",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "step", value=5),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field step:", "contiguous", "missing [4]"),
        id="step-gap",
    ),
    pytest.param(
        "bridge",
        change("marching-bridge", "step", value=2),
        ("exercises/bridge.yaml: exercise 'marching-bridge' field step:", "also used by 'banded-bridge'"),
        id="duplicate-step",
    ),
    pytest.param(
        "walking",
        lambda data: [item.update(step=item["step"] + 1) for item in data["exercises"]],
        ("exercises/walking.yaml: exercise 'short-walks' field step: the first step must be 0 or 1",),
        id="steps-start-at-2",
    ),
    pytest.param(
        "walking",
        both(
            change("target-walk", "slug", value="bird-dog"),
            change("continuous-walk", "progression", value="bird-dog"),
        ),
        (
            "exercises/walking.yaml: exercise 'bird-dog' field slug: duplicate slug",
            "already defined in exercises/bird-dog.yaml",
        ),
        id="duplicate-slug-across-files",
    ),
    pytest.param(
        "flexion",
        change("standing-flexion", "slug", value="double-knees-to-chest"),
        (
            "exercises/flexion.yaml: exercise 'double-knees-to-chest' field slug: duplicate slug",
            "already defined in exercises/flexion.yaml",
        ),
        id="duplicate-slug-in-one-file",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "colour", value="red"),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field colour: unknown key",),
        id="unknown-exercise-key",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "default_dose", "weight_kg", value=5),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field default_dose.weight_kg: unknown key",),
        id="unknown-dose-key",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "text", "en", "tip", value="Smile"),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field text.en.tip: unknown key",),
        id="unknown-text-key",
    ),
    pytest.param(
        "walking",
        set_top("author", "someone"),
        ("exercises/walking.yaml: field author: unknown key",),
        id="unknown-top-level-key",
    ),
    pytest.param(
        "walking",
        remove("short-walks", "text", "en"),
        ("exercises/walking.yaml: exercise 'short-walks' field text: 'en' text is required",),
        id="missing-english-text",
    ),
    pytest.param(
        "bridge",
        remove("banded-bridge", "text", "en"),
        ("exercises/bridge.yaml: exercise 'banded-bridge' field text: 'en' text is required",),
        id="missing-english-text-in-spanish-chain",
    ),
    pytest.param(
        "walking",
        change("short-walks", "text", "en", "steps", value=[]),
        ("exercises/walking.yaml: exercise 'short-walks' field text.en.steps: needs at least 1 item",),
        id="english-without-steps",
    ),
    pytest.param(
        "walking",
        change("short-walks", "text", "en", "name", value="   "),
        ("exercises/walking.yaml: exercise 'short-walks' field text.en.name: must not be empty",),
        id="blank-english-name",
    ),
    pytest.param(
        "bridge",
        remove("single-leg-bridge", "text", "es", "summary"),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field text.es.summary: is required",),
        id="incomplete-spanish-block",
    ),
    pytest.param(
        "sciatic-glide",
        remove("slump-slider", "text", "es"),
        (
            "exercises/sciatic-glide.yaml: exercise 'slump-slider' field text.es: "
            "is required (catalogue locales: en, es)",
        ),
        id="missing-spanish-text",
    ),
    pytest.param(
        "walking",
        remove("target-walk", "text", "es"),
        ("exercises/walking.yaml: exercise 'target-walk' field text.es: is required (catalogue locales",),
        id="declared-locale-missing-in-any-chain",
    ),
    pytest.param(
        "extension",
        lambda data: data["title"].pop("es"),
        ("exercises/extension.yaml: field title.es: is required (catalogue locales: en, es)",),
        id="missing-spanish-chain-title",
    ),
    pytest.param(
        "walking",
        lambda data: exercise(data, "short-walks")["illustration"]["alt"].pop("es"),
        ("exercises/walking.yaml: exercise 'short-walks' field illustration.alt.es: is required",),
        id="missing-spanish-illustration-alt",
    ),
    pytest.param(
        "walking",
        change(
            "short-walks",
            "media",
            value=[{"kind": "video", "url": "https://clinic.test/v", "alt": {"en": "a"}}],
        ),
        ("exercises/walking.yaml: exercise 'short-walks' field media[0].alt.es: is required",),
        id="missing-spanish-media-alt",
    ),
    pytest.param(
        "walking",
        lambda data: exercise(data, "short-walks")["illustration"].pop("arrows"),
        ("exercises/walking.yaml: exercise 'short-walks' field illustration.arrows: is required",),
        id="illustration-without-arrow",
    ),
    pytest.param(
        "walking",
        change("short-walks", "illustration", "frames", value=[{"pose": "flying"}]),
        ("exercises/walking.yaml: exercise 'short-walks' field illustration.frames[0].pose:",),
        id="unknown-base-pose",
    ),
    pytest.param(
        "walking",
        lambda data: data["title"].pop("en"),
        ("exercises/walking.yaml: field title: 'en' text is required",),
        id="missing-english-chain-title",
    ),
    pytest.param(
        "walking",
        change(
            "short-walks",
            "media",
            value=[{"kind": "image", "url": "https://clinic.test/i", "alt": {"es": "a"}}],
        ),
        ("exercises/walking.yaml: exercise 'short-walks' field media[0].alt: 'en' text is required",),
        id="media-alt-without-english",
    ),
    pytest.param(
        "walking",
        change(
            "short-walks",
            "media",
            value=[{"kind": "audio", "url": "https://x.org/a.mp3", "alt": {"en": "a"}}],
        ),
        ("exercises/walking.yaml: exercise 'short-walks' field media[0].kind:", "'audio' is not allowed"),
        id="unknown-media-kind",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "default_dose", "days_per_week", value=8),
        (
            "exercises/bridge.yaml: exercise 'single-leg-bridge'"
            " field default_dose.days_per_week: must be ≤ 7",
        ),
        id="dose-days-above-7",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "default_dose", "hold_s", value=601),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field default_dose.hold_s: must be ≤ 600",),
        id="dose-hold-above-600",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "default_dose", "reps_max", value=4),
        (
            "exercises/bridge.yaml: exercise 'single-leg-bridge'"
            " field default_dose.reps_max: must be ≥ reps (6)",
        ),
        id="dose-reps-max-below-reps",
    ),
    pytest.param(
        "walking",
        remove("short-walks", "default_dose", "times_per_day"),
        ("exercises/walking.yaml: exercise 'short-walks' field default_dose.times_per_day: is required",),
        id="dose-without-times-per-day",
    ),
    pytest.param(
        "walking",
        change("short-walks", "default_dose", "duration_min", value=None),
        ("exercises/walking.yaml: exercise 'short-walks' field default_dose: set at least one of reps",),
        id="dose-without-an-amount",
    ),
    pytest.param(
        "walking",
        change("short-walks", "default_dose", "duration_min", value="5"),
        ("exercises/walking.yaml: exercise 'short-walks' field default_dose.duration_min:",),
        id="dose-number-as-text",
    ),
    pytest.param(
        "bridge",
        change("double-leg-bridge", "alternatives", "easier", value=["wall-sit"]),
        (
            "exercises/bridge.yaml: exercise 'double-leg-bridge'"
            " field alternatives.easier[0]: unknown exercise 'wall-sit'",
        ),
        id="dangling-alternative",
    ),
    pytest.param(
        "bridge",
        change("double-leg-bridge", "alternatives", "harder", value=["double-leg-bridge"]),
        (
            "exercises/bridge.yaml: exercise 'double-leg-bridge'"
            " field alternatives: an exercise cannot list itself",
        ),
        id="alternative-to-itself",
    ),
    pytest.param(
        "extension",
        change("standing-extension", "alternatives", "harder", value=["sciatic-tensioner"]),
        (
            "exercises/extension.yaml: exercise 'standing-extension' field alternatives.harder[0]:",
            "clinician unlock",
        ),
        id="alternative-bypassing-a-lock",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "progression", value="single-leg-bridge"),
        (
            "exercises/bridge.yaml: exercise 'single-leg-bridge'"
            " field progression: an exercise cannot link to itself",
        ),
        id="link-to-itself",
    ),
    pytest.param(
        "bridge",
        lambda data: exercise(data, "single-leg-bridge")["stop_rules"].append("feels_tired"),
        (
            "exercises/bridge.yaml: exercise 'single-leg-bridge' field stop_rules[5]:",
            "'feels_tired' is not allowed",
        ),
        id="unknown-stop-rule",
    ),
    pytest.param(
        "bridge",
        lambda data: exercise(data, "single-leg-bridge")["stop_rules"].append("nerve_glide_symptoms"),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field stop_rules:", "only to neurodynamics"),
        id="nerve-stop-rule-on-a-bridge",
    ),
    pytest.param(
        "sciatic-glide",
        lambda data: exercise(data, "seated-sciatic-slider")["stop_rules"].append("pain_above_5"),
        (
            "exercises/sciatic-glide.yaml: exercise 'seated-sciatic-slider' field stop_rules:",
            "['pain_above_5'] do not apply to neurodynamics exercises",
        ),
        id="nerve-glide-with-pain-above-5",
    ),
    pytest.param(
        "femoral-glide",
        lambda data: exercise(data, "prone-knee-bend-glide")["stop_rules"].append("new_numbness_or_weakness"),
        ("exercise 'prone-knee-bend-glide' field stop_rules:", "['new_numbness_or_weakness'] do not apply"),
        id="nerve-glide-with-the-old-numbness-rule",
    ),
    pytest.param(
        "sciatic-glide",
        lambda data: exercise(data, "supine-sciatic-slider")["stop_rules"].remove("leg_pain_above_3"),
        (
            "exercises/sciatic-glide.yaml: exercise 'supine-sciatic-slider' field stop_rules:",
            "a neurodynamics exercise needs ['leg_pain_above_3']",
        ),
        id="nerve-glide-without-the-leg-pain-rule",
    ),
    pytest.param(
        "bridge",
        lambda data: exercise(data, "single-leg-bridge")["stop_rules"].append("brief_tingling_must_settle"),
        ("exercise 'single-leg-bridge' field stop_rules[5]:", "'brief_tingling_must_settle' is not allowed"),
        id="retired-stop-rule",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "contraindications", value=["heart_disease"]),
        (
            "exercises/bridge.yaml: exercise 'single-leg-bridge' field contraindications[0]:",
            "'heart_disease' is not allowed",
        ),
        id="unknown-contraindication",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "contraindications", value=["pregnancy", "pregnancy"]),
        ("exercise 'single-leg-bridge' field contraindications: duplicate entries ['pregnancy']",),
        id="duplicate-contraindication",
    ),
    pytest.param(
        "sciatic-glide",
        change("slump-slider", "side_required", value="yes"),
        ("exercises/sciatic-glide.yaml: exercise 'slump-slider' field side_required:",),
        id="side-required-not-a-boolean",
    ),
    pytest.param(
        "bridge",
        change("double-leg-bridge", "text", "en", "summary", value="Lift your hips {count} times."),
        (
            "exercises/bridge.yaml: exercise 'double-leg-bridge' field text.en.summary:",
            "unknown placeholder {count}; use one of {reps}, {sets}, {hold}, {duration}, {per_day}",
        ),
        id="unknown-placeholder",
    ),
    pytest.param(
        "bridge",
        lambda data: exercise(data, "double-leg-bridge")["text"]["es"]["cautions"].append("Aguanta {reps."),
        (
            "exercise 'double-leg-bridge' field text.es.cautions[3]:",
            "'{' or '}' that is not part of a placeholder",
        ),
        id="stray-brace",
    ),
    pytest.param(
        "bridge",
        change("double-leg-bridge", "text", "en", "name", value="Bridge {reps}"),
        ("exercise 'double-leg-bridge' field text.en.name: a name cannot hold a placeholder",),
        id="placeholder-in-a-name",
    ),
    pytest.param(
        "bridge",
        change("double-leg-bridge", "text", "en", "summary", value="Lift your hips. Do 10, holding each."),
        (
            "exercises/bridge.yaml: exercise 'double-leg-bridge' field text.en.summary: "
            "states the number(s) ['10']; a dose goes through a placeholder",
        ),
        id="digit-in-a-summary",
    ),
    pytest.param(
        "bridge",
        lambda data: exercise(data, "banded-bridge")["text"]["es"]["steps"].__setitem__(
            4, "Aguanta 5 segundos."
        ),
        ("exercise 'banded-bridge' field text.es.steps[4]: states the number(s) ['5']",),
        id="digit-in-a-spanish-step",
    ),
    pytest.param(
        "bridge",
        change("double-leg-bridge", "text", "es", "summary", value="Sube la cadera y baja despacio."),
        (
            "exercise 'double-leg-bridge' field text.es: uses the placeholders ['hold'] but the English "
            "text uses ['hold', 'reps', 'sets']",
        ),
        id="placeholders-differ-between-locales",
    ),
    pytest.param(
        "bridge",
        change("double-leg-bridge", "default_dose", "hold_s", value=None),
        ("exercise 'double-leg-bridge' field default_dose: the text uses {hold}, so set hold_s",),
        id="placeholder-without-its-dose",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "stop_rules", value=[]),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field stop_rules: needs at least 1 item",),
        id="no-stop-rules",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "category", value="cardio"),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field category:", "'cardio' is not allowed"),
        id="unknown-category",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "equipment", value=["mat", "mat"]),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field equipment: duplicate entries ['mat']",),
        id="duplicate-equipment",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "sources", value=["MADE-UP"]),
        (
            "exercises/bridge.yaml: exercise 'single-leg-bridge'"
            " field sources: unknown source tags ['MADE-UP']",
        ),
        id="unknown-source-tag",
    ),
    pytest.param(
        "bridge",
        change("single-leg-bridge", "indications", value=["Chronic LBP"]),
        ("exercises/bridge.yaml: exercise 'single-leg-bridge' field indications[0]:",),
        id="indication-not-snake-case",
    ),
    pytest.param(
        "walking",
        change("short-walks", "slug", value="Short_Walks"),
        ("exercises/walking.yaml: exercise 'Short_Walks' field slug:", "does not match"),
        id="slug-not-kebab-case",
    ),
    pytest.param(
        "walking",
        remove("short-walks", "slug"),
        ("exercises/walking.yaml: exercise #0 field slug: is required",),
        id="missing-slug-named-by-index",
    ),
    pytest.param(
        "walking",
        remove("short-walks", "progression"),
        ("exercises/walking.yaml: exercise 'short-walks' field progression: is required",),
        id="progression-must-be-explicit",
    ),
    pytest.param(
        "walking",
        set_top("chain", "walks"),
        ("exercises/walking.yaml: field chain: 'walks' must equal the file name 'walking'",),
        id="chain-differs-from-file-name",
    ),
]


@pytest.mark.parametrize(("chain", "mutate", "fragments"), BROKEN_CASES)
def test_broken_catalogue_names_file_exercise_and_field(
    catalogue_copy: Path, chain: str, mutate: Mutation, fragments: tuple[str, ...]
) -> None:
    edit(catalogue_copy, chain, mutate)

    assert_reported(load_errors(catalogue_copy), *fragments)


def test_out_of_bound_dose_message_is_exact(catalogue_copy: Path) -> None:
    edit(catalogue_copy, "bridge", change("single-leg-bridge", "default_dose", "reps", value=0))

    errors = load_errors(catalogue_copy)

    assert (
        "exercises/bridge.yaml: exercise 'single-leg-bridge' field default_dose.reps: must be ≥ 1" in errors
    )


def test_duplicate_yaml_key_is_an_error(catalogue_copy: Path) -> None:
    path = catalogue_copy / "bridge.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "    progression: banded-bridge\n", "    progression: banded-bridge\n    progression: null\n", 1
        ),
        encoding="utf-8",
    )

    assert_reported(
        load_errors(catalogue_copy), "exercises/bridge.yaml: cannot be read", "duplicate key 'progression'"
    )


def test_all_problems_in_all_files_are_reported_together(catalogue_copy: Path) -> None:
    edit(catalogue_copy, "bridge", change("single-leg-bridge", "default_dose", "reps", value=0))
    edit(catalogue_copy, "walking", change("target-walk", "progression", value="marathon"))
    edit(catalogue_copy, "dead-bug", change("dead-bug", "step", value=9))

    errors = load_errors(catalogue_copy)

    assert_reported(errors, "exercises/bridge.yaml", "default_dose.reps")
    assert_reported(errors, "exercises/walking.yaml", "unknown exercise 'marathon'")
    assert_reported(errors, "exercises/dead-bug.yaml", "exercise 'dead-bug' field step")


def test_a_broken_file_does_not_make_links_into_it_look_dangling(catalogue_copy: Path) -> None:
    edit(catalogue_copy, "bridge", change("single-leg-bridge", "colour", value="red"))

    errors = load_errors(catalogue_copy)

    assert errors == ["exercises/bridge.yaml: exercise 'single-leg-bridge' field colour: unknown key"]


def test_empty_or_missing_directory_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "exercises"
    empty.mkdir()

    assert_reported(load_errors(empty), "no *.yaml chain files found")
    assert_reported(load_errors(tmp_path / "absent"), "catalogue directory not found")


def test_yml_extension_is_rejected_rather_than_skipped(catalogue_copy: Path) -> None:
    (catalogue_copy / "walking.yaml").rename(catalogue_copy / "walking.yml")

    assert_reported(
        load_errors(catalogue_copy), "exercises/walking.yml: chain files must use the .yaml extension"
    )


def test_top_level_must_be_a_mapping(catalogue_copy: Path) -> None:
    (catalogue_copy / "walking.yaml").write_text("- just\n- a list\n", encoding="utf-8")

    assert_reported(load_errors(catalogue_copy), "exercises/walking.yaml: the top level must be a mapping")


def test_a_minimal_valid_chain_loads(tmp_path: Path) -> None:
    directory = tmp_path / "exercises"
    directory.mkdir()
    minimal = {
        "chain": "breathing",
        "title": {"en": "Breathing"},
        "exercises": [
            {
                "slug": "belly-breathing",
                "step": 1,
                "category": "mobility",
                "body_region": "trunk",
                "position": "supine",
                "equipment": [],
                "default_dose": {"duration_min": 2, "times_per_day": 1, "days_per_week": 7},
                "progression": None,
                "regression": None,
                "requires_clinician_unlock": False,
                "indications": ["chronic_lbp"],
                "stop_rules": ["dizziness_chest_pain_breathless"],
                "sources": ["JOSPT21"],
                "illustration": {
                    "alt": {"en": "Lying on the back, breathing.", "es": "Boca arriba, respirando."},
                    "frames": [{"pose": "hook_lying"}],
                    "arrows": [{"joint": "hip", "direction": 90, "length": 8, "shift": [10, 8]}],
                },
                "text": {
                    "en": {"name": "Belly breathing", "summary": "Breathe slowly.", "steps": ["Lie down."]},
                    "es": {"name": "Respiración", "summary": "Respira despacio.", "steps": ["Túmbate."]},
                },
            }
        ],
    }
    minimal["title"]["es"] = "Respiración"
    (directory / "breathing.yaml").write_text(yaml.safe_dump(minimal), encoding="utf-8")

    [chain] = load_catalogue(directory)

    assert chain.exercises[0].alternatives.easier == []
    assert chain.exercises[0].text["en"].cautions == []
    assert chain.exercises[0].contraindications == [] and chain.exercises[0].side_required is False


def test_a_locked_step_may_lead_to_a_locked_step_that_steps_back_past_it(catalogue_copy: Path) -> None:
    # slump-slider (locked) → sciatic-tensioner (locked), which steps back to the unlocked seated slider.
    edit(catalogue_copy, "sciatic-glide", change("sciatic-tensioner", "regression", value=None))

    assert load_errors(catalogue_copy) == [
        "exercises/sciatic-glide.yaml: exercise 'slump-slider' field progression: 'sciatic-tensioner' has no "
        "regression; it must step back past this locked step to a lower unlocked one"
    ]


def test_an_allowlisted_technique_number_is_not_a_dose(catalogue_copy: Path) -> None:
    edit(
        catalogue_copy,
        "bridge",
        change(
            "double-leg-bridge", "text", "en", "steps", value=["Bend your knees to 90°.", "Hold for {hold}."]
        ),
    )

    [bridge] = [chain for chain in load_catalogue(catalogue_copy) if chain.chain == "bridge"]
    assert bridge.exercises[0].text["en"].steps[0] == "Bend your knees to 90°."
