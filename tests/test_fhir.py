"""FHIR R4: programmes as CarePlans, exercises as ActivityDefinitions, checked with R4 models (fhirclient,
tests/fhir_r4.py) plus what those models let through (code values, nulls and empty values, id length)."""

import re
import uuid
from typing import Any

import pytest
from sqlmodel import select

from app.fhir import Canonicals
from app.models.audit import AuditEvent
from app.models.exercise import Exercise, ExerciseText
from tests.factories import exercise_body, make_exercise
from tests.fhir_r4 import validate_r4
from tests.helpers import assert_problem

FHIR_JSON = "application/fhir+json"
# With no HEP_FHIR_CANONICAL_BASE, the canonicals live under the deployment's own FHIR base.
BASE = "http://testserver/fhir/r4"
URLS = Canonicals(BASE)
DOSE_EXTENSION, PHASE_EXTENSION, UNLOCK_EXTENSION = (
    URLS.dose_extension,
    URLS.phase_extension,
    URLS.unlock_extension,
)
# R4 value sets of the coded elements the service fills (the R4 models do not check code values).
CARE_PLAN_STATUSES = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
ACTIVITY_STATUSES = {
    "not-started",
    "scheduled",
    "in-progress",
    "on-hold",
    "completed",
    "cancelled",
    "stopped",
    "unknown",
    "entered-in-error",
}
REQUEST_KINDS = {
    "Appointment",
    "CommunicationRequest",
    "DeviceRequest",
    "MedicationRequest",
    "NutritionOrder",
}
REQUEST_KINDS |= {"Task", "ServiceRequest", "VisionPrescription"}
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
EVERY_DAY = [1, 2, 3, 4, 5, 6, 7]


