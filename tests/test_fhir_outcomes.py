"""Outcome measures as FHIR R4: responses as QuestionnaireResponses, scores as Observations, Questionnaires
only for the instruments whose text is free to ship. Validated with R4 models (tests/fhir_r4.py) plus the R4
value sets those models do not check; read with fhirpy against a real server."""

import uuid
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from sqlmodel import select

from app.models.audit import AuditEvent
from tests.fhir_r4 import validate_r4
from tests.helpers import assert_problem
from tests.test_fhir import BASE, fhir_body, outcome

LOINC_PAIN = {
    "system": "http://loinc.org",
    "code": "72514-3",
    "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
}
SCORES = f"{BASE}/CodeSystem/outcome-score"
UCUM = "http://unitsofmeasure.org"
# R4 value sets of the coded elements the service fills.
RESPONSE_STATUSES = {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
OBSERVATION_STATUSES = {"registered", "preliminary", "final", "amended", "corrected", "cancelled"}
QUESTIONNAIRE_ITEM_TYPES = {"group", "display", "boolean", "decimal", "integer", "date", "dateTime"}
QUESTIONNAIRE_ITEM_TYPES |= {"time", "string", "text", "url", "choice", "open-choice", "attachment"}
QUESTIONNAIRE_ITEM_TYPES |= {"reference", "quantity"}

ANSWERS: dict[str, dict[str, Any]] = {
    "nprs": {"back": 6, "leg": 3, "recall": "worst_24h"},
    "psfs": {"activities": [{"activity": "Sitting", "score": 4}, {"activity": "Lifting", "score": 7}]},
    "odi": {"sections": [2, 2, 2, 2, 2, 2, 1, 1, 2, None]},
    "rmdq": {"items": [True] * 7 + [False] * 17},
    "startback": {"items": [False] * 4 + [True, True, True, False], "bothersome": "extremely"},
}


def record(http, tenant, instrument: str, taken_at: str = "2026-11-02T09:00:00Z", **answers) -> str:
    response = http.post(
        "/v1/me/outcomes",
        json={"instrument": instrument, "answers": answers or ANSWERS[instrument], "taken_at": taken_at},
        headers=tenant.headers["patient"],
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def questionnaire_response(response) -> dict[str, Any]:
    body = fhir_body(response)
    validate_r4(body)
    assert body["status"] in RESPONSE_STATUSES
    return body


def observation(response) -> dict[str, Any]:
    body = fhir_body(response)
    validate_r4(body)
    assert body["status"] in OBSERVATION_STATUSES
    assert body["category"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "survey",
                    "display": "Survey",
                }
            ]
        }
    ]
    return body


def answers(body: dict[str, Any]) -> dict[str, Any]:
    """{linkId: the answer's value} of a response's top-level items (groups: their items, each time)."""
    found: dict[str, Any] = {}
    for item in body["item"]:
        if "item" in item:
            found.setdefault(item["linkId"], []).append(answers(item))
        else:
            [answer] = item["answer"]
            [value] = answer.values()
            found[item["linkId"]] = value
    return found


