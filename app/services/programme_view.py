"""Render a programme revision for a patient: its frozen snapshot in one language, as a ProgrammeView.

Pure: reads only the snapshot and the service's own safety text, so a rendering can be cached for as
long as the revision and the text last (see ``patient_app``).
"""

from collections.abc import Mapping
from typing import Any

from app.models import dose_words
from app.models.catalogue_files import DEFAULT_LOCALE
from app.models.programme_view import (
    ExerciseView,
    HoldNotice,
    ItemView,
    PhaseView,
    ProgrammeView,
    SafetyView,
    StoppedNotice,
)
from app.models.safety_text import STOP_RULES_INTRO, emergency_warning, lines, localised
from app.services import red_flags


def render(snapshot: Mapping[str, Any], locale: str) -> ProgrammeView:
    """The patient's view of one revision: doses, and each exercise's text, media and stop rules."""
    programme = snapshot["programme"]
    exercises = snapshot["exercises"]
    return ProgrammeView(
        id=programme["id"],
        title=programme["title"],
        status=programme["status"],
        start_date=programme["start_date"],
        end_date=programme["end_date"],
        current_phase=programme["current_phase"],
        revision=programme["revision"],
        locale=locale,
        safety=SafetyView(
            emergency_warning=emergency_warning(locale),
            stop_rules_intro=localised(STOP_RULES_INTRO, locale),
        ),
        # Older snapshots have no safety_hold and no suspension.
        safety_hold=hold_notice(programme.get("safety_hold"), locale),
        phases=[
            PhaseView(
                position=phase["position"],
                name=phase["name"],
                goal=phase["goal"],
                items=[_item(item, exercises[str(item["exercise_id"])], locale) for item in phase["items"]],
            )
            for phase in programme["phases"]
        ],
    )


def hold_notice(hold: Mapping[str, Any] | None, locale: str) -> HoldNotice | None:
    """A programme on a safety hold says so, and repeats what the patient was told to do."""
    if hold is None:
        return None
    return HoldNotice(
        tier=hold["tier"], since=hold["since"], instruction=red_flags.hold_lines(hold["tier"], locale)
    )


def _item(item: Mapping[str, Any], by_locale: Mapping[str, Any], locale: str) -> ItemView:
    suspension = item.get("suspension")
    return ItemView(
        id=item["id"],
        position=item["position"],
        sets=item["sets"],
        reps=item["reps"],
        reps_max=item["reps_max"],
        hold_s=item["hold_s"],
        rest_s=item["rest_s"],
        duration_s=item["duration_s"],
        load=item["load"],
        side=item["side"],
        times_per_day=item["times_per_day"],
        days_of_week=item["days_of_week"],
        notes=item["notes"],
        dose_text=dose_words.dose_sentence(item, locale),
        exercise=_exercise(item, by_locale, locale),
        # An exercise stopped after a red session: since when, why, and what happens next.
        stopped=None
        if suspension is None
        else StoppedNotice(
            since=suspension["since"],
            reasons=suspension["reasons"],
            message=lines(["exercise_stopped", "exercise_stopped_why"], locale),
        ),
    )


def _exercise(item: Mapping[str, Any], by_locale: Mapping[str, Any], locale: str) -> ExerciseView:
    """The exercise's text in the patient's language (else English), its dose words filled from this
    item's prescription."""
    chosen = by_locale.get(locale) or by_locale[DEFAULT_LOCALE]
    text_locale = chosen["locale"]
    return ExerciseView(
        id=chosen["id"],
        slug=chosen["slug"],
        locale=text_locale,
        name=chosen["name"],
        media=chosen["media"],
        stop_rules=chosen["stop_rules"],
        position=chosen["position"],
        summary=dose_words.fill(chosen["summary"], item, text_locale),
        steps=[dose_words.fill(step, item, text_locale) for step in chosen["steps"]],
        cautions=[dose_words.fill(caution, item, text_locale) for caution in chosen["cautions"]],
    )