def assert_fhir_json(value: Any, path: str = "$") -> None:
    """FHIR JSON has no nulls, no empty objects, arrays or strings, and ids of at most 64 characters."""
    assert value is not None and value != [] and value != {} and value != "", path
    if isinstance(value, dict):
        if "resourceType" in value and "id" in value:
            assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", value["id"]), path
        for key, item in value.items():
            assert_fhir_json(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            assert_fhir_json(item, f"{path}[{index}]")


def fhir_body(response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    body = response.json()
    assert_fhir_json(body)
    return body


def care_plan(response) -> dict[str, Any]:
    body = fhir_body(response)
    validate_r4(body)
    assert body["status"] in CARE_PLAN_STATUSES and body["intent"] == "plan"
    for activity in body["activity"]:
        assert activity["detail"]["status"] in ACTIVITY_STATUSES
        assert activity["detail"]["kind"] in REQUEST_KINDS
        repeat = activity["detail"]["scheduledTiming"]["repeat"]
        assert repeat["periodUnit"] == "d" and set(repeat["dayOfWeek"]) <= set(DAYS)
    return body


def outcome(response, status: int, issue: str) -> dict[str, Any]:
    body = fhir_body(response, status)
    validate_r4(body)
    assert [i["code"] for i in body["issue"]] == [issue] and body["issue"][0]["severity"] == "error"
    return body


def extension(element: dict[str, Any], url: str) -> dict[str, Any]:
    """A complex extension's parts as {name: value}, or a simple extension's value under "value"."""
    [found] = [e for e in element.get("extension", []) if e["url"] == url]
    if "extension" in found:
        return {part["url"]: _value(part) for part in found["extension"]}
    return {"value": _value(found)}


def _value(element: dict[str, Any]) -> Any:
    [key] = [key for key in element if key.startswith("value")]
    return element[key]


def seconds(value: int) -> dict[str, Any]:
    return {"value": value, "unit": "s", "system": "http://unitsofmeasure.org", "code": "s"}


def item(exercise: str, **dose) -> dict[str, Any]:
    return {"exercise": exercise, **dose}


def new_programme(client, tenant, phases, who="physio", patient_id=None, **fields) -> dict[str, Any]:
    document = {
        "title": "Sciatica, extension preference",
        "start_date": "2026-11-02",
        "phases": phases,
        **fields,
    }
    response = client.post(
        f"/v1/patients/{patient_id or tenant.patient.id}/programmes",
        json=document,
        headers=tenant.headers[who],
    )
    assert response.status_code == 201, response.text
    return response.json()


def act(client, tenant, programme_id, *actions: str) -> None:
    for name in actions:
        response = client.post(f"/v1/programmes/{programme_id}/{name}", headers=tenant.headers["physio"])
        assert response.status_code == 200, response.text


# --- CarePlan ------------------------------------------------------------------------------------------


def test_a_revised_multi_phase_programme_maps_item_by_item(client, world, session):
    own = make_exercise(session, world.a.clinic)
    session.commit()
    phases = [
        {
            "name": "Settle",
            "goal": "Leg symptoms centralise",
            "items": [
                item("prone-press-up", sets=1, reps=10, hold_s=1, times_per_day=6),
                item(
                    "double-leg-bridge",
                    sets=2,
                    reps=8,
                    reps_max=12,
                    hold_s=3,
                    rest_s=30,
                    load="light band",
                    days_of_week=[5, 1, 3],
                    notes="Keep your hips level.",
                ),
                item("cat-camel", reps=6),  # removed by the revision below
            ],
        },
        {
            "name": "Load",
            "items": [
                item(
                    "sciatic-tensioner",
                    reps=5,
                    side="left",
                    times_per_day=2,
                    days_of_week=[2, 4],
                    clinician_unlocked=True,
                ),
                item("prone-lying-flat", sets=1, duration_s=120, times_per_day=3),
                item("side-plank", hold_s=10),
                item(own.slug, sets=2, reps=8),
            ],
        },
    ]
    created = new_programme(client, world.a, phases)
    # Revision 2 keeps every item (by id) but the last of phase 1, and sets an end date.
    for phase, created_phase in zip(phases, created["phases"], strict=True):
        for it, created_it in zip(phase["items"], created_phase["items"], strict=True):
            it["id"] = created_it["id"]
    removed = phases[0]["items"].pop()
    document = {
        "title": created["title"],
        "start_date": "2026-11-02",
        "end_date": "2027-01-31",
        "phases": phases,
    }
    headers = {**world.a.headers["physio"], "If-Match": '"1"'}
    assert client.put(f"/v1/programmes/{created['id']}", json=document, headers=headers).status_code == 200
    act(client, world.a, created["id"], "activate")

    response = client.get(f"/fhir/r4/CarePlan/{created['id']}", headers=world.a.headers["api_key"])
    plan = care_plan(response)
    assert response.headers["ETag"] == 'W/"3"' and response.headers["Last-Modified"].endswith("GMT")
    assert plan["id"] == created["id"] and plan["meta"]["versionId"] == "3"
    assert (plan["status"], plan["title"]) == ("active", "Sciatica, extension preference")
    assert plan["period"] == {"start": "2026-11-02", "end": "2027-01-31"}
    assert plan["subject"] == {
        "reference": f"Patient/{world.a.patient.id}",
        "identifier": {
            "system": f"{BASE}/clinic/{world.a.clinic.id}/patient-external-id",
            "value": world.a.patient.external_id,
        },
    }

    kept = [it["id"] for phase in document["phases"] for it in phase["items"]]
    activities = plan["activity"]
    assert [a["id"] for a in activities] == kept and removed["id"] not in kept
    press_up, bridge, tensioner, lying, plank, own_item = (a["detail"] for a in activities)

    assert press_up["instantiatesCanonical"] == [f"{BASE}/ActivityDefinition/prone-press-up"]
    assert press_up["code"] == {"text": created["phases"][0]["items"][0]["exercise_name"]}
    assert press_up["status"] == "in-progress" and press_up["kind"] == "ServiceRequest"
    assert press_up["scheduledTiming"] == {
        "repeat": {"frequency": 6, "period": 1, "periodUnit": "d", "dayOfWeek": DAYS}
    }
    assert press_up["performer"] == [{"reference": f"Patient/{world.a.patient.id}"}]
    assert press_up["quantity"]["value"] == 10 and press_up["quantity"]["code"] == "{repetitions}"
    assert extension(press_up, PHASE_EXTENSION) == {
        "position": 0,
        "name": "Settle",
        "goal": "Leg symptoms centralise",
    }
    assert extension(press_up, DOSE_EXTENSION) == {"sets": 1, "reps": 10, "hold": seconds(1), "side": "both"}
    assert "description" not in press_up

    assert bridge["scheduledTiming"]["repeat"]["dayOfWeek"] == ["mon", "wed", "fri"]
    assert bridge["description"] == "Keep your hips level."
    assert extension(bridge, DOSE_EXTENSION) == {
        "sets": 2,
        "reps": 8,
        "repsMax": 12,
        "hold": seconds(3),
        "rest": seconds(30),
        "side": "both",
        "load": "light band",
    }

    assert tensioner["status"] == "not-started"
    assert extension(tensioner, PHASE_EXTENSION) == {"position": 1, "name": "Load"}
    assert extension(tensioner, UNLOCK_EXTENSION) == {"value": True}
    assert tensioner["scheduledTiming"]["repeat"] == {
        "frequency": 2,
        "period": 1,
        "periodUnit": "d",
        "dayOfWeek": ["tue", "thu"],
    }
    assert extension(tensioner, DOSE_EXTENSION) == {"reps": 5, "side": "left"}
    assert not [e for e in press_up["extension"] if e["url"] == UNLOCK_EXTENSION]

    assert lying["quantity"] == seconds(120) and extension(lying, DOSE_EXTENSION)["duration"] == seconds(120)
    assert plank["quantity"] == seconds(10)
    assert own_item["instantiatesCanonical"] == [
        f"{BASE}/clinic/{world.a.clinic.id}/ActivityDefinition/{own.slug}"
    ]

    audited = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "programme.fhir.read", AuditEvent.resource_id == uuid.UUID(created["id"])
        )
    ).all()
    assert [(e.actor_kind, e.patient_id, e.clinic_id) for e in audited] == [
        ("api_key", world.a.patient.id, world.a.clinic.id)
    ]


