"""FHIR as an EHR discovers it: /metadata, Patient reads, CarePlan search by subject with Bundle.total,
canonical URLs under the configured base. Read with fhirpy against a real server, validated as R4."""

import uuid

import httpx
from fhirpy import SyncFHIRClient
from sqlmodel import select

from app.config import Settings
from app.deps import current_settings
from app.main import create_app
from app.models.audit import AuditEvent
from tests.fhir_r4 import validate_r4
from tests.test_fhir import _three_phases, fhir_body, new_programme


def test_capability_statement_is_public_and_says_what_is_supported(client):
    body = fhir_body(client.get("/fhir/r4/metadata"))
    validate_r4(body)
    assert body["fhirVersion"] == "4.0.1" and body["kind"] == "instance"
    assert body["implementation"]["url"] == "http://testserver/fhir/r4"
    [rest] = body["rest"]
    supported = {r["type"]: {i["code"] for i in r["interaction"]} for r in rest["resource"]}
    assert supported == {
        "Patient": {"read"},
        "CarePlan": {"read", "search-type"},
        "ActivityDefinition": {"read"},
        "QuestionnaireResponse": {"read", "search-type"},
        "Observation": {"read", "search-type"},
        "Questionnaire": {"read"},
    }
    params = {r["type"]: {p["name"] for p in r.get("searchParam", [])} for r in rest["resource"]}
    assert params["CarePlan"] == params["QuestionnaireResponse"] == {"patient", "subject", "_count"}
    assert params["Observation"] == {"patient", "subject", "_count", "code"}


def test_patient_read_carries_the_ehr_identifier_and_is_audited(client, world, session):
    headers = world.a.headers["api_key"]
    body = fhir_body(client.get(f"/fhir/r4/Patient/{world.a.patient.id}", headers=headers))
    validate_r4(body)
    assert body["id"] == str(world.a.patient.id)
    assert body["identifier"] == [
        {
            "use": "usual",
            "system": f"http://testserver/fhir/r4/clinic/{world.a.clinic.id}/patient-external-id",
            "value": world.a.patient.external_id,
        }
    ]
    # Another clinic's patient and an unknown id answer alike: an OperationOutcome 404.
    for unseen in (world.b.patient.id, uuid.uuid4()):
        missing = client.get(f"/fhir/r4/Patient/{unseen}", headers=headers)
        assert fhir_body(missing, 404)["resourceType"] == "OperationOutcome"
    # The patient app cannot read FHIR.
    assert (
        client.get(f"/fhir/r4/Patient/{world.a.patient.id}", headers=world.a.headers["patient"]).status_code
        == 403
    )
    audited = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "patient.fhir.read", AuditEvent.resource_id == world.a.patient.id
        )
    ).all()
    assert len(audited) == 1


def test_subject_and_patient_search_alike_and_disagreeing_ones_are_refused(client, world):
    new_programme(client, world.a, _three_phases())
    headers = world.a.headers["api_key"]
    reference = f"Patient/{world.a.patient.id}"
    by_subject = fhir_body(client.get("/fhir/r4/CarePlan", params={"subject": reference}, headers=headers))
    by_patient = fhir_body(client.get("/fhir/r4/CarePlan", params={"patient": reference}, headers=headers))
    assert by_subject["total"] == by_patient["total"] == 1
    assert by_subject["entry"][0]["resource"]["id"] == by_patient["entry"][0]["resource"]["id"]
    for params in ({}, {"patient": reference, "subject": f"Patient/{uuid.uuid4()}"}):
        refused = client.get("/fhir/r4/CarePlan", params=params, headers=headers)
        assert fhir_body(refused, 400)["issue"][0]["code"] == "invalid"


def test_canonical_base_is_configurable(world, session):
    from fastapi.testclient import TestClient

    settings = Settings(fhir_canonical_base="https://fhir.clinic.example.org/hep")
    app = create_app(settings)
    app.dependency_overrides[current_settings] = lambda: settings
    with TestClient(app) as configured:
        body = fhir_body(
            configured.get("/fhir/r4/ActivityDefinition/cat-camel", headers=world.a.headers["api_key"])
        )
    assert body["url"] == "https://fhir.clinic.example.org/hep/ActivityDefinition/cat-camel"
    assert (
        body["extension"][0]["url"] == "https://fhir.clinic.example.org/hep/StructureDefinition/exercise-dose"
    )
    assert "hep.example" not in str(body)


def test_fhirpy_discovers_searches_and_follows_references(live_server, world):
    api_key = world.a.headers["api_key"]
    with httpx.Client(base_url=live_server, headers=world.a.headers["physio"]) as http:
        created = http.post(
            f"/v1/patients/{world.a.patient.id}/programmes",
            json={"title": "Sciatica", "start_date": "2026-11-02", "phases": _three_phases()},
        )
        assert created.status_code == 201, created.text
        assert http.post(f"/v1/programmes/{created.json()['id']}/activate").status_code == 200
        second = http.post(
            f"/v1/patients/{world.a.patient.id}/programmes",
            json={"title": "Later", "start_date": "2026-12-02", "phases": _three_phases()},
        )
        assert second.status_code == 201, second.text
    fhir = SyncFHIRClient(f"{live_server}/fhir/r4", authorization=api_key["Authorization"])

    metadata = fhir.execute("metadata", method="get")
    assert metadata["resourceType"] == "CapabilityStatement"

    search = fhir.resources("CarePlan").search(subject=f"Patient/{world.a.patient.id}")
    assert search.count() == 2
    plans = search.limit(1).fetch_all()  # one per page: follows the Bundle's next links
    assert sorted(plan["title"] for plan in plans) == ["Later", "Sciatica"]
    for plan in plans:
        validate_r4(plan.serialize())
    patient = plans[0]["subject"].to_resource()  # the reference resolves
    assert patient["id"] == str(world.a.patient.id)
    assert patient["identifier"][0]["value"] == world.a.patient.external_id
    validate_r4(patient.serialize())

    definition = plans[0]["activity"][0]["detail"]["instantiatesCanonical"][0]
    assert definition.startswith(f"{live_server}/fhir/r4/ActivityDefinition/")
    read = fhir.reference("ActivityDefinition", definition.rsplit("/", 1)[1]).to_resource()
    assert read["url"] == definition
