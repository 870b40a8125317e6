"""The tenant and role matrix, generated from the app's route table so that a new route cannot skip it."""

import re
import uuid

import pytest

from tests.factories import make_patient, make_resources, patient_headers
from tests.helpers import assert_problem

# Operations endpoints (/metrics takes the operator's token, not a caller's: tests/test_observability.py) and
# the FHIR CapabilityStatement, public as FHIR clients expect (tests/test_fhir_discovery.py).
PUBLIC = {"/healthz", "/readyz", "/metrics", "/fhir/r4/metadata"}
# The calendar feed's URL is its own credential (calendar apps send no token):
# tests/services/test_reminders.py.
# /media/: catalogue pictures need no sign-in; a clinic's own answer 404 without its token
# (tests/services/test_illustrations.py holds that).
PUBLIC_PREFIXES = ("/v1/auth/", "/v1/patient-auth/", "/v1/calendar/", "/media/")
PARAM = re.compile(r"{(\w+)}")
# Addressed by id but the same for every clinic: the instrument forms that ship with the service.
SHARED = {"/fhir/r4/Questionnaire/{questionnaire_id}"}


def _routes(app):
    """Every operation the app publishes (its OpenAPI document lists every route it serves)."""
    for path, operations in app.openapi()["paths"].items():
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            continue
        for method in sorted(operations):
            yield method.upper(), path


def _resources(tenant, session) -> dict[str, str]:
    return make_resources(session, tenant)


def _fill(path: str, resources: dict[str, str]) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in resources:
            pytest.fail(f"no test resource for {{{name}}} in {path}: add one to factories.make_resources()")
        return resources[name]

    return PARAM.sub(sub, path)


def test_every_protected_route_needs_a_token(app, client, world, session):
    resources = _resources(world.b, session)
    checked = 0
    for method, path in _routes(app):
        response = client.request(method, _fill(path, resources), json={})
        assert_problem(response, 401, "unauthorized")
        checked += 1
    assert checked >= 10


def test_patient_token_is_refused_on_staff_routes_and_staff_on_patient_routes(app, client, world, session):
    resources = _resources(world.a, session)
    for method, path in _routes(app):
        url = _fill(path, resources)
        if path.startswith("/v1/me"):
            for who in ("admin", "physio", "api_key"):
                assert_problem(client.request(method, url, json={}, headers=world.a.headers[who]), 403)
        else:
            assert_problem(client.request(method, url, json={}, headers=world.a.headers["patient"]), 403)


def test_other_clinics_resources_are_404(app, client, world, session):
    """Clinic A's admin asking for clinic B's resources by id gets 404, as if they did not exist."""
    resources = _resources(world.b, session)
    checked = 0
    for method, path in _routes(app):
        if not PARAM.search(path) or path.startswith("/v1/me") or "external_id" in path or path in SHARED:
            continue
        url = _fill(path, resources)
        status = client.request(method, url, json={}, headers=world.a.headers["admin"]).status_code
        assert status == 404, f"{method} {path} answered {status} to another clinic's admin"
        checked += 1
    assert checked >= 5


def test_external_id_upsert_never_touches_another_clinic(client, world):
    # The same external id in clinic A creates A's own patient; B's record is unchanged.
    url = f"/v1/patients/by-external-id/{world.b.patient.external_id}"
    response = client.put(url, json={"display_name": "Someone else"}, headers=world.a.headers["api_key"])
    assert response.status_code == 201
    assert response.json()["id"] != str(world.b.patient.id)
    b_view = client.get(f"/v1/patients/{world.b.patient.id}", headers=world.b.headers["physio"]).json()
    assert b_view["display_name"] == world.b.patient.display_name


def test_unknown_ids_are_404_not_500(client, world):
    assert_problem(
        client.get(f"/v1/patients/{uuid.uuid4()}", headers=world.a.headers["physio"]), 404, "not_found"
    )
    assert_problem(
        client.get(f"/v1/users/{uuid.uuid4()}", headers=world.a.headers["admin"]), 404, "not_found"
    )
    assert_problem(client.delete(f"/v1/api-keys/{uuid.uuid4()}", headers=world.a.headers["admin"]), 404)


ADMIN, PHYSIO, KEY, PATIENT = "admin", "physio", "api_key", "patient"
CLINIC = {ADMIN, PHYSIO, KEY}
# Who may call what (docs/api.md, "Who may call what"): the first rule whose method and path match. Every
# protected route must match one, so a new route is classified here before it can be merged.
ROLE_RULES: list[tuple[str, str, set[str]]] = [
    (r".*", r"/v1/(users|api-keys|audit-events)\b.*", {ADMIN}),
    (r".*", r"/v1/(webhook-endpoints|deliveries|events)\b.*", {ADMIN, KEY}),
    (r"POST|PATCH|DELETE", r"/v1/exercises\b.*", {ADMIN, PHYSIO}),
    (r"POST", r"/v1/(alerts|suggestions)/{\w+}/\w+", {ADMIN, PHYSIO}),
    (r"POST", r"/v1/programmes/{\w+}/items/{\w+}/reinstate", {ADMIN, PHYSIO}),
    (r"POST", r"/v1/patients/{\w+}/interactions", {ADMIN, PHYSIO}),
    (r"PUT|DELETE", r"/v1/patients/{\w+}/(reminder-preferences|calendar-feed)", {ADMIN, PHYSIO}),
    (r"GET", r"/v1/monitoring", CLINIC),
    (r".*", r"/v1/me\b.*", {PATIENT}),
    (r".*", r"/v1/(patients|exercises|templates|programmes|alerts)\b.*", CLINIC),
    (r"GET", r"/fhir/r4/.*", CLINIC),
]


def _admitted(method: str, path: str) -> set[str]:
    for methods, paths, who in ROLE_RULES:
        if re.fullmatch(methods, method) and re.fullmatch(paths, path):
            return who
    pytest.fail(f"{method} {path} has no rule in ROLE_RULES: say who may call it (and in docs/api.md)")


def test_each_role_gets_exactly_the_routes_it_is_meant_to(app, client, world, session):
    """Every protected route on the caller's own clinic's resources, as each kind of caller: the ones the
    rule names get past authorisation (whatever else they get), every other one gets 403 with the role
    code. The refused callers go first, so nothing has been changed or deleted when they ask."""
    resources = _resources(world.a, session)
    # The routes act on world.a.patient (signing them out among them); the patient caller is another
    # patient of the clinic, whose token no route here revokes.
    callers = {**world.a.headers, PATIENT: patient_headers(make_patient(session, world.a.clinic))}
    session.commit()
    checked = 0
    for method, path in _routes(app):
        admitted = _admitted(method, path)
        url = _fill(path, resources)
        for who in sorted((ADMIN, PHYSIO, KEY, PATIENT), key=lambda caller: caller in admitted):
            response = client.request(method, url, json={}, headers=callers[who])
            if who in admitted:
                assert response.status_code not in (401, 403), (method, path, who, response.text)
            else:
                body = assert_problem(response, 403)
                assert body["code"] in {
                    "staff_only",
                    "patient_only",
                    "role_required",
                    "clinician_required",
                }, (
                    method,
                    path,
                    who,
                )
            checked += 1
    assert checked >= 4 * 50