def _three_phases() -> list[dict[str, Any]]:
    return [{"name": f"Phase {n}", "items": [item("cat-camel", reps=6)]} for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("actions", "status", "activities"),
    [
        ((), "draft", ["not-started"] * 3),
        (("activate",), "active", ["completed", "in-progress", "not-started"]),
        (("activate", "pause"), "on-hold", ["completed", "on-hold", "not-started"]),
        (("activate", "complete"), "completed", ["completed", "completed", "cancelled"]),
        (("activate", "cancel"), "revoked", ["completed", "cancelled", "cancelled"]),
        (("cancel",), "revoked", ["completed", "cancelled", "cancelled"]),
    ],
)
def test_status_of_the_plan_and_of_each_phase(client, world, actions, status, activities):
    programme = new_programme(client, world.a, _three_phases())
    document = {
        "title": "In phase 2",
        "start_date": "2026-11-02",
        "current_phase": 1,
        "phases": _three_phases(),
    }
    headers = {**world.a.headers["physio"], "If-Match": '"1"'}
    assert client.put(f"/v1/programmes/{programme['id']}", json=document, headers=headers).status_code == 200
    act(client, world.a, programme["id"], *actions)
    plan = care_plan(client.get(f"/fhir/r4/CarePlan/{programme['id']}", headers=world.a.headers["physio"]))
    assert plan["status"] == status
    assert [a["detail"]["status"] for a in plan["activity"]] == activities
    assert plan["meta"]["versionId"] == str(2 + len(actions))


def test_a_patient_without_an_ehr_identifier_is_referenced_by_id_only(client, world):
    patient = client.post("/v1/patients", json={"display_name": "No MRN"}, headers=world.a.headers["physio"])
    patient_id = patient.json()["id"]
    programme = new_programme(client, world.a, _three_phases(), patient_id=patient_id)
    plan = care_plan(client.get(f"/fhir/r4/CarePlan/{programme['id']}", headers=world.a.headers["admin"]))
    assert plan["subject"] == {"reference": f"Patient/{patient_id}"}
    assert "end" not in plan["period"]


