import uuid

from sqlmodel import select

from app.models.audit import AuditEvent
from tests.helpers import assert_problem


def test_create_read_update_patient(client, world, unique):
    headers = world.a.headers["physio"]
    created = client.post(
        "/v1/patients",
        json={
            "display_name": "Alex",
            "external_id": f"MRN-{unique}",
            "timezone": "Pacific/Auckland",
            "locale": "es",
            "birth_year": 1980,
            "directional_preference": "extension",
            "neurodynamic_sensitivity": True,
            "red_flags_screened_at": "2026-11-01T09:00:00+13:00",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    patient = created.json()
    assert patient["timezone"] == "Pacific/Auckland" and patient["locale"] == "es"
    assert patient["red_flags_screened_at"].startswith("2026-10-31T20:00:00")

    fetched = client.get(f"/v1/patients/{patient['id']}", headers=headers)
    assert fetched.json() == patient

    patched = client.patch(f"/v1/patients/{patient['id']}", json={"startback_risk": "high"}, headers=headers)
    assert patched.status_code == 200
    assert patched.json()["startback_risk"] == "high"
    assert patched.json()["display_name"] == "Alex"  # PATCH changes only what was sent


def test_patient_list_is_paginated_and_scoped(client, world, unique):
    headers = world.a.headers["physio"]
    for i in range(5):
        client.post(
            "/v1/patients", json={"display_name": f"P{i}", "external_id": f"{unique}-{i}"}, headers=headers
        )
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/patients", params=params, headers=headers).json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 6
    assert seen == sorted(seen, key=uuid.UUID)
    assert str(world.b.patient.id) not in seen
    filtered = client.get("/v1/patients", params={"external_id": f"{unique}-3"}, headers=headers).json()
    assert [p["display_name"] for p in filtered["items"]] == ["P3"]


def test_limit_is_clamped_and_bad_cursor_is_400(client, world):
    headers = world.a.headers["physio"]
    assert client.get("/v1/patients", params={"limit": 100000}, headers=headers).status_code == 200
    assert client.get("/v1/patients", params={"limit": -3}, headers=headers).status_code == 200
    assert_problem(
        client.get("/v1/patients", params={"cursor": "!!!"}, headers=headers), 400, "invalid_cursor"
    )


def test_upsert_by_external_id_is_idempotent(client, world, unique):
    headers = world.a.headers["api_key"]
    url = f"/v1/patients/by-external-id/EHR-{unique}"
    first = client.put(
        url, json={"display_name": "Robin", "timezone": "America/Los_Angeles"}, headers=headers
    )
    assert first.status_code == 201, first.text
    again = client.put(
        url, json={"display_name": "Robin", "timezone": "America/Los_Angeles"}, headers=headers
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    changed = client.put(url, json={"display_name": "Robin Q"}, headers=headers)
    assert changed.json()["display_name"] == "Robin Q"
    assert changed.json()["timezone"] == "America/Los_Angeles"  # fields not sent are kept
    # The same external id in another clinic is another patient.
    other = client.put(url, json={"display_name": "Robin"}, headers=world.b.headers["api_key"])
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_external_id_is_unique_per_clinic(client, world):
    headers = world.a.headers["physio"]
    body = {"display_name": "Dup", "external_id": world.a.patient.external_id}
    assert_problem(client.post("/v1/patients", json=body, headers=headers), 409, "external_id_taken")
    other = client.post("/v1/patients", json={"display_name": "Dup 2"}, headers=headers).json()
    response = client.patch(
        f"/v1/patients/{other['id']}", json={"external_id": world.a.patient.external_id}, headers=headers
    )
    assert_problem(response, 409, "external_id_taken")


def test_patient_input_is_validated(client, world):
    headers = world.a.headers["physio"]
    bad = [
        {"display_name": "X", "timezone": "Mars/Olympus"},
        {"display_name": "X", "timezone": "../../etc/passwd"},
        {"display_name": "X", "locale": "english"},
        {"display_name": "X", "birth_year": 3000},
        {"display_name": "X", "directional_preference": "sideways"},
        {"display_name": "X", "red_flags_screened_at": "2026-11-01T09:00:00"},
        {"display_name": "X", "unknown_field": 1},
        {"display_name": ""},
        {},
    ]
    for body in bad:
        assert_problem(client.post("/v1/patients", json=body, headers=headers), 422, "validation_error")


def test_patient_reads_and_writes_are_audited(client, world, session):
    headers = world.a.headers["physio"]
    created = client.post("/v1/patients", json={"display_name": "Audited"}, headers=headers).json()
    client.get(f"/v1/patients/{created['id']}", headers=headers)
    client.patch(f"/v1/patients/{created['id']}", json={"locale": "es"}, headers=headers)
    client.post(f"/v1/patients/{created['id']}/enrolment-codes", headers=headers)
    actions = session.exec(
        select(AuditEvent.action)
        .where(AuditEvent.patient_id == uuid.UUID(created["id"]))
        .order_by(AuditEvent.id)
    ).all()
    session.commit()  # end the read transaction (on SQLite it holds the write lock); keeps objects loaded
    assert actions == ["patient.create", "patient.read", "patient.update", "enrolment_code.create"]

    listed = client.get(
        "/v1/audit-events", params={"patient_id": created["id"]}, headers=world.a.headers["admin"]
    )
    assert listed.status_code == 200
    events = listed.json()["items"]
    assert [e["action"] for e in events] == actions
    assert all(e["actor_id"] == str(world.a.physio.id) and e["request_id"] for e in events)
    assert_problem(client.get("/v1/audit-events", headers=headers), 403, "role_required")
