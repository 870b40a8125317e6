"""Programmes as FHIR R4 CarePlans, exercises as ActivityDefinitions, patients as Patients, and the
server's CapabilityStatement: pure functions to JSON-ready dicts (outcomes: app/fhir_outcomes.py).

The mapping, the extensions and the caveats are documented in docs/fhir.md; the tests validate the output
with R4 (4.0.1) models (fhirclient) and read it with fhirpy. Nothing here touches the database or the web
framework.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.models.exercise import Exercise, ExercisePublic
from app.models.patient import Patient
from app.models.programme import PhasePublic, ProgrammePublic
from app.models.programme_document import ProgrammeStatus

PROBLEM_SYSTEM = "urn:hep:problem"  # the `code` of the service's problem+json errors
UCUM = "http://unitsofmeasure.org"
FHIR_VERSION = "4.0.1"
# When what the CapabilityStatement says last changed.
CAPABILITIES_DATE = "2026-12-03"
BCP47 = "urn:ietf:bcp:47"
# FHIR ids are at most 64 characters; a clinic's own slugs may be up to 80.
MAX_ID_LENGTH = 64

CARE_PLAN_STATUS: dict[ProgrammeStatus, str] = {
    "draft": "draft",
    "active": "active",
    "paused": "on-hold",
    "completed": "completed",
    "cancelled": "revoked",
}
# The status of an activity in the current phase of a started programme (the rest: _activity_status).
CURRENT_PHASE_STATUS: dict[ProgrammeStatus, str] = {
    "active": "in-progress",
    "paused": "on-hold",
    "completed": "completed",
    # Withdrawn: true whether it was cancelled as a draft or part-way through the phase.
    "cancelled": "cancelled",
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # ISO weekday 1 … 7
# Every exercise is something the clinician asks the patient to do: a request, not a workflow Task.
KIND = "ServiceRequest"


def instant(value: datetime) -> str:
    return value.isoformat()


def _seconds(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "s", "system": UCUM, "code": "s"}


def _minutes(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "min", "system": UCUM, "code": "min"}


def drop_none(values: dict[str, Any]) -> dict[str, Any]:
    # FHIR JSON has no nulls and no empty lists.
    return {key: value for key, value in values.items() if value is not None and value != []}


@dataclass(frozen=True)
class Canonicals:
    """The URLs of what the service defines (extensions, code systems, identifier systems, its exercises),
    under one base: HEP_FHIR_CANONICAL_BASE, else the deployment's own FHIR base (docs/fhir.md)."""

    base: str

    @property
    def dose_extension(self) -> str:
        return f"{self.base}/StructureDefinition/exercise-dose"

    @property
    def phase_extension(self) -> str:
        return f"{self.base}/StructureDefinition/programme-phase"

    @property
    def unlock_extension(self) -> str:
        return f"{self.base}/StructureDefinition/clinician-unlocked"

    @property
    def category_system(self) -> str:
        return f"{self.base}/CodeSystem/exercise-category"

    @property
    def chain_system(self) -> str:
        return f"{self.base}/CodeSystem/exercise-chain"

    def patient_identifier_system(self, clinic_id: uuid.UUID) -> str:
        """EHR identifiers are unique within one clinic, so each clinic has its own identifier system."""
        return f"{self.base}/clinic/{clinic_id}/patient-external-id"

    def exercise(self, slug: str, owner_clinic_id: uuid.UUID | None) -> str:
        """Catalogue slugs are the same everywhere; a clinic's own slug is unique only in that clinic."""
        if owner_clinic_id is None:
            return f"{self.base}/ActivityDefinition/{slug}"
        return f"{self.base}/clinic/{owner_clinic_id}/ActivityDefinition/{slug}"


def activity_definition_id(slug: str, exercise_id: uuid.UUID) -> str:
    return slug if len(slug) <= MAX_ID_LENGTH else str(exercise_id)


def _quantity(dose: Mapping[str, Any]) -> dict[str, Any]:
    """The amount of one set: its repetitions, else its duration or hold (every dose has one of them)."""
    if dose.get("reps") is not None:
        return {"value": dose["reps"], "unit": "repetitions", "system": UCUM, "code": "{repetitions}"}
    if dose.get("duration_s") is not None:
        return _seconds(dose["duration_s"])
    if dose.get("duration_min") is not None:
        return _minutes(dose["duration_min"])
    return _seconds(dose["hold_s"])


