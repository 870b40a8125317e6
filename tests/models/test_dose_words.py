"""Dose words: placeholders filled from a dose, and the prescription in plain words (English, Spanish)."""

import pytest

from app.models.dose_words import (
    PLACEHOLDERS,
    dose_sentence,
    fill,
    numbers_outside_placeholders,
    placeholders,
    template_problems,
    without_placeholders,
)

BRIDGE = {"sets": 2, "reps": 10, "hold_s": 3, "times_per_day": 1, "days_of_week": [1, 3, 5]}
TILTS = {"sets": 1, "reps": 10, "reps_max": 15, "times_per_day": 3, "days_of_week": [1, 2, 3, 4, 5, 6, 7]}
PRONE_LYING = {"sets": 1, "duration_s": 120, "times_per_day": 6, "days_per_week": 7}
WALK = {"duration_min": 30, "times_per_day": 1, "days_per_week": 5}
GLIDE = {"sets": 2, "duration_s": 30, "times_per_day": 2, "days_of_week": [6, 7]}
HOLDS = {"sets": 3, "hold_s": 20, "times_per_day": 1, "days_of_week": [2]}
ONE_REP = {"reps": 1, "hold_s": 90, "times_per_day": 1}

SENTENCES = [
    pytest.param(
        BRIDGE, "en", "2 sets of 10, hold 3 seconds, on Monday, Wednesday and Friday", id="bridge-en"
    ),
    pytest.param(
        BRIDGE, "es", "2 series de 10, aguanta 3 segundos, los lunes, miércoles y viernes", id="bridge-es"
    ),
    pytest.param(TILTS, "en", "1 set of 10–15, 3 times a day, every day", id="range-en"),
    pytest.param(TILTS, "es", "1 serie de 10–15, 3 veces al día, todos los días", id="range-es"),
    pytest.param(PRONE_LYING, "en", "2 minutes, 6 times a day, every day", id="duration-en"),
    pytest.param(PRONE_LYING, "es", "2 minutos, 6 veces al día, todos los días", id="duration-es"),
    pytest.param(WALK, "en", "30 minutes, on 5 days a week", id="minutes-en"),
    pytest.param(WALK, "es-ES", "30 minutos, 5 días por semana", id="minutes-regional-es"),
    pytest.param(
        GLIDE, "en", "2 sets of 30 seconds, twice a day, on Saturday and Sunday", id="timed-sets-en"
    ),
    pytest.param(
        GLIDE, "es", "2 series de 30 segundos, 2 veces al día, los sábados y domingos", id="timed-sets-es"
    ),
    pytest.param(HOLDS, "en", "3 sets, hold 20 seconds, on Tuesday", id="holds-en"),
    pytest.param(HOLDS, "es", "3 series, aguanta 20 segundos, los martes", id="holds-es"),
    pytest.param(ONE_REP, "en", "1 repetition, hold 90 seconds", id="singular-en"),
    pytest.param(ONE_REP, "es", "1 repetición, aguanta 90 segundos", id="singular-es"),
    pytest.param(
        BRIDGE, "fr", "2 sets of 10, hold 3 seconds, on Monday, Wednesday and Friday", id="other-is-en"
    ),
]


@pytest.mark.parametrize(("dose", "locale", "expected"), SENTENCES)
def test_dose_sentence(dose, locale, expected):
    assert dose_sentence(dose, locale) == expected


TEMPLATE = "Do {sets} of {reps}, holding each for {hold}, {per_day}. Then walk for {duration}."
FILLED = [
    pytest.param(
        {"sets": 2, "reps": 8, "reps_max": 12, "hold_s": 60, "duration_s": 45, "times_per_day": 1},
        "en",
        "Do 2 sets of 8–12, holding each for 1 minute, once a day. Then walk for 45 seconds.",
        id="en",
    ),
    pytest.param(
        {"sets": 1, "reps": 5, "reps_max": 5, "hold_s": 1, "duration_min": 20, "times_per_day": 2},
        "en",
        "Do 1 set of 5, holding each for 1 second, twice a day. Then walk for 20 minutes.",
        id="en-singular-and-equal-range",
    ),
    pytest.param(
        {"sets": 3, "reps": 10, "hold_s": 5, "duration_s": 120, "times_per_day": 4},
        "en",
        "Do 3 sets of 10, holding each for 5 seconds, 4 times a day. Then walk for 2 minutes.",
        id="en-plural",
    ),
    pytest.param(
        {"sets": 1, "reps": 10, "reps_max": 15, "hold_s": 1, "duration_s": 60, "times_per_day": 1},
        "es",
        "Do 1 serie of 10–15, holding each for 1 segundo, una vez al día. Then walk for 1 minuto.",
        id="es-words-only-for-the-placeholders",
    ),
]


@pytest.mark.parametrize(("dose", "locale", "expected"), FILLED)
def test_fill(dose, locale, expected):
    assert fill(TEMPLATE, dose, locale) == expected


def test_fill_spanish_text():
    text = "Haz {sets} de {reps}, aguantando {hold} arriba cada vez, {per_day}."
    dose = {"sets": 2, "reps": 6, "reps_max": 10, "hold_s": 3, "times_per_day": 3}
    assert (
        fill(text, dose, "es")
        == "Haz 2 series de 6–10, aguantando 3 segundos arriba cada vez, 3 veces al día."
    )


def test_a_missing_value_sends_the_patient_to_the_prescription_not_to_a_number():
    dose = {"reps": 10, "times_per_day": 1}
    assert fill("Hold for {hold}.", dose, "en") == "Hold for the time your physio set."
    assert fill("Aguanta {hold}.", dose, "es") == "Aguanta el tiempo que te indicó tu fisioterapeuta."
    assert fill("Do {sets}.", {}, "en") == "Do the sets your physio set."


def test_fill_leaves_text_without_known_placeholders_alone():
    assert fill("Lie down {gently}.", BRIDGE, "en") == "Lie down {gently}."
    assert fill("No dose here.", BRIDGE, "es") == "No dose here."


def test_checking_text():
    assert placeholders("Do {reps} then {hold} and {odd}.") == {"reps", "hold", "odd"}
    assert template_problems("Do {reps} for {hold}.") == []
    assert template_problems("Do {count}.") == [
        "unknown placeholder {count}; use one of {reps}, {sets}, {hold}, {duration}, {per_day}"
    ]
    assert template_problems("Do {reps.") == ["has a '{' or '}' that is not part of a placeholder"]
    assert template_problems("Do reps}.") == ["has a '{' or '}' that is not part of a placeholder"]
    assert numbers_outside_placeholders("Do {reps}, twice, at 90°.") == []
    assert numbers_outside_placeholders("Do 10, then 2.5 more, at 45°.") == ["10", "2.5", "45"]
    assert without_placeholders("Do {reps}  slow tilts {per_day}.") == "Do slow tilts ."
    assert PLACEHOLDERS == ("reps", "sets", "hold", "duration", "per_day")