def test_care_plans_are_clinic_scoped_and_for_clinic_callers_only(client, world):
    programme = new_programme(client, world.b, _three_phases())
    url = f"/fhir/r4/CarePlan/{programme['id']}"
    for who in ("admin", "physio", "api_key"):
        outcome(client.get(url, headers=world.a.headers[who]), 404, "not-found")
    outcome(
        client.get(f"/fhir/r4/CarePlan/{uuid.uuid4()}", headers=world.a.headers["admin"]), 404, "not-found"
    )
    outcome(client.get("/fhir/r4/CarePlan/not-a-uuid", headers=world.a.headers["admin"]), 404, "not-found")
    # Authentication and permission failures are the service's problem+json, as everywhere.
    assert_problem(client.get(url, headers=world.b.headers["patient"]), 403, "staff_only")
    assert_problem(client.get(url), 401, "unauthorized")
    care_plan(client.get(url, headers=world.b.headers["api_key"]))


# --- search --------------------------------------------------------------------------------------------


def test_search_by_patient_is_a_paged_searchset_bundle(client, world, session):
    first = new_programme(client, world.a, _three_phases())
    act(client, world.a, first["id"], "cancel")
    second = new_programme(client, world.a, _three_phases())
    other_patient = client.post(
        "/v1/patients", json={"display_name": "Other"}, headers=world.a.headers["admin"]
    )
    new_programme(client, world.a, _three_phases(), patient_id=other_patient.json()["id"])
    headers = world.a.headers["api_key"]

    def search(**params) -> dict[str, Any]:
        body = fhir_body(client.get("/fhir/r4/CarePlan", params=params, headers=headers))
        validate_r4(body)
        assert body["type"] == "searchset"
        assert [link["relation"] for link in body["link"]][0] == "self"
        for entry in body.get("entry", []):
            validate_r4(entry["resource"])
            assert entry["search"] == {"mode": "match"}
            assert entry["fullUrl"] == f"http://testserver/fhir/r4/CarePlan/{entry['resource']['id']}"
        return body

    for reference in (str(world.a.patient.id), f"Patient/{world.a.patient.id}"):
        bundle = search(patient=reference)
        assert [e["resource"]["id"] for e in bundle["entry"]] == [first["id"], second["id"]]
        assert bundle["total"] == 2
        assert [e["resource"]["status"] for e in bundle["entry"]] == ["revoked", "draft"]
        assert [link["relation"] for link in bundle["link"]] == ["self"]

    page = search(patient=str(world.a.patient.id), _count="1")
    assert [e["resource"]["id"] for e in page["entry"]] == [first["id"]] and page["total"] == 2
    [next_url] = [link["url"] for link in page["link"] if link["relation"] == "next"]
    rest = fhir_body(client.get(next_url, headers=headers))
    assert [e["resource"]["id"] for e in rest["entry"]] == [second["id"]]
    assert [link["relation"] for link in rest["link"]] == ["self"]

    # Another clinic's patient and an unknown one match nothing alike, so an id reveals nothing.
    for unseen in (world.b.patient.id, uuid.uuid4()):
        nothing = search(patient=str(unseen))
        assert "entry" not in nothing and nothing["total"] == 0

    audited = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "programme.fhir.search", AuditEvent.patient_id == world.a.patient.id
        )
    ).all()
    assert len(audited) == 4 and {e.actor_kind for e in audited} == {"api_key"}


@pytest.mark.parametrize(
    "params", [{}, {"patient": "Patient/12"}, {"patient": "x"}, {"patient": "{id}", "_count": "many"}]
)
def test_bad_search_parameters_are_400_operation_outcomes(client, world, params):
    params = {name: value.format(id=world.a.patient.id) for name, value in params.items()}
    response = client.get("/fhir/r4/CarePlan", params=params, headers=world.a.headers["physio"])
    outcome(response, 400, "invalid")