def _dose_extension(
    urls: Canonicals, dose: Mapping[str, Any], **more: dict[str, Any] | None
) -> dict[str, Any]:
    """The whole dose, machine-readable: `quantity` and `Timing` alone cannot say sets × reps, hold, rest."""
    parts: dict[str, dict[str, Any] | None] = {
        "sets": {"valueInteger": dose["sets"]} if dose.get("sets") is not None else None,
        "reps": {"valueInteger": dose["reps"]} if dose.get("reps") is not None else None,
        "repsMax": {"valueInteger": dose["reps_max"]} if dose.get("reps_max") is not None else None,
        "hold": {"valueDuration": _seconds(dose["hold_s"])} if dose.get("hold_s") is not None else None,
        "rest": {"valueDuration": _seconds(dose["rest_s"])} if dose.get("rest_s") is not None else None,
        "duration": (
            {"valueDuration": _seconds(dose["duration_s"])}
            if dose.get("duration_s") is not None
            else {"valueDuration": _minutes(dose["duration_min"])}
            if dose.get("duration_min") is not None
            else None
        ),
        "side": {"valueCode": dose["side"]} if dose.get("side") is not None else None,
        "load": {"valueString": dose["load"]} if dose.get("load") else None,
        **more,
    }
    return {
        "url": urls.dose_extension,
        "extension": [{"url": name, **value} for name, value in parts.items() if value is not None],
    }


def _phase_extension(urls: Canonicals, phase: PhasePublic) -> dict[str, Any]:
    parts = [{"url": "position", "valueInteger": phase.position}, {"url": "name", "valueString": phase.name}]
    if phase.goal:
        parts.append({"url": "goal", "valueString": phase.goal})
    return {"url": urls.phase_extension, "extension": parts}


def _activity_status(status: ProgrammeStatus, phase: int, current: int) -> str:
    """Phases before the current one are done; later ones have not started, or never will once closed."""
    if status == "draft":
        return "not-started"
    if phase < current:
        return "completed"
    if phase > current:
        return "cancelled" if status in ("completed", "cancelled") else "not-started"
    return CURRENT_PHASE_STATUS[status]


def care_plan(
    programme: ProgrammePublic,
    *,
    urls: Canonicals,
    clinic_id: uuid.UUID,
    external_id: str | None,
    exercise_owners: Mapping[uuid.UUID, uuid.UUID | None],
) -> dict[str, Any]:
    """The programme's current revision as a CarePlan. `exercise_owners` maps each item's exercise id to
    the clinic that owns it (None for the catalogue), which decides the ActivityDefinition's canonical."""
    subject: dict[str, Any] = {"reference": f"Patient/{programme.patient_id}"}
    if external_id:
        subject["identifier"] = {"system": urls.patient_identifier_system(clinic_id), "value": external_id}
    activities = []
    for phase in programme.phases:
        for item in phase.items:
            dose = item.model_dump()
            extensions = [_phase_extension(urls, phase), _dose_extension(urls, dose)]
            if item.requires_clinician_unlock:
                extensions.append({"url": urls.unlock_extension, "valueBoolean": item.clinician_unlocked})
            detail = {
                "extension": extensions,
                "kind": KIND,
                "instantiatesCanonical": [
                    urls.exercise(item.exercise_slug, exercise_owners[item.exercise_id])
                ],
                "code": {"text": item.exercise_name},
                "status": _activity_status(programme.status, phase.position, programme.current_phase),
                # Stopped after a red session until a clinician reviews it (docs/clinical-rules.md).
                "statusReason": {"text": "Stopped after a red session: " + ", ".join(item.suspension.reasons)}
                if item.suspension is not None
                else None,
                "scheduledTiming": {
                    "repeat": {
                        "frequency": item.times_per_day,
                        "period": 1,
                        "periodUnit": "d",
                        "dayOfWeek": [DAYS[day - 1] for day in item.days_of_week],
                    }
                },
                "performer": [{"reference": subject["reference"]}],
                "quantity": _quantity(dose),
                "description": item.notes or None,
            }
            if item.suspension is not None and detail["status"] == "in-progress":
                detail["status"] = "on-hold"
            # The item id survives edits, so an EHR can follow one prescription line across revisions.
            activities.append({"id": str(item.id), "detail": drop_none(detail)})
    period = {"start": programme.start_date.isoformat()}
    if programme.end_date is not None:
        period["end"] = programme.end_date.isoformat()
    return drop_none(
        {
            "resourceType": "CarePlan",
            "id": str(programme.id),
            "meta": {"versionId": str(programme.revision), "lastUpdated": instant(programme.updated_at)},
            "status": CARE_PLAN_STATUS[programme.status],
            "intent": "plan",
            "title": programme.title,
            "subject": subject,
            "period": period,
            "created": instant(programme.created_at),
            "activity": activities,
        }
    )


def _machine_name(slug: str) -> str:
    # FHIR wants a name usable as an identifier: starts with a capital letter, letters and digits only.
    name = "".join(part.capitalize() for part in slug.split("-"))
    return name if name[0].isalpha() else f"Exercise{name}"


def _description(text: ExercisePublic) -> str:
    lines = [text.summary, "", *(f"{number}. {step}" for number, step in enumerate(text.steps, 1))]
    if text.cautions:
        lines += ["", "Cautions:", "", *(f"- {caution}" for caution in text.cautions)]
    return "\n".join(lines)


