"""Contraindications and sides: an exercise checked against the patient's screening record when prescribed.

Each exercise in exercises/ lists the conditions it is contraindicated for (app.models.catalogue_files,
`Contraindication`); the patient's screening record says which conditions they have. A programme (from
scratch, from a template, or edited) that puts a contraindicated exercise in front of the patient is refused
with 409 `contraindicated`, naming each item and condition, unless a signed-in clinician overrides with a
reason: the override is recorded on the item and in the audit trail, and later edits that keep the item's
exercise need no new override for the same conditions. The progression engine never moves an item into a
contraindicated exercise on its own: it can only suggest it to a clinician.
"""

import uuid
from collections.abc import Callable
from typing import Any

from app.db import utcnow
from app.errors import Code, Conflict, Forbidden
from app.models.common import Actor
from app.models.exercise import Exercise
from app.models.patient import Patient
from app.models.programme import ProgrammeItem
from app.models.programme_document import PhaseDocument

# Which screening answers put a patient in each contraindication condition.
CONDITIONS: dict[str, Callable[[Patient], bool | None]] = {
    "pregnancy": lambda patient: patient.pregnant,
    "osteoporosis": lambda patient: patient.osteoporosis,
    "uncontrolled_hypertension": lambda patient: patient.uncontrolled_hypertension,
    "hip_replacement": lambda patient: patient.hip_replacement,
    "recent_spinal_surgery": lambda patient: patient.recent_spinal_surgery,
    # A directional preference for one direction: the other one tends to make symptoms spread.
    "extension_intolerant": lambda patient: patient.directional_preference == "flexion",
    "flexion_intolerant": lambda patient: patient.directional_preference == "extension",
    "stenosis": lambda patient: patient.stenosis_features,
    "neurodynamic_sensitivity": lambda patient: patient.neurodynamic_sensitivity,
}


def conditions(patient: Patient) -> frozenset[str]:
    return frozenset(name for name, has in CONDITIONS.items() if has(patient))


def conflicts(exercise: Exercise, patient_conditions: frozenset[str]) -> list[str]:
    return sorted(set(exercise.contraindications or ()) & patient_conditions)


def covered(override: dict[str, Any] | None, found: list[str]) -> bool:
    """An earlier override on the item (same exercise) already covers these conditions."""
    return override is not None and set(found) <= set(override["conditions"])


def check(
    actor: Actor,
    patient: Patient,
    lines: list[tuple[list[Any], Exercise, dict[str, Any] | None]],
    reason: str | None,
) -> dict[int, dict[str, Any]]:
    """Each line: (where in the body, the exercise, the item's standing override for that exercise).
    Returns the new overrides by line index; raises 409 contraindicated when a clinician's reason is
    missing, 403 clinician_required when the reason comes from anyone else."""
    patient_conditions = conditions(patient)
    problems: list[dict[str, Any]] = []
    overrides: dict[int, dict[str, Any]] = {}
    for index, (loc, exercise, standing) in enumerate(lines):
        found = conflicts(exercise, patient_conditions)
        if not found or covered(standing, found):
            continue
        problems.append(
            {
                "loc": loc,
                "message": f"'{exercise.slug}' is contraindicated for: {', '.join(found)}",
                "type": "contraindicated",
            }
        )
        overrides[index] = {
            "conditions": found,
            "reason": reason,
            "by": str(actor.id),
            "at": utcnow().isoformat(),
        }
    if not problems:
        return {}
    if reason is None:
        raise Conflict(
            "Some exercises are contraindicated for this patient's screening record; change them, or send "
            "override_contraindications with your clinical reason.",
            code=Code.CONTRAINDICATED,
            errors=problems,
        )
    if actor.kind != "staff":
        raise Forbidden(
            "Only a signed-in clinician can override a contraindication.", code=Code.CLINICIAN_REQUIRED
        )
    return overrides


def ensure_stopped_items_kept(
    actor: Actor,
    phases: list[PhaseDocument],
    found: dict[str, Exercise],
    existing: dict[uuid.UUID, ProgrammeItem],
) -> None:
    """Only a clinician may remove, or change the exercise of, an item stopped after a red session."""
    if actor.kind == "staff":
        return
    kept = {item.id: found[item.exercise].id for phase in phases for item in phase.items if item.id}
    if any(row.suspension is not None and kept.get(row.id) != row.exercise_id for row in existing.values()):
        raise Forbidden(
            "Only a clinician can remove or replace an exercise stopped after a red session.",
            code=Code.CLINICIAN_REQUIRED,
        )


def check_prescription(
    actor: Actor,
    patient: Patient,
    phases: list[PhaseDocument],
    found: dict[str, Exercise],
    existing: dict[uuid.UUID, ProgrammeItem],
    reason: str | None,
) -> dict[tuple[int, int], dict[str, Any]]:
    """Contraindications against the patient's screening record (app.services.prescribing); returns the
    new overrides by (phase, item) position."""
    places, lines = [], []
    for p, phase in enumerate(phases):
        for i, item in enumerate(phase.items):
            exercise = found[item.exercise]
            before = existing.get(item.id) if item.id is not None else None
            standing = (
                before.contraindication_override if before and before.exercise_id == exercise.id else None
            )
            places.append((p, i))
            lines.append((["body", "phases", p, "items", i, "exercise"], exercise, standing))
    made = check(actor, patient, lines, reason)
    return {places[index]: override for index, override in made.items()}
