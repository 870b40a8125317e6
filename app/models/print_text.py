"""The words of the printed handout and the progress charts, in every catalogue locale.

English is required and is the fallback for any other locale (``localised``). None of these lines promises
an action: the handout's safety text comes from app.models.safety_text, whose lines the rules keep.
"""

from datetime import date

from app.models.safety_text import Texts, localised

HANDOUT: dict[str, Texts] = {
    "page": {"en": "Page {page} of {pages}", "es": "Página {page} de {pages}"},
    "prepared_for": {"en": "Prepared for {name}", "es": "Preparado para {name}"},
    "starts": {"en": "Starts {date}", "es": "Empieza el {date}"},
    "ends": {"en": "Ends {date}", "es": "Termina el {date}"},
    "version": {"en": "Version {number} of {date}", "es": "Versión {number} del {date}"},
    "printed": {"en": "Printed {date}", "es": "Impreso el {date}"},
    "phase": {"en": "Your exercises now: {name}", "es": "Tus ejercicios ahora: {name}"},
    "goal": {"en": "Goal: {goal}", "es": "Objetivo: {goal}"},
    "rest": {"en": "Rest {rest} between sets", "es": "Descansa {rest} entre series"},
    "load": {"en": "Weight or band: {load}", "es": "Peso o banda: {load}"},
    "steps": {"en": "How to do it", "es": "Cómo se hace"},
    "cautions": {"en": "Take care", "es": "Ten cuidado"},
    "stop_rules": {"en": "Stop signs", "es": "Señales de parada"},
    "notes": {"en": "From your physio", "es": "De tu fisioterapeuta"},
    "no_items": {"en": "No exercises in this phase.", "es": "No hay ejercicios en esta fase."},
    "emergency": {"en": "Emergency", "es": "Emergencia"},
}

SIDES: dict[str, Texts] = {
    "left": {"en": "Left side", "es": "Lado izquierdo"},
    "right": {"en": "Right side", "es": "Lado derecho"},
    "both": {"en": "Both sides", "es": "Los dos lados"},
    "alternating": {"en": "Change sides each time", "es": "Cambia de lado cada vez"},
}

CHART: dict[str, Texts] = {
    "title": {"en": "Progress from {start} to {end}", "es": "Progreso del {start} al {end}"},
    "pain": {
        "en": "Pain during and after exercise (0–10)",
        "es": "Dolor durante y después del ejercicio (0–10)",
    },
    "during": {"en": "During", "es": "Durante"},
    "after": {"en": "After", "es": "Después"},
    "leg": {
        "en": "How far down the leg symptoms reached (lower on the chart is better)",
        "es": "Hasta dónde bajaron los síntomas por la pierna (más abajo en el gráfico es mejor)",
    },
    "adherence": {"en": "Sessions done each week (%)", "es": "Sesiones hechas cada semana (%)"},
    "meaningful": {"en": "Meaningful change", "es": "Cambio importante"},
    "no_data": {"en": "No data in this period", "es": "Sin datos en este periodo"},
    "no_outcomes": {
        "en": "No questionnaire scores in this period",
        "es": "Sin cuestionarios en este periodo",
    },
    # What a screen reader says about each panel.
    "pain_desc": {
        "en": "{days} days with sessions. Average pain during exercise: {first} on the first day, {last} on "
        "the last.",
        "es": "{days} días con sesiones. Dolor medio durante el ejercicio: {first} el primer día, {last} el "
        "último.",
    },
    "leg_desc": {
        "en": "How far down the leg symptoms reached: {first} on the first day, {last} on the last.",
        "es": "Hasta dónde llegaron los síntomas por la pierna: {first} el primer día, {last} el último.",
    },
    "adherence_desc": {
        "en": "{done} of {due} sessions done ({percent}%).",
        "es": "{done} de {due} sesiones hechas ({percent} %).",
    },
    "outcome_desc": {
        "en": "{name}: {first} at the start, {last} at the latest. The meaningful change line is at "
        "{target}.",
        "es": "{name}: {first} al principio, {last} en el último. La línea de cambio importante está en "
        "{target}.",
    },
    "outcome_desc_no_line": {
        "en": "{name}: {first} at the start, {last} at the latest.",
        "es": "{name}: {first} al principio, {last} en el último.",
    },
}

LEG_LEVELS: dict[str, Texts] = {
    "none": {"en": "none", "es": "nada"},
    "buttock": {"en": "buttock", "es": "nalga"},
    "thigh": {"en": "thigh", "es": "muslo"},
    "below_knee": {"en": "below the knee", "es": "debajo de la rodilla"},
    "foot": {"en": "foot", "es": "pie"},
}

# One chart panel per outcome series: the instrument's score (NPRS per site, with its recall period).
OUTCOMES: dict[str, Texts] = {
    "nprs.back": {"en": "Back pain (NPRS 0–10)", "es": "Dolor de espalda (EVN 0–10)"},
    "nprs.leg": {"en": "Leg pain (NPRS 0–10)", "es": "Dolor de pierna (EVN 0–10)"},
    "odi": {"en": "Disability (ODI %, lower is better)", "es": "Discapacidad (ODI %, menos es mejor)"},
    "rmdq": {
        "en": "Disability (RMDQ 0–24, lower is better)",
        "es": "Discapacidad (RMDQ 0–24, menos es mejor)",
    },
    "psfs": {"en": "Activities (PSFS 0–10, higher is better)", "es": "Actividades (PSFS 0–10, más es mejor)"},
}
RECALL: dict[str, Texts] = {
    "now": {"en": "now", "es": "ahora"},
    "worst_24h": {"en": "worst in 24 h", "es": "peor en 24 h"},
    "average_24h": {"en": "average over 24 h", "es": "media en 24 h"},
}

_MONTHS: dict[str, tuple[str, ...]] = {
    "en": (
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ),
    "es": (
        "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
        "noviembre", "diciembre",
    ),
}  # fmt: skip
_LONG_DATE: Texts = {"en": "{day} {month} {year}", "es": "{day} de {month} de {year}"}


def text(table: dict[str, Texts], key: str, locale: str, **values: object) -> str:
    """One line of ``table`` in ``locale`` (else English), its ``{names}`` filled."""
    line = localised(table[key], locale)
    return line.format(**values) if values else line


def long_date(day: date, locale: str) -> str:
    """ "3 December 2026", "3 de diciembre de 2026"."""
    months = _MONTHS.get(locale, _MONTHS["en"])
    return localised(_LONG_DATE, locale).format(day=day.day, month=months[day.month - 1], year=day.year)


def short_date(day: date, locale: str) -> str:
    """ "3 Dec", "3 dic": an axis label."""
    months = _MONTHS.get(locale, _MONTHS["en"])
    return f"{day.day} {months[day.month - 1][:3]}"