def _default_timing(dose: Mapping[str, Any]) -> dict[str, Any]:
    """Timing cannot say "twice a day on 3 days a week": short of every day it gives the weekly count (the
    dose extension keeps both numbers)."""
    if dose["days_per_week"] == 7:
        return {"repeat": {"frequency": dose["times_per_day"], "period": 1, "periodUnit": "d"}}
    weekly = dose["times_per_day"] * dose["days_per_week"]
    return {"repeat": {"frequency": weekly, "period": 1, "periodUnit": "wk"}}


def activity_definition(exercise: Exercise, text: ExercisePublic, urls: Canonicals) -> dict[str, Any]:
    """An exercise (with its English text) as an ActivityDefinition; the dose is its default dose."""
    dose = exercise.default_dose
    chain_title = exercise.chain_title.get("en") or exercise.chain
    return {
        "resourceType": "ActivityDefinition",
        "id": activity_definition_id(exercise.slug, exercise.id),
        "meta": {"lastUpdated": instant(exercise.updated_at)},
        "extension": [
            _dose_extension(
                urls,
                dose,
                timesPerDay={"valueInteger": dose["times_per_day"]},
                daysPerWeek={"valueInteger": dose["days_per_week"]},
            )
        ],
        "url": urls.exercise(exercise.slug, exercise.owner_clinic_id),
        "name": _machine_name(exercise.slug),
        "title": text.name,
        "status": "retired" if exercise.archived_at is not None else "active",
        "date": instant(exercise.updated_at),
        "description": _description(text),
        "topic": [
            {"coding": [{"system": urls.chain_system, "code": exercise.chain, "display": chain_title}]}
        ],
        "kind": KIND,
        "code": {
            "coding": [
                {
                    "system": urls.category_system,
                    "code": exercise.category,
                    "display": exercise.category.replace("_", " ").capitalize(),
                }
            ],
            "text": text.name,
        },
        "timingTiming": _default_timing(dose),
        "participant": [{"type": "patient"}],
        "quantity": _quantity(dose),
    }


def patient(row: Patient, urls: Canonicals) -> dict[str, Any]:
    """A patient as the clinic's EHR knows them: its own identifier (the external id), the name the clinic
    gave, birth year, language. The clinical screening record stays in the service's own API."""
    identifier = None
    if row.external_id:
        system = urls.patient_identifier_system(row.clinic_id)
        identifier = [{"use": "usual", "system": system, "value": row.external_id}]
    return drop_none(
        {
            "resourceType": "Patient",
            "id": str(row.id),
            "meta": {"lastUpdated": instant(row.updated_at)},
            "identifier": identifier,
            "active": True,
            "name": [{"text": row.display_name}],
            "birthDate": str(row.birth_year) if row.birth_year is not None else None,
            "communication": [
                {"language": {"coding": [{"system": BCP47, "code": row.locale}]}, "preferred": True}
            ],
        }
    )


def capability_statement(*, base_url: str, version: str) -> dict[str, Any]:
    """What this server does, for an EHR's FHIR client to discover (GET /fhir/r4/metadata)."""
    by_patient = [
        {"name": "patient", "type": "reference", "documentation": "Patient/{id} or the id"},
        {"name": "subject", "type": "reference", "documentation": "Patient/{id} or the id"},
        {"name": "_count", "type": "number", "documentation": "Page size, 1–200"},
    ]
    by_code = {"name": "code", "type": "token", "documentation": "The score's code (Observation.code)"}

    def searchable(kind: str, params: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": params,
        }

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITIES_DATE,
        "publisher": "Home-exercise prescription service",
        "kind": "instance",
        "software": {"name": "hep", "version": version},
        "implementation": {"description": "Home-exercise programmes, read-only", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Authorization: Bearer with the clinic's API key (hep_…) or a staff "
                    "access token; every read is limited to that clinic."
                },
                "resource": [
                    {"type": "Patient", "interaction": [{"code": "read"}]},
                    searchable("CarePlan", by_patient),
                    {"type": "ActivityDefinition", "interaction": [{"code": "read"}]},
                    searchable("QuestionnaireResponse", by_patient),
                    searchable("Observation", [*by_patient, by_code]),
                    {"type": "Questionnaire", "interaction": [{"code": "read"}]},
                ],
            }
        ],
    }


def search_bundle(
    resources: list[dict[str, Any]], *, total: int, base_url: str, self_url: str, next_url: str | None
) -> dict[str, Any]:
    """A searchset: this page's matches, `total` matches in all, and the link to the next page."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    entries = [
        {
            "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in resources
    ]
    return drop_none(
        {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links, "entry": entries}
    )


def operation_outcome(issue_code: str, code: str, diagnostics: str) -> dict[str, Any]:
    """An error for FHIR clients; `code` is the same stable code the problem+json errors carry."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": issue_code,
                "details": {"coding": [{"system": PROBLEM_SYSTEM, "code": code}]},
                "diagnostics": diagnostics,
            }
        ],
    }