def test_every_instrument_as_a_questionnaire_response_and_an_observation(client, world, session):
    ids = {instrument: record(client, world.a, instrument) for instrument in ANSWERS}
    headers = world.a.headers["api_key"]
    responses, observations = {}, {}
    for instrument, outcome_id in ids.items():
        qr = questionnaire_response(
            client.get(f"/fhir/r4/QuestionnaireResponse/{outcome_id}", headers=headers)
        )
        assert qr["id"] == outcome_id and qr["status"] == "completed"
        assert qr["questionnaire"] == f"{BASE}/Questionnaire/{instrument}"
        patient = {"reference": f"Patient/{world.a.patient.id}"}
        assert qr["subject"] == qr["author"] == qr["source"] == patient
        assert qr["authored"].startswith("2026-11-02T09:00:00")
        assert "text" not in str(qr["item"])  # the wording lives in the Questionnaire, where it may ship
        responses[instrument] = answers(qr)
        obs = observation(client.get(f"/fhir/r4/Observation/{outcome_id}", headers=headers))
        assert obs["id"] == outcome_id and obs["subject"] == patient and obs["performer"] == [patient]
        assert obs["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{outcome_id}"}]
        assert obs["code"]["coding"][0]["system"] == SCORES and obs["code"]["coding"][0]["code"] == instrument
        assert obs["effectiveDateTime"] == qr["authored"]
        observations[instrument] = obs

    recall = {"system": f"{BASE}/CodeSystem/nprs-recall", "code": "worst_24h"}
    assert responses["nprs"] == {
        "recall": {**recall, "display": "Worst pain in the last 24 hours"},
        "back": 6,
        "leg": 3,
    }
    assert responses["psfs"] == {
        "activity": [
            {"activity.name": "Sitting", "activity.score": 4},
            {"activity.name": "Lifting", "activity.score": 7},
        ]
    }
    # The unanswered tenth ODI section has no item; the others keep the instrument's numbering.
    assert responses["odi"] == {
        str(n): v for n, v in enumerate(ANSWERS["odi"]["sections"], 1) if v is not None
    }
    assert responses["rmdq"] == {str(n): v for n, v in enumerate(ANSWERS["rmdq"]["items"], 1)}
    assert responses["startback"]["9"]["code"] == "extremely" and responses["startback"]["5"] is True

    nprs = observations["nprs"]
    assert "valueInteger" not in nprs and nprs["method"]["coding"][0]["code"] == "worst_24h"
    assert [(c["code"]["coding"], c["valueInteger"]) for c in nprs["component"]] == [
        ([LOINC_PAIN, {"system": SCORES, "code": "nprs-back", "display": "Back pain (NPRS 0–10)"}], 6),
        ([LOINC_PAIN, {"system": SCORES, "code": "nprs-leg", "display": "Leg pain (NPRS 0–10)"}], 3),
    ]
    psfs = observations["psfs"]
    assert psfs["valueQuantity"] == {"value": 5.5, "unit": "score", "system": UCUM, "code": "{score}"}
    assert [(c["code"]["text"], c["valueInteger"]) for c in psfs["component"]] == [
        ("Sitting", 4),
        ("Lifting", 7),
    ]
    assert observations["odi"]["valueQuantity"] == {"value": 35.6, "unit": "%", "system": UCUM, "code": "%"}
    assert observations["rmdq"]["valueInteger"] == 7
    startback = observations["startback"]
    assert startback["valueInteger"] == 4 and startback["component"][0]["valueInteger"] == 4
    assert startback["interpretation"][0]["coding"] == [
        {"system": f"{BASE}/CodeSystem/startback-risk", "code": "high", "display": "High risk"}
    ]

    audited = session.exec(
        select(AuditEvent.action, AuditEvent.resource_id, AuditEvent.patient_id).where(
            AuditEvent.action.in_(["outcome.fhir.read", "outcome_score.fhir.read"])
        )
    ).all()
    expected = {
        (action, uuid.UUID(i), world.a.patient.id)
        for i in ids.values()
        for action in ("outcome.fhir.read", "outcome_score.fhir.read")
    }
    assert set(audited) == expected and len(audited) == 10


def test_searches_by_patient_and_code_page_with_a_total(client, world, session):
    first = record(client, world.a, "nprs", "2026-11-01T09:00:00Z", back=5)
    second = record(client, world.a, "odi", "2026-11-02T09:00:00Z")
    third = record(client, world.a, "nprs", "2026-11-03T09:00:00Z", leg=2)
    record(client, world.b, "nprs")
    headers = world.a.headers["api_key"]

    def search(kind: str, **params) -> dict[str, Any]:
        body = fhir_body(client.get(f"/fhir/r4/{kind}", params=params, headers=headers))
        validate_r4(body)
        assert body["type"] == "searchset"
        for entry in body.get("entry", []):
            assert entry["resource"]["resourceType"] == kind
            assert entry["fullUrl"] == f"{BASE}/{kind}/{entry['resource']['id']}"
        return body

    def ids(bundle) -> list[str]:
        return [entry["resource"]["id"] for entry in bundle.get("entry", [])]

    reference = f"Patient/{world.a.patient.id}"
    for kind in ("QuestionnaireResponse", "Observation"):
        for params in ({"subject": reference}, {"patient": str(world.a.patient.id)}):
            bundle = search(kind, **params)
            assert ids(bundle) == [first, second, third] and bundle["total"] == 3  # oldest first
        page = search(kind, subject=reference, _count="2")
        assert ids(page) == [first, second] and page["total"] == 3
        [next_url] = [link["url"] for link in page["link"] if link["relation"] == "next"]
        assert ids(fhir_body(client.get(next_url, headers=headers))) == [third]
        # Another clinic's patient and an unknown one match nothing alike.
        for unseen in (world.b.patient.id, uuid.uuid4()):
            nothing = search(kind, patient=str(unseen))
            assert "entry" not in nothing and nothing["total"] == 0

    for code, expected in [
        ("nprs", [first, third]),
        (f"{SCORES}|odi", [second]),
        (f"{SCORES}|odi,{SCORES}|nprs", [first, second, third]),
        (f"{SCORES}|", [first, second, third]),
        ("http://loinc.org|nprs", []),  # the service's code under another system
        ("72514-3", []),  # LOINC pain severity is the components' code, not the Observation's
    ]:
        bundle = search("Observation", subject=reference, code=code)
        assert ids(bundle) == expected and bundle["total"] == len(expected), code

    audited = session.exec(
        select(AuditEvent.action).where(
            AuditEvent.patient_id == world.a.patient.id, AuditEvent.action.like("%.fhir.search")
        )
    ).all()
    assert audited.count("outcome.fhir.search") == 4 and audited.count("outcome_score.fhir.search") == 10