def test_search_needs_a_clinic_caller(client, world):
    params = {"patient": str(world.a.patient.id)}
    assert_problem(client.get("/fhir/r4/CarePlan", params=params, headers=world.a.headers["patient"]), 403)


# --- ActivityDefinition --------------------------------------------------------------------------------


def activity_definition(response) -> dict[str, Any]:
    body = fhir_body(response)
    validate_r4(body)
    assert body["status"] in {"draft", "active", "retired", "unknown"}
    assert body["kind"] in REQUEST_KINDS and body["participant"] == [{"type": "patient"}]
    assert re.fullmatch(r"[A-Z][A-Za-z0-9_]{0,254}", body["name"])
    assert body["timingTiming"]["repeat"]["periodUnit"] in {"d", "wk"}
    return body


def test_every_catalogue_exercise_is_a_valid_activity_definition(client, world, session):
    catalogue = session.exec(select(Exercise).where(Exercise.owner_clinic_id.is_(None))).all()
    english = {
        row.exercise_id: row.name
        for row in session.exec(select(ExerciseText).where(ExerciseText.locale == "en"))
    }
    session.commit()  # end the read transaction: on SQLite it would hold the write lock
    assert len(catalogue) >= 40
    for exercise in catalogue:
        response = client.get(
            f"/fhir/r4/ActivityDefinition/{exercise.slug}", headers=world.a.headers["api_key"]
        )
        definition = activity_definition(response)
        assert definition["id"] == exercise.slug
        assert definition["url"] == f"{BASE}/ActivityDefinition/{exercise.slug}"
        assert (definition["title"], definition["status"]) == (english[exercise.id], "active")
        assert definition["code"]["coding"][0]["code"] == exercise.category
        assert definition["topic"][0]["coding"][0]["code"] == exercise.chain
        dose = exercise.default_dose
        repeat = definition["timingTiming"]["repeat"]
        if dose["days_per_week"] == 7:
            assert (repeat["frequency"], repeat["periodUnit"]) == (dose["times_per_day"], "d")
        else:
            assert (repeat["frequency"], repeat["periodUnit"]) == (
                dose["times_per_day"] * dose["days_per_week"],
                "wk",
            )
        parts = extension(definition, DOSE_EXTENSION)
        assert (parts["timesPerDay"], parts["daysPerWeek"]) == (dose["times_per_day"], dose["days_per_week"])
        assert parts.get("sets") == dose["sets"] and parts.get("reps") == dose["reps"]


def test_a_clinics_own_exercise_has_a_clinic_canonical_and_retires_when_archived(client, world):
    headers = world.a.headers["physio"]
    slug = "own-" + "x" * 76  # the longest slug a clinic may choose, too long for a FHIR id
    text = {"en": {"name": "Own long one", "summary": "A clinic's own exercise.", "steps": ["Do it."]}}
    created = client.post("/v1/exercises", json=exercise_body(slug=slug, text=text), headers=headers)
    assert created.status_code == 201, created.text
    own = created.json()

    definition = activity_definition(client.get(f"/fhir/r4/ActivityDefinition/{slug}", headers=headers))
    assert definition["id"] == own["id"]  # so the exercise id is its FHIR id, and reads work by it too
    assert definition["url"] == f"{BASE}/clinic/{world.a.clinic.id}/ActivityDefinition/{slug}"
    assert (
        activity_definition(client.get(f"/fhir/r4/ActivityDefinition/{own['id']}", headers=headers))
        == definition
    )

    assert client.delete(f"/v1/exercises/{own['id']}", headers=headers).status_code == 204
    retired = activity_definition(client.get(f"/fhir/r4/ActivityDefinition/{own['id']}", headers=headers))
    assert retired["status"] == "retired"

    outcome(
        client.get(f"/fhir/r4/ActivityDefinition/{slug}", headers=world.b.headers["api_key"]),
        404,
        "not-found",
    )
    outcome(client.get("/fhir/r4/ActivityDefinition/No_Such", headers=headers), 404, "not-found")
    assert_problem(client.get(f"/fhir/r4/ActivityDefinition/{slug}", headers=world.a.headers["patient"]), 403)
