"""The tenant and role matrix, generated from the app's route table so that a new route cannot skip it."""

import re
import uuid

import pytest
from sqlmodel import select

from app.models.auth import ApiKey
from tests.factories import (
    make_alert,
    make_exercise,
    make_programme,
    make_template,
    make_test_delivery,
    make_webhook_endpoint,
)
from tests.helpers import assert_problem

PUBLIC = {"/healthz", "/readyz"}
PUBLIC_PREFIXES = ("/v1/auth/", "/v1/patient-auth/")
PARAM = re.compile(r"{(\w+)}")


def _routes(app):
    """Every operation the app publishes (its OpenAPI document lists every route it serves)."""
    for path, operations in app.openapi()["paths"].items():
        if path in PUBLIC or path.startswith(PUBLIC_PREFIXES):
            continue
        for method in sorted(operations):
            yield method.upper(), path


def _resources(tenant, session) -> dict[str, str]:
    """Ids of one tenant's resources, by path parameter name. A new parameter needs an entry here."""
    key_id = session.exec(select(ApiKey.id).where(ApiKey.clinic_id == tenant.clinic.id)).first()
    session.commit()  # end the read transaction (on SQLite it holds the write lock); keeps objects loaded
    own_exercise = make_exercise(session, tenant.clinic)  # the catalogue is shared, so use a clinic's own
    endpoint = make_webhook_endpoint(session, tenant.clinic)
    delivery = make_test_delivery(session, endpoint)
    programme = make_programme(session, tenant.patient)
    template = make_template(session, tenant.clinic)
    alert = make_alert(session, tenant.patient)
    resources = {
        "patient_id": str(tenant.patient.id),
        "user_id": str(tenant.physio.id),
        "key_id": str(key_id),
        "external_id": tenant.patient.external_id,
        "id_or_slug": str(own_exercise.id),
        "endpoint_id": str(endpoint.id),
        "delivery_id": str(delivery.id),
        "programme_id": str(programme.id),
        "template_id": str(template.id),
        "number": "1",
        "alert_id": str(alert.id),
    }
    session.commit()  # after the reads above too: an open transaction holds SQLite's write lock
    return resources


def _fill(path: str, resources: dict[str, str]) -> str:
    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in resources:
            pytest.fail(f"no test resource for path parameter {{{name}}} in {path}: add one to _resources()")
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
        if not PARAM.search(path) or path.startswith("/v1/me") or "external_id" in path:
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
