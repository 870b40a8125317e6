"""Dose words: a prescription in plain words, and the placeholders patient text uses for it.

Exercise text never states a dose that the prescription can change (clinical review M9). A sentence
that needs the dose names a placeholder, and the text is filled from the dose being shown: the
exercise's default dose in the library, the patient's own item dose in the app.

- ``{reps}``: ``reps`` and ``reps_max``: "10", "10–15" (the bare number, in every locale);
- ``{sets}``: ``sets``: "1 set", "2 sets" / "1 serie", "2 series";
- ``{hold}``: ``hold_s``: "3 seconds", "1 minute" / "3 segundos", "1 minuto";
- ``{duration}``: ``duration_s``, else ``duration_min``: "30 seconds", "2 minutes" / "2 minutos";
- ``{per_day}``: ``times_per_day``: "once a day", "3 times a day" / "una vez al día", "3 veces al día".

``{reps}`` is the bare number, so the sentence names what is repeated ("Do {reps} slow tilts"); the
others carry their unit. A placeholder whose value the dose does not have is filled with words that
send the patient to the prescription ("the time your physio set"), never with a made-up number.

Pure: no database and no FastAPI. Locales other than Spanish are filled in English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypedDict

# Each placeholder and the dose fields it is filled from (any one of them is enough).
PLACEHOLDER_FIELDS: dict[str, tuple[str, ...]] = {
    "reps": ("reps",),
    "sets": ("sets",),
    "hold": ("hold_s",),
    "duration": ("duration_s", "duration_min"),
    "per_day": ("times_per_day",),
}
PLACEHOLDERS = tuple(PLACEHOLDER_FIELDS)

# Numbers that catalogue summaries and steps may state because they describe technique, never a dose.
# Keep it short: every entry is a number the prescription cannot change.
ALLOWED_NUMBERS = ("90°",)

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)?")
_DASH = "–"

# The words one locale needs; "and" is a keyword, hence the functional form.
_Words = TypedDict(
    "_Words",
    {
        "set": tuple[str, str],
        "second": tuple[str, str],
        "minute": tuple[str, str],
        "repetition": tuple[str, str],
        "of": str,
        "hold": str,
        "per_day": dict[int, str],
        "times_a_day": str,
        "every_day": str,
        "days_a_week": tuple[str, str],
        "on_days": str,
        "weekdays": tuple[str, ...],
        "and": str,
        "missing": dict[str, str],
    },
)

_WORDS: dict[str, _Words] = {
    "en": {
        "set": ("set", "sets"),
        "second": ("second", "seconds"),
        "minute": ("minute", "minutes"),
        "repetition": ("repetition", "repetitions"),
        "of": "{sets} of {amount}",
        "hold": "hold {hold}",
        "per_day": {1: "once a day", 2: "twice a day"},
        "times_a_day": "{n} times a day",
        "every_day": "every day",
        "days_a_week": ("on {n} day a week", "on {n} days a week"),
        "on_days": "on {days}",
        "weekdays": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        "and": "and",
        "missing": {
            "reps": "the number your physio set",
            "sets": "the sets your physio set",
            "hold": "the time your physio set",
            "duration": "the time your physio set",
            "per_day": "as often as your physio set",
        },
    },
    "es": {
        "set": ("serie", "series"),
        "second": ("segundo", "segundos"),
        "minute": ("minuto", "minutos"),
        "repetition": ("repetición", "repeticiones"),
        "of": "{sets} de {amount}",
        "hold": "aguanta {hold}",
        "per_day": {1: "una vez al día"},
        "times_a_day": "{n} veces al día",
        "every_day": "todos los días",
        "days_a_week": ("{n} día por semana", "{n} días por semana"),
        "on_days": "los {days}",
        # Plural, after "los": "los lunes y los sábados" reads as "every Monday and Saturday".
        "weekdays": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábados", "domingos"),
        "and": "y",
        "missing": {
            "reps": "las repeticiones que te indicó tu fisioterapeuta",
            "sets": "las series que te indicó tu fisioterapeuta",
            "hold": "el tiempo que te indicó tu fisioterapeuta",
            "duration": "el tiempo que te indicó tu fisioterapeuta",
            "per_day": "las veces al día que te indicó tu fisioterapeuta",
        },
    },
}


# --- checking text ------------------------------------------------------------------------------


def placeholders(text: str) -> set[str]:
    """The names inside ``{…}`` in ``text``, known or not."""
    return set(_PLACEHOLDER.findall(text))


def template_problems(text: str) -> list[str]:
    """Why ``text`` is not valid patient text: unknown placeholders and stray braces."""
    problems = [
        f"unknown placeholder {{{name}}}; use one of {', '.join(f'{{{p}}}' for p in PLACEHOLDERS)}"
        for name in sorted(placeholders(text) - set(PLACEHOLDERS))
    ]
    if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
        problems.append("has a '{' or '}' that is not part of a placeholder")
    return problems


def numbers_outside_placeholders(text: str) -> list[str]:
    """Numbers that ``text`` states itself, apart from placeholders and ``ALLOWED_NUMBERS``."""
    rest = _PLACEHOLDER.sub(" ", text)
    for allowed in ALLOWED_NUMBERS:
        rest = rest.replace(allowed, " ")
    return _DIGITS.findall(rest)


def without_placeholders(text: str) -> str:
    """``text`` with its placeholders taken out (for search: "10" or "{reps}" should match nothing)."""
    return " ".join(_PLACEHOLDER.sub(" ", text).split())


# --- words for one dose -------------------------------------------------------------------------


def _words(locale: str) -> _Words:
    return _WORDS["es"] if locale.lower().split("-")[0] == "es" else _WORDS["en"]


def _counted(n: int, forms: tuple[str, str]) -> str:
    return f"{n} {forms[0] if n == 1 else forms[1]}"


def _seconds(seconds: int, words: _Words) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return _counted(seconds // 60, words["minute"])
    return _counted(seconds, words["second"])


def _reps(dose: Mapping[str, Any]) -> str | None:
    reps, reps_max = dose.get("reps"), dose.get("reps_max")
    if reps is None:
        return None
    return f"{reps}{_DASH}{reps_max}" if reps_max is not None and reps_max != reps else str(reps)


def _duration(dose: Mapping[str, Any], words: _Words) -> str | None:
    if dose.get("duration_s") is not None:
        return _seconds(dose["duration_s"], words)
    if dose.get("duration_min") is not None:
        return _counted(dose["duration_min"], words["minute"])
    return None


def _per_day(times: int, words: _Words) -> str:
    return words["per_day"].get(times) or words["times_a_day"].format(n=times)


def seconds_words(seconds: int, locale: str) -> str:
    """A length of time in words: "45 seconds", "2 minutes" / "2 minutos" (the handout's rest)."""
    return _seconds(seconds, _words(locale))


def _values(dose: Mapping[str, Any], words: _Words) -> dict[str, str | None]:
    sets, hold, times = dose.get("sets"), dose.get("hold_s"), dose.get("times_per_day")
    return {
        "reps": _reps(dose),
        "sets": None if sets is None else _counted(sets, words["set"]),
        "hold": None if hold is None else _seconds(hold, words),
        "duration": _duration(dose, words),
        "per_day": None if times is None else _per_day(times, words),
    }


def fill(text: str, dose: Mapping[str, Any], locale: str) -> str:
    """``text`` with each known placeholder replaced by the words for ``dose`` in ``locale``.

    Anything in braces that is not a known placeholder is left as it is (stored text is checked on
    write, so this only keeps older text readable).
    """
    words = _words(locale)
    values = _values(dose, words)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        return values[name] or words["missing"][name]

    return _PLACEHOLDER.sub(replace, text)


def _days(dose: Mapping[str, Any], words: _Words) -> str | None:
    days = dose.get("days_of_week")
    if days:
        chosen = sorted(set(days))
        if len(chosen) == 7:
            return words["every_day"]
        names = [words["weekdays"][day - 1] for day in chosen]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {words['and']} {names[-1]}"
        return words["on_days"].format(days=listed)
    per_week = dose.get("days_per_week")
    if per_week is None:
        return None
    if per_week == 7:
        return words["every_day"]
    singular, plural = words["days_a_week"]
    return (singular if per_week == 1 else plural).format(n=per_week)


def dose_sentence(dose: Mapping[str, Any], locale: str) -> str:
    """The whole prescription in plain words, for example "2 sets of 10, hold 3 seconds, on Monday,
    Wednesday and Friday" or "1 serie de 10–15, 3 veces al día, todos los días".

    ``dose`` has any of sets, reps, reps_max, hold_s, duration_s, duration_min, times_per_day and
    days_of_week (ISO weekdays, 1 = Monday) or days_per_week. Once a day is not said.
    """
    words = _words(locale)
    values = _values(dose, words)
    parts: list[str] = []
    amount = values["reps"] or values["duration"]
    sets = dose.get("sets")
    if amount is not None and sets is not None and (values["reps"] or sets > 1):
        parts.append(words["of"].format(sets=values["sets"], amount=amount))
    elif values["reps"] is not None:
        reps_word = words["repetition"][0 if values["reps"] == "1" else 1]
        parts.append(f"{values['reps']} {reps_word}")
    elif amount is not None:
        parts.append(amount)
    elif values["sets"] is not None:
        parts.append(values["sets"])
    if values["reps"] is not None and values["duration"] is not None:
        parts.append(values["duration"])
    if values["hold"] is not None:
        parts.append(words["hold"].format(hold=values["hold"]))
    times = dose.get("times_per_day")
    if times is not None and times > 1:
        parts.append(_per_day(times, words))
    days = _days(dose, words)
    if days is not None:
        parts.append(days)
    return ", ".join(parts)