@pytest.mark.parametrize("kind", ["QuestionnaireResponse", "Observation"])
def test_outcomes_are_clinic_scoped_and_for_clinic_callers_only(client, world, kind):
    outcome_id = record(client, world.b, "rmdq")
    url = f"/fhir/r4/{kind}/{outcome_id}"
    for who in ("admin", "physio", "api_key"):
        outcome(client.get(url, headers=world.a.headers[who]), 404, "not-found")
        fhir_body(client.get(url, headers=world.b.headers[who]))
    outcome(client.get(f"/fhir/r4/{kind}/{uuid.uuid4()}", headers=world.a.headers["admin"]), 404, "not-found")
    outcome(client.get(f"/fhir/r4/{kind}/not-an-id", headers=world.a.headers["admin"]), 404, "not-found")
    # The patient app reads its own outcomes through /v1/me; FHIR is for the clinic.
    assert_problem(client.get(url, headers=world.b.headers["patient"]), 403, "staff_only")
    assert_problem(client.get(url), 401, "unauthorized")
    params = {"patient": str(world.b.patient.id)}
    assert_problem(client.get(f"/fhir/r4/{kind}", params=params, headers=world.b.headers["patient"]), 403)
    for bad in ({}, {"patient": "Patient/12"}, {"patient": params["patient"], "_count": "many"}):
        outcome(client.get(f"/fhir/r4/{kind}", params=bad, headers=world.b.headers["physio"]), 400, "invalid")


def test_questionnaires_only_for_instruments_whose_text_is_free(client, world):
    headers = world.a.headers["physio"]
    for instrument in ("nprs", "psfs"):
        body = fhir_body(client.get(f"/fhir/r4/Questionnaire/{instrument}", headers=headers))
        validate_r4(body)
        assert body["id"] == instrument and body["url"] == f"{BASE}/Questionnaire/{instrument}"
        assert body["status"] == "active" and body["subjectType"] == ["Patient"]
        # Every item a response carries is defined, with its text.
        qr = questionnaire_response(
            client.get(
                f"/fhir/r4/QuestionnaireResponse/{record(client, world.a, instrument)}",
                headers=headers,
            )
        )
        assert qr["questionnaire"] == body["url"]
        defined = {}
        for item in body["item"]:
            assert item["type"] in QUESTIONNAIRE_ITEM_TYPES and item["text"]
            defined[item["linkId"]] = item
            for inner in item.get("item", []):
                assert inner["type"] in QUESTIONNAIRE_ITEM_TYPES and inner["text"]
                defined[inner["linkId"]] = inner
        answered = {i["linkId"] for i in qr["item"]} | {
            inner["linkId"] for i in qr["item"] for inner in i.get("item", [])
        }
        assert answered <= defined.keys()
    nprs = fhir_body(client.get("/fhir/r4/Questionnaire/nprs", headers=headers))
    assert [item["code"] for item in nprs["item"] if "code" in item] == [[LOINC_PAIN], [LOINC_PAIN]]
    # Licensed (ODI, STarT Back) or with unverified terms (RMDQ): not shipped.
    for instrument in ("odi", "startback", "rmdq", "no-such", "x" * 65):
        outcome(client.get(f"/fhir/r4/Questionnaire/{instrument}", headers=headers), 404, "not-found")
    assert_problem(client.get("/fhir/r4/Questionnaire/nprs", headers=world.a.headers["patient"]), 403)


def test_fhirpy_reads_scores_and_follows_them_to_the_answers(live_server, world):
    with httpx.Client(base_url=live_server) as http:
        ids = [record(http, world.a, "nprs", f"2026-11-0{day}T09:00:00Z", back=7 - day) for day in (1, 2, 3)]
        record(http, world.a, "psfs")
    fhir = SyncFHIRClient(f"{live_server}/fhir/r4", authorization=world.a.headers["api_key"]["Authorization"])

    search = fhir.resources("Observation").search(subject=f"Patient/{world.a.patient.id}", code="nprs")
    assert search.count() == 3
    scores = search.limit(1).fetch_all()  # one per page: follows the Bundle's next links
    assert [score["id"] for score in scores] == ids
    assert [score["component"][0]["valueInteger"] for score in scores] == [6, 5, 4]
    for score in scores:
        validate_r4(score.serialize())
    response = scores[0]["derivedFrom"][0].to_resource()  # the reference resolves
    assert response["resourceType"] == "QuestionnaireResponse" and response["id"] == ids[0]
    validate_r4(response.serialize())
    assert response["subject"].to_resource()["id"] == str(world.a.patient.id)

    responses = fhir.resources("QuestionnaireResponse").search(patient=str(world.a.patient.id)).fetch_all()
    assert len(responses) == 4
    form = fhir.reference("Questionnaire", response["questionnaire"].rsplit("/", 1)[1]).to_resource()
    assert form["url"] == response["questionnaire"]
    validate_r4(form.serialize())
