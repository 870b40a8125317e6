"""`hep seed` and the catalogue upsert: idempotent by slug, archives what left the files, refuses bad files.

The upsert tests run on a database of their own: they archive and rewrite catalogue rows, which the
rest of the suite reads.
"""

import os
import shutil
import uuid

import pytest
import yaml
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from app.cli import cli
from app.db import make_engine
from app.models.catalogue_files import (
    CATALOGUE_DIR,
    CatalogueError,
    ChainFile,
    exercises_by_slug,
    load_catalogue,
)
from app.models.common import Actor
from app.models.exercise import Exercise, ExerciseText
from app.services import exercises
from app.services.catalogue import seed_catalogue
from tests import dbutil
from tests.factories import make_clinic, make_exercise

CATALOGUE = load_catalogue()
TOTAL = sum(len(chain.exercises) for chain in CATALOGUE)


@pytest.fixture
def fresh(tmp_path):
    """A session on a migrated, empty database of this test's own."""
    url = dbutil.create_database(os.environ.get("HEP_TEST_DATABASE_URL"), tmp_path / "seed.db")
    dbutil.migrate(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        yield session
    engine.dispose()
    dbutil.drop_database(url)


def _catalogue_rows(session: Session) -> dict[str, Exercise]:
    return {row.slug: row for row in session.exec(select(Exercise).where(Exercise.owner_clinic_id.is_(None)))}


def _without(chain_name: str) -> list[ChainFile]:
    return [chain for chain in CATALOGUE if chain.chain != chain_name]


def test_first_seed_creates_everything_and_the_second_changes_nothing(fresh):
    first = seed_catalogue(fresh, CATALOGUE)
    fresh.commit()
    assert (len(first.created), first.updated, first.unchanged, first.archived) == (TOTAL, [], [], [])
    texts = fresh.exec(select(func.count()).select_from(ExerciseText)).one()
    assert texts == sum(len(spec.text) for chain in CATALOGUE for spec in chain.exercises)
    stamps = {slug: row.updated_at for slug, row in _catalogue_rows(fresh).items()}

    again = seed_catalogue(fresh, CATALOGUE)
    fresh.commit()
    assert not again.changed and len(again.unchanged) == TOTAL
    assert "nothing to do" in again.summary()
    assert {slug: row.updated_at for slug, row in _catalogue_rows(fresh).items()} == stamps


def test_seed_stores_contraindications_side_and_raw_text(fresh):
    seed_catalogue(fresh, CATALOGUE)
    fresh.commit()
    rows = _catalogue_rows(fresh)
    specs = {slug: spec for slug, (_, spec) in exercises_by_slug(CATALOGUE).items()}
    assert {slug: row.contraindications for slug, row in rows.items()} == {
        slug: list(spec.contraindications) for slug, spec in specs.items()
    }
    assert {slug for slug, row in rows.items() if row.side_required} == {
        slug for slug, spec in specs.items() if spec.side_required
    }
    assert "pregnancy" in rows["prone-press-up"].contraindications and rows["slump-slider"].side_required
    bridge = {
        text.locale: text
        for text in fresh.exec(
            select(ExerciseText).where(ExerciseText.exercise_id == rows["double-leg-bridge"].id)
        )
    }
    assert set(bridge) == {"en", "es"}
    assert (
        bridge["en"].summary == specs["double-leg-bridge"].text["en"].summary
    )  # placeholders stored as written
    assert "{" not in bridge["en"].search_text and "{" not in bridge["es"].search_text


def test_a_changed_contraindication_is_an_update(fresh):
    seed_catalogue(fresh, CATALOGUE)
    fresh.commit()
    walking = next(chain for chain in CATALOGUE if chain.chain == "walking")
    first = walking.exercises[0]
    edited = first.model_copy(update={"contraindications": ["pregnancy"], "side_required": True})
    changed = walking.model_copy(update={"exercises": [edited, *walking.exercises[1:]]})

    report = seed_catalogue(fresh, [*_without("walking"), changed])
    fresh.commit()
    assert report.updated == [first.slug]
    row = _catalogue_rows(fresh)[first.slug]
    assert (row.contraindications, row.side_required) == (["pregnancy"], True)


def test_an_edited_entry_updates_that_exercise_only(fresh):
    seed_catalogue(fresh, CATALOGUE)
    fresh.commit()
    walking = next(chain for chain in CATALOGUE if chain.chain == "walking")
    first = walking.exercises[0]
    english = first.text["en"].model_copy(update={"summary": "A new summary."})
    edited = first.model_copy(update={"text": {"en": english}, "tags": ["walking", "new-tag"]})
    changed = walking.model_copy(update={"exercises": [edited, *walking.exercises[1:]]})

    report = seed_catalogue(fresh, [*_without("walking"), changed])
    fresh.commit()
    assert report.updated == [first.slug] and len(report.unchanged) == TOTAL - 1
    row = _catalogue_rows(fresh)[first.slug]
    assert row.tags == ["walking", "new-tag"]
    texts = fresh.exec(select(ExerciseText).where(ExerciseText.exercise_id == row.id)).all()
    assert {(text.locale, text.summary) for text in texts} == {("en", "A new summary.")}


def test_a_removed_exercise_is_archived_and_comes_back_when_re_added(fresh):
    seed_catalogue(fresh, CATALOGUE)
    fresh.commit()
    walking = {spec.slug for chain in CATALOGUE if chain.chain == "walking" for spec in chain.exercises}

    removed = seed_catalogue(fresh, _without("walking"))
    fresh.commit()
    assert set(removed.archived) == walking and not removed.created and not removed.updated
    rows = _catalogue_rows(fresh)
    assert len(rows) == TOTAL  # never deleted
    assert all(rows[slug].archived_at is not None for slug in walking)
    assert not seed_catalogue(fresh, _without("walking")).changed  # archived once, not again

    restored = seed_catalogue(fresh, CATALOGUE)
    fresh.commit()
    assert set(restored.updated) == walking and not restored.archived
    assert all(row.archived_at is None for row in _catalogue_rows(fresh).values())


def test_a_clinic_slug_taken_later_by_the_catalogue_still_resolves_to_the_clinic(fresh):
    clinic, other = make_clinic(fresh), make_clinic(fresh)
    own = make_exercise(fresh, clinic, slug="later-catalogue")
    walking = next(chain for chain in CATALOGUE if chain.chain == "walking")
    renamed = walking.model_copy(
        update={"exercises": [walking.exercises[0].model_copy(update={"slug": "later-catalogue"})]}
    )
    seed_catalogue(fresh, [renamed])
    fresh.commit()

    def resolve(clinic_id: uuid.UUID) -> Exercise:
        actor = Actor(kind="staff", id=uuid.uuid4(), clinic_id=clinic_id, role="physio")
        return exercises.get_exercise(fresh, actor, "later-catalogue")

    assert resolve(clinic.id).id == own.id
    assert resolve(other.id).owner_clinic_id is None


# --- the command --------------------------------------------------------------------------------

runner = CliRunner()


def test_seed_command_on_a_seeded_database_says_nothing_changed():
    result = runner.invoke(cli, ["seed"])
    assert result.exit_code == 0, result.output
    assert f"0 created, 0 updated, {TOTAL} unchanged, 0 archived; nothing to do" in result.stdout


def test_seed_command_refuses_invalid_files_naming_file_exercise_and_field(tmp_path, session):
    directory = tmp_path / "exercises"
    shutil.copytree(CATALOGUE_DIR, directory)
    path = directory / "bridge.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["exercises"][-1]["default_dose"]["reps"] = 0
    data["exercises"][0]["title"] = "unexpected"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    before = session.exec(select(func.max(Exercise.updated_at))).one()
    session.rollback()

    result = runner.invoke(cli, ["seed", "--directory", str(directory)])

    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert (
        "error: exercises/bridge.yaml: exercise 'single-leg-bridge' field default_dose.reps: must be ≥ 1"
        in errors
    )
    assert "error: exercises/bridge.yaml: exercise 'double-leg-bridge' field title: unknown key" in errors
    assert result.stdout == ""
    assert session.exec(select(func.max(Exercise.updated_at))).one() == before
    session.rollback()


def test_seed_command_refuses_a_declared_locale_that_is_missing(tmp_path, session):
    directory = tmp_path / "exercises"
    shutil.copytree(CATALOGUE_DIR, directory)
    path = directory / "walking.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["exercises"][0]["text"]["es"]
    del data["title"]["es"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    before = session.exec(select(func.max(Exercise.updated_at))).one()
    session.rollback()

    result = runner.invoke(cli, ["seed", "--directory", str(directory)])

    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert "error: exercises/walking.yaml: field title.es: is required (catalogue locales: en, es)" in errors
    assert (
        "error: exercises/walking.yaml: exercise 'short-walks' field text.es: is required "
        "(catalogue locales: en, es)" in errors
    )
    assert session.exec(select(func.max(Exercise.updated_at))).one() == before
    session.rollback()


# --- ladder safety (issue 13 item 5, clinical review H4) ----------------------------------------


def _broken_copy(tmp_path, chain: str, links: dict[str, dict[str, str | None]]):
    """A copy of the real catalogue with some ladder links of one chain file rewritten."""
    directory = tmp_path / "exercises"
    shutil.copytree(CATALOGUE_DIR, directory)
    path = directory / f"{chain}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for item in data["exercises"]:
        item.update(links.get(item["slug"], {}))
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return directory


def _load_errors(directory) -> list[str]:
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(directory)
    return raised.value.errors


def test_real_catalogue_steps_back_only_to_easier_unlocked_exercises():
    specs = {slug: spec for slug, (_, spec) in exercises_by_slug(load_catalogue(CATALOGUE_DIR)).items()}
    for spec in specs.values():
        if spec.regression is not None:
            target = specs[spec.regression]
            assert target.step < spec.step and not target.requires_clinician_unlock, spec.slug
        if spec.requires_clinician_unlock and spec.progression is not None:
            assert specs[spec.progression].requires_clinician_unlock, spec.slug
    standing = specs["standing-extension"]
    assert (standing.regression, standing.progression) == ("prone-press-up", None)
    assert not specs["prone-press-up"].requires_clinician_unlock
    assert standing.alternatives.easier == []
    assert specs["prone-press-up-overpressure"].progression is None


def test_a_regression_into_a_locked_step_is_refused(tmp_path):
    directory = _broken_copy(
        tmp_path, "extension", {"standing-extension": {"regression": "prone-press-up-overpressure"}}
    )

    assert _load_errors(directory) == [
        "exercises/extension.yaml: exercise 'standing-extension' field regression: "
        "'prone-press-up-overpressure' needs a clinician unlock, so it cannot be a regression "
        "(stepping back must never unlock an exercise)"
    ]


def test_a_regression_to_a_higher_step_is_refused(tmp_path):
    # half-kneeling-hip-flexor-stretch steps back to step 6, so this link makes no cycle: one error.
    directory = _broken_copy(
        tmp_path,
        "mobility-stretch",
        {"figure-four-stretch": {"regression": "half-kneeling-hip-flexor-stretch"}},
    )

    assert _load_errors(directory) == [
        "exercises/mobility-stretch.yaml: exercise 'figure-four-stretch' field regression: "
        "'half-kneeling-hip-flexor-stretch' is at step 7; a regression must be at a lower step than 2"
    ]


def test_a_regression_cycle_is_refused_and_named_whole(tmp_path):
    # A cycle needs at least one link that does not go down, so the step rule fires as well; the cycle
    # check is reported on its own and names the whole loop.
    directory = _broken_copy(tmp_path, "bridge", {"double-leg-bridge": {"regression": "single-leg-bridge"}})

    errors = _load_errors(directory)

    assert sorted(errors) == [
        "exercises/bridge.yaml: exercise 'double-leg-bridge' field regression: "
        "'single-leg-bridge' is at step 4; a regression must be at a lower step than 1",
        "exercises/bridge.yaml: exercise 'double-leg-bridge' field regression: regression links form a "
        "cycle: double-leg-bridge → single-leg-bridge → marching-bridge → banded-bridge → double-leg-bridge",
    ]


def test_an_exercise_reachable_only_through_a_locked_step_is_refused_at_seed_time(tmp_path, session):
    # The extension chain as it was before the fix: standing extension after the locked overpressure step.
    directory = _broken_copy(
        tmp_path,
        "extension",
        {
            "prone-press-up-overpressure": {"progression": "standing-extension"},
            "standing-extension": {"regression": "prone-press-up-overpressure"},
        },
    )
    reachable_only_through_the_lock = (
        "exercises/extension.yaml: exercise 'prone-press-up-overpressure' field progression: "
        "'standing-extension' needs no clinician unlock but is reachable only through this locked step; "
        "end the ladder here (null) or lock 'standing-extension' too"
    )
    locked_regression = (
        "exercises/extension.yaml: exercise 'standing-extension' field regression: "
        "'prone-press-up-overpressure' needs a clinician unlock, so it cannot be a regression "
        "(stepping back must never unlock an exercise)"
    )

    assert sorted(_load_errors(directory)) == [reachable_only_through_the_lock, locked_regression]

    before = session.exec(select(func.max(Exercise.updated_at))).one()
    session.rollback()
    result = runner.invoke(cli, ["seed", "--directory", str(directory)])
    assert result.exit_code == 1
    assert f"error: {reachable_only_through_the_lock}" in result.stderr.splitlines()
    assert session.exec(select(func.max(Exercise.updated_at))).one() == before
    session.rollback()
